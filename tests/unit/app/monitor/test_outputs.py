"""What clients sent reaches monitor.md, monitor.html and the Slack text inert: category values
in the prediction log (HTML, Slack control sequences, pipes, newlines, Markdown) are shown as
the characters they are, and change no structure of the report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from mlgate.app.monitor.alerts import summary_text
from mlgate.app.monitor.outputs import HTML_FILE, MARKDOWN_FILE, markdown, write_reports
from mlgate.app.monitor.run import MonitorRequest, run_monitor
from mlgate.core.drift import P_VALUE_METHODS, STATISTICS
from mlgate.core.records.monitor import MonitorResult

pytestmark = pytest.mark.unit

HOSTILE = (
    "<script>alert(1)</script>",
    "<!channel> <@U123> <http://x|y> & co",
    "a | b\nc",
    "*bold* _it_ `code` [link](http://x)",
)
GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> MonitorResult:
    """The monitor's verdict on a log where half the rows send a hostile `contract`."""
    from mlgate.app.scaffold import init_demo
    from mlgate.app.train import train
    from mlgate.store.bundle import load_bundle
    from mlgate.store.demo import generate
    from mlgate.store.project import load_project

    root = tmp_path_factory.mktemp("hostile") / "demo"
    init_demo(root, rows=1200)
    config = root / "mlgate.yaml"
    config.write_text(config.read_text().replace("n_estimators: 100", "n_estimators: 10"))
    project = load_project(root)
    bundle = train(project).bundle_dir
    version = load_bundle(bundle).version
    frame = generate(800, seed=3)
    names = [c for c in frame.columns if c != "churned"]
    rows = frame[names].astype(object).where(frame[names].notna(), None).to_dict("records")
    now = time.time()
    lines = []
    for i, row in enumerate(rows):
        if i % 2:
            row["contract"] = HOSTILE[i // 2 % len(HOSTILE)]
        record = {
            "ts": now - 3600 + i,
            "request_id": f"r{i}",
            "model": "churn",
            "version": version,
            "latency_ms": 1.0,
            "instances": [row],
            "predictions": [i % 2],
            "probabilities": [[0.5, 0.5]],
        }
        lines.append(json.dumps(record))
    logs = root / "logs"
    logs.mkdir()
    (logs / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    request = MonitorRequest(
        bundle_dir=bundle, logs=(logs,), policy=project.config.monitor, since="24h", cache=False
    )
    return run_monitor(request)


def test_the_hostile_values_reach_a_finding(result: MonitorResult) -> None:
    messages = " ".join(f.message for f in result.verdict.findings)
    assert "<script>alert(1)</script>" in messages
    assert "<!channel>" in messages


def test_monitor_md_shows_them_as_text(result: MonitorResult, tmp_path: Path) -> None:
    write_reports(result, tmp_path)
    text = (tmp_path / MARKDOWN_FILE).read_text()
    tokens = GFM.parse(text)
    html = [t for t in tokens if t.type.startswith("html") and "mlgate-monitor" not in t.content]
    inline_html = [c for t in tokens for c in t.children or [] if c.type.startswith("html")]
    links = [c for t in tokens for c in t.children or [] if c.type == "link_open"]
    assert (html, inline_html, links) == ([], [], [])
    findings = result.verdict.findings
    table = text[text.index("| severity |") :].split("\n\n")[0].splitlines()
    assert len(table) == 2 + len(findings)  # no value made a row of its own
    rows = [t for t in tokens if t.type == "tr_open"]
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) >= 3 * (len(findings))
    assert len(rows) >= len(findings) + 1
    rendered = GFM.render(text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
    assert "<script" not in rendered
    assert "<strong>bold" not in rendered
    # The pipe as text in its cell; the verdict quotes the value, its newline as `\n`.
    assert "'a | b\\nc'" in rendered


def test_monitor_html_escapes_them(result: MonitorResult, tmp_path: Path) -> None:
    write_reports(result, tmp_path)
    html = (tmp_path / HTML_FILE).read_text()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;!channel&gt;" in html


def test_the_slack_text_mentions_and_links_nothing(result: MonitorResult) -> None:
    text = summary_text(result)
    lines = text.splitlines()
    assert len(lines) == 1 + len(result.verdict.alerts)
    for line in lines[1:]:
        assert line.startswith("• `")
        assert line.endswith("`")
        assert line.count("`") == 2  # one code span: nothing inside it formats
    assert "<" not in text
    assert ">" not in text
    assert "&lt;!channel&gt; &lt;@U123&gt; &lt;http://x|y&gt; &amp; co" in text


def test_monitor_md_names_each_statistic_beside_its_threshold(result: MonitorResult) -> None:
    """The Markdown drift table has the columns of the HTML and terminal tables: the statistic
    by name, its value, and when it means drift."""
    text = markdown(result)
    head = "| feature | statistic | value | drift when | drift | missing |"
    assert head in text
    rows = text[text.index(head) :].split("\n\n")[0].splitlines()[2:]
    checked = {f.name: f.drift for f in result.observations.features if f.drift.checked}
    assert len(rows) == len(checked) > 0
    for row in rows:
        name, stat, _, rule, *_ = (cell.strip() for cell in row.strip("|").split(" | "))
        drift = checked[name]
        assert stat == STATISTICS[str(drift.method)]
        sign = "&lt;" if drift.method in P_VALUE_METHODS else "≥"
        assert rule == f"{sign} {drift.threshold:g}"
