"""The registry records what it gated: a registered version's artifacts replaced afterwards
by another valid bundle (sums that verify, a 2-tree forest) are refused wherever mlgate fetches
a registered bundle — `mlgate serve models:/...` (a real process), the download `mlgate deploy`
resolves its candidate with, and the champion the gate compares with — naming both digests.

Against the embedded SQLite registry, and against the MLflow tracking server when
MLGATE_TEST_TRACKING_URI names one (`scripts/with-mlflow.sh`). The swap goes through MLflow's
own artifact store, as anyone with write access to it could do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlgate import cli
from mlgate.adapters.mlflow import TRACKING_URI_ENV, open_registry
from mlgate.adapters.mlflow.integrity import ALLOW_UNRECORDED_ENV, DIGEST_TAG
from mlgate.app.champion import champion_for_gate
from mlgate.app.rollout.sources import resolve
from mlgate.app.scaffold import init_demo
from mlgate.errors import BundleError
from mlgate.store.bundle import load_bundle

pytestmark = [
    pytest.mark.integration,
    # SQLAlchemy 2.1 deprecates a loader strategy MLflow's store still configures at import.
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
    ),
]

SERVER_ENV = "MLGATE_TEST_TRACKING_URI"
CHEAP = (("n_estimators: 100", "n_estimators: 20"), ("n_jobs: -1", "n_jobs: 1"))


@dataclass(frozen=True)
class Swapped:
    """A project whose champion v1's registry artifacts were replaced by another bundle."""

    root: Path
    name: str
    tracking_uri: str | None
    registered: str
    swapped: str

    @property
    def config(self) -> str:
        return str(self.root / "mlgate.yaml")

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != TRACKING_URI_ENV}
        if self.tracking_uri is not None:
            env[TRACKING_URI_ENV] = self.tracking_uri
        return env


def _demo(root: Path, name: str, extra: tuple[tuple[str, str], ...] = ()) -> Path:
    init_demo(root, rows=1500)
    path = root / "mlgate.yaml"
    text = path.read_text().replace("name: churn\n", f"name: {name}\n")
    for old, new in (*CHEAP, *extra):
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    return root


def _main(*args: str) -> int:
    return cli.main(list(args))


@pytest.fixture(scope="module", params=["sqlite", "server"])
def swapped(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Swapped]:
    """Register and promote a gated bundle, then put another valid bundle in its place."""
    tracking_uri: str | None = None
    if request.param == "server":
        tracking_uri = os.environ.get(SERVER_ENV)
        if not tracking_uri:
            pytest.skip(f"{SERVER_ENV} is not set: run under scripts/with-mlflow.sh for this case")
    base = tmp_path_factory.mktemp(f"swap-{request.param}")
    name = f"churn-{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as mp:
        if tracking_uri is None:
            mp.delenv(TRACKING_URI_ENV, raising=False)
        else:
            mp.setenv(TRACKING_URI_ENV, tracking_uri)
        root = _demo(base / "demo", name)
        assert _main("run", "--config", str(root)) == 0
        assert _main("promote", "--config", str(root)) == 0
        registry = open_registry(root)
        info = registry.get_alias(name, "champion")
        assert info is not None
        assert info.run_id
        registered = info.tags[DIGEST_TAG]
        # Before the swap the registered bundle downloads and matches its record.
        good = registry.download(name, info.version, base / "before")
        assert load_bundle(good).sums_digest == registered

        # The attacker's bundle: the same model name, 2 trees, gated on its own (same files).
        other = _demo(base / "other", name, (("n_estimators: 20", "n_estimators: 2"),))
        assert _main("train", "--config", str(other)) == 0
        assert _main("gate", "--no-registry", "--config", str(other)) in (0, 1)
        bundle = load_bundle(other / "models" / "model")
        assert bundle.sums_digest != registered

        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=registry.tracking_uri)
        client.log_artifacts(info.run_id, str(bundle.path), artifact_path="model")
        # What MLflow now hands out is the other bundle, and it verifies on its own.
        check = Path(client.download_artifacts(info.run_id, "model", str(base / "check")))
        assert load_bundle(check).sums_digest == bundle.sums_digest
        yield Swapped(root, name, tracking_uri, registered, bundle.sums_digest)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`mlgate ARGS` as a real process in a process group of its own: were the bundle accepted, the
    server (or the release's variant) it starts is stopped with it, by its process group."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlgate", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,
    )
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"mlgate {args[0]} still ran after 180 s: {err[-2000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _both_digests(text: str, s: Swapped) -> None:
    assert f"registered {s.registered}" in text, text
    assert f"downloaded {s.swapped}" in text, text


def test_serve_refuses_the_swapped_bundle(swapped: Swapped, tmp_path: Path) -> None:
    proc = _run(
        ["serve", f"models:/{swapped.name}@champion", "--port", "0", "--config", swapped.config],
        {**swapped.environ(), "TMPDIR": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr
    _both_digests(proc.stderr, swapped)
    assert "artifacts were replaced after registration" in proc.stderr
    # The refused copy is gone with the server's temporary directory.
    assert not list(tmp_path.glob("mlgate-serve-*"))


def _use_registry_of(swapped: Swapped, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's environment points at the swapped project's registry."""
    for key, value in swapped.environ().items():
        monkeypatch.setenv(key, value)
    if swapped.tracking_uri is None:
        monkeypatch.delenv(TRACKING_URI_ENV, raising=False)


def test_the_deploy_download_refuses_it_and_keeps_no_copy(
    swapped: Swapped, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_registry_of(swapped, monkeypatch)
    registry = open_registry(swapped.root)
    for _ in range(2):  # a second release finds no cached copy to start instead
        with pytest.raises(BundleError) as caught:
            resolve(
                f"models:/{swapped.name}@champion",
                registry=registry,
                model=swapped.name,
                workdir=tmp_path,
                engine="process",
            )
        _both_digests(str(caught.value), swapped)
        assert not (tmp_path / "bundles" / swapped.name / "v1").exists()


def test_mlgate_deploy_refuses_it(swapped: Swapped, tmp_path: Path) -> None:
    state = tmp_path / "release"
    try:
        proc = _run(
            ["deploy", "--target", "local", "--strategy", "direct",
             "--candidate", f"models:/{swapped.name}/1", "--engine", "process",
             "--state-dir", str(state), "--config", swapped.config],
            swapped.environ(),
        )  # fmt: skip
    finally:
        if (state / "release.json").exists():  # it started a server: stop what it released
            _run(["canary", "stop", "--state-dir", str(state)], swapped.environ())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    _both_digests(proc.stderr, swapped)


def test_the_gate_refuses_the_swapped_champion(
    swapped: Swapped, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_registry_of(swapped, monkeypatch)
    with pytest.raises(BundleError) as caught:
        champion_for_gate(open_registry(swapped.root), swapped.name, tmp_path)
    _both_digests(str(caught.value), swapped)
    assert not list(tmp_path.iterdir())


def test_a_version_without_a_record_is_refused_unless_allowed(
    swapped: Swapped, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_registry_of(swapped, monkeypatch)
    from mlflow.tracking import MlflowClient

    registry = open_registry(swapped.root)
    client = MlflowClient(tracking_uri=registry.tracking_uri)
    # As a version registered by an mlgate that recorded no digest.
    client.delete_model_version_tag(swapped.name, "1", DIGEST_TAG)
    try:
        with pytest.raises(BundleError, match="has no recorded bundle digest") as caught:
            registry.download(swapped.name, 1, tmp_path / "strict")
        assert ALLOW_UNRECORDED_ENV in str(caught.value)
        assert not (tmp_path / "strict" / "v1").exists()
        # Explicitly allowed: accepted, with a warning (nothing can vouch for the copy).
        lenient = open_registry(swapped.root, allow_unrecorded=True)
        got = lenient.download(swapped.name, 1, tmp_path / "lenient")
        assert load_bundle(got).sums_digest == swapped.swapped
        monkeypatch.setenv(ALLOW_UNRECORDED_ENV, "1")
        assert registry.download(swapped.name, 1, tmp_path / "env").is_dir()
    finally:
        client.set_model_version_tag(swapped.name, "1", DIGEST_TAG, swapped.registered)
