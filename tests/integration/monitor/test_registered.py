"""The monitor's reports name the registry version of the bundle judged: a registered and
promoted bundle is `churn v1 (champion, challenger)` beside its bundle hash in the HTML header
(rendered by headless Chromium), the Markdown, the terminal and monitor.json, however it was
named (the project's bundle, a directory, `models:/NAME@ALIAS`); a bundle no version records is
its hash alone, and a project without a registry gets none created by asking."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from mlgate.cli import main
from mlgate.core.escape import md_text
from mlgate.store.bundle import load_bundle
from tests.integration.monitor.conftest import Project
from tests.integration.monitor.test_monitor_offline import _chromium, write_log

pytestmark = pytest.mark.integration


def _words(text: str) -> str:
    """`text` with its whitespace (a terminal's wrapping included) folded into single spaces."""
    return " ".join(text.split())


def _h1(page: str) -> str:
    """The text of the report's heading."""
    (inner,) = re.findall(r"<h1[^>]*>(.*?)</h1>", page, flags=re.S)
    return _words(html_lib.unescape(re.sub(r"<[^>]+>", " ", inner)))


def _monitor(
    project: Project, logs: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[dict[str, Any], str, str]:
    """Monitor `logs`; monitor.json, the Markdown's heading and the terminal's output."""
    capsys.readouterr()
    code = main(["monitor", str(logs), "-c", str(project.root), "--out", str(out), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    heading = (out / "monitor.md").read_text().splitlines()[1]
    return json.loads((out / "monitor.json").read_text()), heading, _words(captured.out)


def test_a_promoted_bundle_is_named_by_its_version_and_aliases(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "-c", str(project.root)]) == 0  # registers v1, the challenger
    assert main(["promote", "-c", str(project.root), "--reason", "first release"]) == 0
    bundle = load_bundle(project.bundle).version
    logs = tmp_path / "logs"
    write_log(project, logs, drift=False, rows=400)

    named = f"churn v1 (champion, challenger) bundle {bundle}"
    report, heading, terminal = _monitor(project, logs, tmp_path / "out", capsys)
    assert report["registered"] == {
        "name": "churn",
        "version": 1,
        "aliases": ["champion", "challenger"],
    }
    assert heading.startswith(
        f"## mlgate monitor: churn v1 (champion, challenger) · bundle `{bundle}` — "
    )
    assert terminal.startswith(f"{named}: 400 rows")
    dom = _chromium(tmp_path / "out" / "monitor.html", tmp_path, tmp_path / "monitor.png")
    assert _h1(dom) == f"{named} healthy"

    # The same bundle named as a directory, or by its alias in the registry.
    copy = tmp_path / "copy"
    shutil.copytree(project.bundle, copy)
    for source in (str(copy), "models:/churn@champion", "@champion"):
        out = tmp_path / f"out-{len(source)}"
        report, _, terminal = _monitor(project, logs, out, capsys, "--bundle", source)
        assert report["registered"] == {
            "name": "churn",
            "version": 1,
            "aliases": ["champion", "challenger"],
        }, source
        assert terminal.startswith(f"{named}: 400 rows"), source
        assert _h1((out / "monitor.html").read_text()) == f"{named} healthy", source

    # The project's bundle moves on (another split): no version records it.
    config = project.root / "mlgate.yaml"
    config.write_text(config.read_text().replace("seed: 42", "seed: 43"))
    assert main(["train", "-c", str(project.root)]) == 0
    retrained = load_bundle(project.bundle).version
    assert retrained != bundle
    write_log(project, tmp_path / "logs-2", drift=False, rows=400)
    report, heading, terminal = _monitor(project, tmp_path / "logs-2", tmp_path / "out-2", capsys)
    assert report["registered"] is None
    assert heading.startswith(f"## mlgate monitor: churn bundle `{retrained}` — ")
    assert terminal.startswith(f"churn bundle {retrained}: 400 rows")
    page = (tmp_path / "out-2" / "monitor.html").read_text()
    assert _h1(page) == f"churn bundle {retrained} healthy"


def test_a_project_without_a_registry_gets_none_made_by_the_monitor(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = load_bundle(project.bundle).version
    write_log(project, tmp_path / "logs", drift=False, rows=400)
    report, heading, terminal = _monitor(project, tmp_path / "logs", tmp_path / "out", capsys)
    assert report["registered"] is None
    assert heading.startswith(f"## mlgate monitor: churn bundle `{bundle}` — ")
    assert terminal.startswith(f"churn bundle {bundle}: 400 rows")
    assert _h1((tmp_path / "out" / "monitor.html").read_text()) == f"churn bundle {bundle} healthy"
    assert not (project.root / "mlruns").exists()

    # Naming a registered version there is refused, and still creates nothing.
    capsys.readouterr()
    code = main(["monitor", str(tmp_path / "logs"), "-c", str(project.root), "--out",
                 str(tmp_path / "out-uri"), "--bundle", "@champion"])  # fmt: skip
    assert code == 2
    assert "does not exist yet" in capsys.readouterr().err
    assert not (project.root / "mlruns").exists()


def test_a_registry_server_that_does_not_answer_leaves_the_bundle_unnamed(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The verdict does not wait on the registry: the reports say why no version is named."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    bundle = load_bundle(project.bundle).version
    write_log(project, tmp_path / "logs", drift=False, rows=400)
    report, heading, terminal = _monitor(project, tmp_path / "logs", tmp_path / "out", capsys)
    assert report["registered"] is None
    assert heading.startswith(f"## mlgate monitor: churn bundle `{bundle}` — ")
    (note,) = [n for n in report["notes"] if "registry" in n]
    assert note.startswith("the registry version of the bundle is unknown: ")
    assert f"127.0.0.1:{port}" in note
    assert f"note: {note}" in terminal
    assert html_lib.escape(note) in (tmp_path / "out" / "monitor.html").read_text()
    assert f"- {md_text(note)}" in (tmp_path / "out" / "monitor.md").read_text()
