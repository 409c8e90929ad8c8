"""The registry under stress and failure: racing registrations from two processes, an
unreachable server, a bundle that did not pass its gate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlgate.adapters.mlflow import CHALLENGER, TRACKING_URI_ENV, RunContext
from mlgate.app import pipeline
from mlgate.errors import GateFailed
from mlgate.store.project import load_project
from tests.integration.registry.conftest import Cli, Env

pytestmark = [
    pytest.mark.integration,
    # SQLAlchemy 2.1 deprecates a loader strategy MLflow's store still configures at import.
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
    ),
]

RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import mlflow.tracking  # pay the import before the start line, so the race is real
    from mlgate.adapters.mlflow import RunContext, open_registry
    from mlgate.core.records.gate import GateReport

    root, ready, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    registry = open_registry(root)
    bundle = root / "models" / "model"
    gate = GateReport.loads((bundle / "gate.json").read_text())
    ready.touch()
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("no start signal")
        time.sleep(0.005)
    for _ in range(2):
        info = registry.register(bundle, gate, RunContext("racer", "race test"))
        print(info.version, flush=True)
    """
)


def _wait_for(paths: list[Path], procs: list[subprocess.Popen[str]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not all(p.exists() for p in paths):
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"racer exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("racers did not get ready in time")
        time.sleep(0.05)


def test_racing_registrations_leave_the_registry_consistent(env: Env, tmp_path: Path) -> None:
    # Start from no database at all: the racers also race to create the schema.
    shutil.rmtree(env.root / "mlruns", ignore_errors=True)
    result = pipeline.run(load_project(env.root))
    assert result.passed
    go = tmp_path / "go"
    ready = [tmp_path / "ready-a", tmp_path / "ready-b"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(env.root), str(r), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for r in ready
    ]
    try:
        _wait_for(ready, procs, 120)
        go.touch()
        outputs = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    got = sorted(int(line) for out, _ in outputs for line in out.split())
    assert got == [1, 2, 3, 4]

    registry = env.registry()
    versions = registry.list_versions(env.name)
    assert [v.version for v in versions] == [4, 3, 2, 1]
    challenger = registry.get_alias(env.name, CHALLENGER)
    assert challenger is not None
    assert challenger.version in got
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=registry.tracking_uri)
    for v in versions:
        assert v.run_id
        assert client.get_run(v.run_id).info.status == "FINISHED"
        # Every version's bundle is complete and verifies.
        registry.download(env.name, v.version, tmp_path / "dl")


def test_a_bundle_that_failed_its_gate_is_not_registered(env: Env) -> None:
    project = load_project(env.root)
    run = pipeline.run(project)
    assert run.passed
    assert run.gate is not None
    failed = run.gate.model_copy(update={"passed": False})
    registry = env.registry()
    with pytest.raises(GateFailed, match="refusing to register"):
        registry.register(project.bundle_dir, failed, RunContext("t", "test"))
    assert registry.champion(env.name) is None
    from mlgate.errors import UsageError

    with pytest.raises(UsageError, match="not in the registry"):
        registry.list_versions(env.name)


@pytest.fixture
def dead_registry(
    registry_demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A demo project pointed at a port nothing listens on."""
    root = tmp_path / "demo"
    shutil.copytree(registry_demo_template, root)
    shutil.rmtree(root / "mlruns")
    monkeypatch.setenv(TRACKING_URI_ENV, "http://127.0.0.1:1")
    return root


def test_unreachable_registry_is_exit_3_naming_the_uri_and_writes_nothing(
    dead_registry: Path, mlgate: Cli
) -> None:
    config = str(dead_registry / "mlgate.yaml")
    t0 = time.monotonic()
    res = mlgate("run", "--config", config)
    assert res.code == 3, res.err
    assert "http://127.0.0.1:1" in res.err
    # Checked before any stage ran: no bundle, no reports, no local registry files.
    for leftover in ("models", "reports", "mlruns", "metrics.json"):
        assert not (dead_registry / leftover).exists(), leftover
    for args in (("promote",), ("rollback",), ("models",)):
        res = mlgate(*args, "--config", config)
        assert res.code == 3, (args, res.err)
        assert "http://127.0.0.1:1" in res.err
    # A gated bundle that cannot be registered stays as it was.
    os.environ.pop(TRACKING_URI_ENV)
    assert pipeline.run(load_project(dead_registry)).passed
    os.environ[TRACKING_URI_ENV] = "http://127.0.0.1:1"
    res = mlgate("register", "--config", config)
    assert res.code == 3
    assert "http://127.0.0.1:1" in res.err
    assert not (dead_registry / "mlruns").exists()
    # Fails fast instead of MLflow's minutes of retries (reported, not asserted on time).
    sys.stderr.write(f"unreachable-registry checks took {time.monotonic() - t0:.1f}s\n")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_version_out_of_range_is_exit_2_naming_it(env: Env, mlgate: Cli) -> None:
    assert mlgate("run", "--config", env.config).code == 0
    for version in ("99999999999999999999", "2147483648", "-1", "abc"):
        res = mlgate("serve", f"models:/{env.name}/{version}", "--config", env.config)
        assert res.code == 2, (version, res.err)
        assert f"models:/{env.name}/{version}: version" in res.err
    # A version given as a number is checked before MLflow sees it (its column is 32-bit).
    res = mlgate("promote", "99999999999999999999", "--config", env.config)
    assert res.code == 2, res.err
    assert "version 99999999999999999999 is out of range" in res.err
