"""One run at a time, and each run registers what it gated: two `mlgate run` at once both
finish and every version's metrics match its own bundle re-evaluated; a run SIGKILLed at any of
five points leaves nothing the next run trips over, and no registry run stays RUNNING."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.conftest import cli_argv, edit, mlgate, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def start_run(project: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_argv("run", *args),
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def holds_lock(project: Path, pid: int) -> bool:
    owner = project / "models" / ".mlgate.lock.owner"
    return owner.is_file() and f"pid {pid} " in owner.read_text()


def registry_runs(project: Path) -> list[tuple[str, str]]:
    """(run id, status) of every run in the project's embedded registry, deleted ones too."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{project / 'mlruns' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name("churn")
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
    return [(r.info.run_id, r.info.status) for r in runs]


def debris(project: Path) -> list[str]:
    """What a killed run could leave: staging and scratch copies, temporary files."""
    found = []
    for directory in (project, project / "models", project / "reports"):
        if directory.is_dir():
            found += [
                p.name
                for p in directory.iterdir()
                if ".staging-" in p.name or "scratch" in p.name or p.name.endswith(".tmp")
            ]
    return found


def test_two_runs_at_once_both_finish_and_register_what_they_gated(
    project: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    first = start_run(project, env, "--json")
    wait_until(lambda: holds_lock(project, first.pid), 120, "the first run to hold the lock")
    # The second run trains another model (25 trees instead of 12) from the same checkout.
    edit(project, "n_estimators: 12", "n_estimators: 25")
    second = start_run(project, env, "--json")
    refused = mlgate("run", "--no-wait", cwd=project, env=env)
    assert refused.code == 3, refused.err
    assert "project is locked by mlgate run" in refused.err
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "waiting for mlgate run" in err2
    registered = [json.loads(out)["registered"]["version"] for out in (out1, out2)]
    assert sorted(registered) == [1, 2]

    # Re-evaluate every registered version's own bundle on the holdout it was gated on.
    from mlgate.adapters.mlflow import open_registry
    from mlgate.core.metrics import compute_metrics
    from mlgate.model.features import to_frame
    from mlgate.model.train import predict_all, split_data
    from mlgate.store.bundle import load_bundle
    from mlgate.store.project import load_project
    from mlgate.store.tables import load_table

    project_obj = load_project(project)
    registry = open_registry(project_obj)
    frame = load_table(project_obj.data_path)
    trees = set()
    for info in registry.list_versions("churn"):
        b = load_bundle(registry.download("churn", info.version, tmp_path / "check"))
        split = split_data(project_obj.config, b.meta.task, frame, b.schema.features)
        assert split.fingerprint == b.meta.data.holdout_fingerprint
        model = b.load_model()
        pred, proba = predict_all(model, to_frame(frame.loc[split.x_test.index], b.schema.features))
        metrics = compute_metrics(b.meta.task, split.y_test, pred, proba, b.meta.classes)
        assert metrics == pytest.approx(info.metrics, rel=1e-12, abs=1e-12), info.version
        assert b.meta.metrics == pytest.approx(info.metrics, rel=1e-12, abs=1e-12)
        trees.add(b.meta.params["n_estimators"])
    assert trees == {12, 25}  # two different models, each registered with its own numbers
    listing = mlgate("models", cwd=project, env=env)
    assert "(no alias)" in listing.out  # v1: the challenger alias moved on to v2


def _newer(path: Path, t0: float) -> bool:
    return path.exists() and path.stat().st_mtime > t0


POINTS: dict[str, Callable[[Path, int, float], bool]] = {
    # The run holds the project lock and validates the data.
    "validate": lambda p, pid, t0: holds_lock(p, pid),
    # The data gate wrote its report: training is under way.
    "fit": lambda p, pid, t0: _newer(p / "reports" / "validation.json", t0),
    # The bundle is being written in its staging directory.
    "bundle write": lambda p, pid, t0: any((p / "models").glob(".model.staging-*")),
    # The new bundle is in place: the gate evaluates it.
    "gate": lambda p, pid, t0: _newer(p / "models" / "model" / "mlgate.json", t0),
    # The registry received artifacts: registration is under way.
    "register": lambda p, pid, t0: any((p / "mlruns" / "artifacts").glob("*/artifacts/*")),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_a_run_killed_at_any_point_leaves_nothing_behind(
    project: Path, env: dict[str, str], point: str
) -> None:
    condition = POINTS[point]
    t0 = time.time() - 1
    victim = start_run(project, env)
    try:
        wait_until(
            lambda: condition(project, victim.pid, t0) or victim.poll() is not None,
            300,
            f"the run to reach {point}",
        )
        assert victim.poll() is None, f"the run finished before reaching {point}"
        os.kill(victim.pid, signal.SIGKILL)
    finally:
        if victim.poll() is None:
            victim.kill()
        victim.communicate(timeout=60)  # reaps it and closes its pipes
    assert victim.returncode == -signal.SIGKILL

    after = mlgate("run", "--json", cwd=project, env=env)
    assert after.code == 0, after.err
    result = json.loads(after.out)
    assert result["passed"]
    assert debris(project) == []
    statuses = registry_runs(project)
    assert all(status != "RUNNING" for _, status in statuses), statuses
    # Every version the registry holds is complete: its bundle downloads and verifies.
    from mlgate.adapters.mlflow import open_registry

    registry = open_registry(project)
    versions = registry.list_versions("churn")
    assert versions
    for info in versions:
        registry.download("churn", info.version, project.parent / "check")
    if point == "register":
        assert any(s == "FAILED" for _, s in statuses)  # the dead registration, marked


def test_register_refuses_a_bundle_changed_after_its_gate(
    project: Path, env: dict[str, str]
) -> None:
    from mlgate.store.bundle import seal

    gated = mlgate("run", "--no-register", cwd=project, env=env)
    assert gated.code == 0, gated.err
    bundle = project / "models" / "model"
    (bundle / "profile.json").write_text("{}")  # another writer, after the gate
    seal(bundle)  # consistent sums: only the gate's recorded digest tells
    done = mlgate("register", cwd=project, env=env)
    assert done.code == 2, done.err
    assert "not the bundle its gate judged" in done.err
    assert registry_runs(project) == []
