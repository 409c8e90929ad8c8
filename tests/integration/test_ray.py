"""`compute.engine: ray` against a real Ray cluster (a head with two worker slots, in a network
namespace of its own: tests/raycluster.py).

- The demo run on Ray: the same metrics and the same holdout predictions, to the bit, as the
  same run locally; its Ray job is in the cluster's job list, SUCCEEDED, with the id mlgate.json
  records.
- A 12-trial search: every trial a task of that job on the cluster (not the driver's process),
  the same trial table as locally, the gate judging the winner; poisoned holdout rows leave
  every trial's score as it was.
- A worker SIGKILLed mid-search: Ray reruns its trial and the run ends with a verdict; with
  `compute.retries: 0` the run is exit 3 naming the node, and nothing is registered.
- SIGTERM to the run cancels its tasks on the cluster; nothing is registered.
- A cluster that does not answer: exit 3 before any work, nothing written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlgate.app.scaffold import init_demo
from mlgate.store.bundle import load_bundle
from mlgate.store.project import load_project
from mlgate.store.trust import project_trust
from tests import raycluster
from tests.integration.test_search import (
    _copy,
    _edit,
    _holdout_index,
    _meta,
    _poison_holdout,
    _searching,
)

# One worker holds the cluster and the runs the tests share (xdist: --dist loadgroup).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("ray")]

ROWS = 1200
MLGATE = str(raycluster.BIN / "mlgate")
# The registry of each project is its own embedded SQLite file: a tracking server on the host's
# loopback is not reachable from the cluster's namespace.
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_"))}


@pytest.fixture(scope="module")
def cluster() -> Iterator[raycluster.RayCluster]:
    why = raycluster.unavailable()
    if why is not None:
        pytest.skip(why)
    started = raycluster.start(cpus=2)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raydemo") / "template"
    init_demo(root, rows=ROWS)
    return root


def _registered(root: Path) -> int:
    database = root / "mlruns" / "mlflow.db"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        count: int = db.execute("select count(*) from model_versions").fetchone()[0]
    return count


def _on_ray(cluster: raycluster.RayCluster, root: Path, *args: str) -> Any:
    return cluster.run(
        MLGATE, "run", "--config", str(root), "--compute", "ray", "--address", cluster.address,
        *args, env=ENV,
    )  # fmt: skip


def _holdout_outputs(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The bundle's predictions and probabilities on its own holdout rows."""
    project = load_project(root)
    bundle = load_bundle(project.bundle_dir, trust=project_trust(project))
    frame = pd.read_csv(root / "data" / "churn.csv").loc[_holdout_index(root)]
    features = frame[list(bundle.meta.features)]
    model = bundle.load_model()
    return np.asarray(model.predict(features)), np.asarray(model.predict_proba(features))


@pytest.fixture(scope="module")
def pair(
    cluster: raycluster.RayCluster, template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, Any]:
    """The demo run locally and on the cluster."""
    base = tmp_path_factory.mktemp("pair")
    local, remote = _copy(template, base / "local"), _copy(template, base / "ray")
    for root in (local, remote):
        _edit(root, "    n_estimators: 100\n", "    n_estimators: 20\n")
    here = cluster.run(MLGATE, "run", "--config", str(local), env=ENV)
    assert here.returncode == 0, here.stderr
    there = _on_ray(cluster, remote)
    assert there.returncode == 0, there.stderr + there.stdout
    return local, remote, there


def test_the_demo_on_ray_is_the_local_run_to_the_bit(pair: tuple[Path, Path, Any]) -> None:
    local, remote, _ = pair
    here, there = _meta(local), _meta(remote)
    assert there["metrics"] == here["metrics"]
    assert there["config_hash"] == here["config_hash"]
    assert there["data"] == here["data"]
    assert here.get("compute") is None
    assert there["compute"]["engine"] == "ray"
    assert there["compute"]["tasks"] == 1  # the fit, one task
    for a, b in zip(_holdout_outputs(local), _holdout_outputs(remote), strict=True):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b)  # every prediction and probability, bit for bit
    assert (local / "models" / "model" / "gate.json").exists()
    assert _registered(remote) == 1


def test_the_run_is_a_job_of_the_cluster_that_succeeded(
    cluster: raycluster.RayCluster, pair: tuple[Path, Path, Any]
) -> None:
    _, remote, there = pair
    record = _meta(remote)["compute"]
    jobs = {j["job_id"]: j for j in cluster.state("jobs")}
    job = jobs[record["job_id"]]
    assert job["status"] == "SUCCEEDED"
    assert f"--config {remote}" in job["entrypoint"]
    fits = cluster.state("tasks", job_id=record["job_id"], name="mlgate-fit")
    assert [t["state"] for t in fits] == ["FINISHED"]
    assert fits[0]["node_id"] in record["nodes"]
    assert f"fitting on the Ray cluster at {cluster.address} (job {record['job_id']})" in (
        there.stdout + there.stderr
    )


@pytest.fixture(scope="module")
def searched(
    cluster: raycluster.RayCluster, template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """A 12-trial search (n_jobs 1 locally: one trial at a time), locally and on the cluster."""
    base = tmp_path_factory.mktemp("searched")
    local, remote = _copy(template, base / "local"), _copy(template, base / "ray")
    for root in (local, remote):
        _searching(root)
        _edit(root, "    n_jobs: 2\n", "    n_jobs: 1\n")
    here = cluster.run(MLGATE, "train", "--config", str(local), env=ENV)
    assert here.returncode == 0, here.stderr
    there = _on_ray(cluster, remote)
    assert there.returncode == 0, there.stderr + there.stdout
    return local, remote


def test_every_trial_ran_on_the_cluster_and_scored_as_locally(
    cluster: raycluster.RayCluster, searched: tuple[Path, Path]
) -> None:
    local, remote = searched
    here, there = _meta(local), _meta(remote)
    assert there["search"] == here["search"]  # every fold score of every trial
    assert len(there["search"]["trials"]) == 12
    assert there["metrics"] == here["metrics"]
    record = there["compute"]
    assert record["tasks"] == 13  # twelve trials and the fit
    tasks = cluster.state("tasks", job_id=record["job_id"])
    trials = [t for t in tasks if t["name"].startswith("mlgate-trial-")]
    assert sorted(t["name"] for t in trials) == sorted(f"mlgate-trial-{i}" for i in range(1, 13))
    assert {t["state"] for t in trials} == {"FINISHED"}
    assert {t["node_id"] for t in trials} <= set(record["nodes"])
    job = {j["job_id"]: j for j in cluster.state("jobs")}[record["job_id"]]
    driver = job["driver_info"]
    assert all(f"pid='{t['worker_pid']}'" not in driver for t in trials)  # not the driver
    won = there["search"]["trials"][there["search"]["winner"]]["params"]
    assert {k: there["params"][k] for k in won} == won  # the winner was fitted
    gate = json.loads((remote / "reports" / "gate.json").read_text())
    assert gate["challenger"]["roc_auc"] == there["metrics"]["roc_auc"]  # and gated


def test_no_trial_on_the_cluster_sees_the_holdout(
    cluster: raycluster.RayCluster, searched: tuple[Path, Path], tmp_path: Path
) -> None:
    _, remote = searched
    root = _copy(remote, tmp_path / "poisoned")
    shutil.rmtree(root / "models")
    shutil.rmtree(root / "mlruns", ignore_errors=True)
    _poison_holdout(root)
    done = cluster.run(
        MLGATE, "train", "--config", str(root), "--compute", "ray", "--address", cluster.address,
        env=ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    clean, poisoned = _meta(remote), _meta(root)
    assert poisoned["metrics"]["roc_auc"] != clean["metrics"]["roc_auc"]  # the holdout changed
    assert poisoned["search"] == clean["search"]  # no trial's score did


def _slow_search(root: Path, retries: int) -> None:
    """Twelve trials of a few seconds each, two at a time, `retries` reruns of a lost one."""
    _searching(root)
    _edit(root, "    n_estimators: 10\n", "    n_estimators: 300\n")
    with (root / "mlgate.yaml").open("a") as f:
        f.write(f"\ncompute:\n  engine: ray\n  retries: {retries}\n")


def _running_trial(cluster: raycluster.RayCluster, deadline: float = 120.0) -> dict[str, Any]:
    """A trial task of the cluster's live job that is running now, with its worker's PID."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        running = [
            t
            for t in cluster.state("tasks", state="RUNNING")
            if t["name"].startswith("mlgate-trial-") and t.get("worker_pid")
        ]
        if running:
            return running[0]
        time.sleep(0.5)
    raise AssertionError("no trial started running on the cluster")


def _kill_a_worker(cluster: raycluster.RayCluster, root: Path) -> tuple[Any, dict[str, Any]]:
    run = cluster.popen(MLGATE, "run", "--config", str(root), "--address", cluster.address, env=ENV)
    trial = _running_trial(cluster)
    os.kill(int(trial["worker_pid"]), signal.SIGKILL)
    out, err = run.communicate(timeout=600)
    return (run.returncode, out + err), trial


def test_a_worker_killed_mid_search_is_rerun_and_the_run_ends_with_a_verdict(
    cluster: raycluster.RayCluster, template: Path, tmp_path: Path
) -> None:
    root = _copy(template, tmp_path / "killed")
    _slow_search(root, retries=2)
    (code, output), trial = _kill_a_worker(cluster, root)
    assert code == 0, output
    record = _meta(root)["compute"]
    attempts = cluster.state("tasks", job_id=record["job_id"], name=trial["name"])
    assert {a["state"] for a in attempts} >= {"FAILED", "FINISHED"}  # killed, then rerun
    assert len(_meta(root)["search"]["trials"]) == 12
    assert _registered(root) == 1


def test_a_lost_trial_without_retries_is_exit_3_naming_the_node_and_nothing_registered(
    cluster: raycluster.RayCluster, template: Path, tmp_path: Path
) -> None:
    root = _copy(template, tmp_path / "lost")
    _slow_search(root, retries=0)
    (code, output), trial = _kill_a_worker(cluster, root)
    assert code == 3, output
    assert f"the Ray cluster lost a task (node {trial['node_id']}" in output, output[-3000:]
    assert "Traceback" not in output
    assert not (root / "models" / "model").exists()
    assert _registered(root) == 0


def test_sigterm_cancels_the_runs_tasks_and_registers_nothing(
    cluster: raycluster.RayCluster, template: Path, tmp_path: Path
) -> None:
    root = _copy(template, tmp_path / "terminated")
    _slow_search(root, retries=2)
    run = cluster.popen(MLGATE, "run", "--config", str(root), "--address", cluster.address, env=ENV)
    trial = _running_trial(cluster)
    run.send_signal(signal.SIGTERM)
    _out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    job = trial["job_id"]
    end = time.monotonic() + 60
    while True:  # the cancelled tasks end (their workers killed), none left running
        live = [
            t
            for t in cluster.state("tasks", job_id=job)
            if t["state"] not in ("FINISHED", "FAILED")
        ]
        if not live or time.monotonic() > end:
            break
        time.sleep(1)
    assert live == []
    assert not (root / "models" / "model").exists()
    assert _registered(root) == 0


def test_a_cluster_that_does_not_answer_is_exit_3_before_any_work(
    cluster: raycluster.RayCluster, template: Path, tmp_path: Path
) -> None:
    root = _copy(template, tmp_path / "nowhere")
    done = cluster.run(
        MLGATE, "run", "--config", str(root), "--compute", "ray", "--address", "127.0.0.1:6390",
        env=ENV,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "compute.address 127.0.0.1:6390: no Ray cluster answers there" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (root / "models").exists()
    assert not (root / "mlruns").exists()
