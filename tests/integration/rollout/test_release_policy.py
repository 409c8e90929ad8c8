"""Only gated models are released: `mlgate deploy` (direct and canary, on this machine and for
a cluster) and `mlgate promote` refuse a gate-failed bundle, an unregistered one and a version a
release rejected, with exit 1 naming the reason and `--override`; with `--override REASON` the
release goes ahead and the override is recorded (on the version, in the release's state and
report). `mlgate canary stop` during an A/B test records who stopped it, not a rejection.

One real training for the module; the registry is the project's embedded MLflow (SQLite); the
releases are real server processes, nginx and Prometheus on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mlgate import cli
from mlgate.adapters import procs
from mlgate.adapters.mlflow import VersionInfo, current_actor, open_registry
from mlgate.adapters.mlflow.writes import MlflowRegistry
from mlgate.app.gate import gate_project
from mlgate.app.register import register_gated
from mlgate.app.rollout import state as release_state
from mlgate.app.rollout.stop import stop_rollout
from mlgate.app.train import train
from mlgate.store.project import load_project
from tests.integration.deploy.conftest import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
    ),
]

MODEL_BLOCK = re.compile(r"model:\n(?:  .*\n|    .*\n)+")
FAST_MODEL = (
    "model:\n  estimator: sklearn.linear_model.LogisticRegression\n  params: {max_iter: 300}\n"
    "  onnx: never\n"
)
# ROC-AUC 0.5 (the baseline's) + 0.6 cannot be reached: this project's gate always fails.
IMPOSSIBLE = ("    min_gain_over_baseline: 0.1", "    min_gain_over_baseline: 0.6")
IMAGE = "ghcr.io/acme/churn@sha256:" + "a" * 64


@dataclass(frozen=True)
class World:
    """A registered project and the candidates the policy must refuse."""

    config: Path
    failed: Path  # a bundle whose own gate.json says passed: false
    unregistered: Path  # a bundle that passed its gate, registered nowhere
    champion: int  # v1, gated and registered
    rejected: int  # v2, the same bundle again, whose release was rolled back
    outside: int  # v3, made with MLflow alone: no gate record, no bundle digest

    def registry(self) -> MlflowRegistry:
        return open_registry(self.config)

    def version(self, number: int) -> VersionInfo:
        return next(v for v in self.registry().list_versions("churn") if v.version == number)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("mlruns"))
    return dst


@pytest.fixture(scope="module")
def world(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("release-policy")
    a = _copy(demo_template, root / "a")
    config = a / "mlgate.yaml"
    config.write_text(MODEL_BLOCK.sub(FAST_MODEL, config.read_text(), count=1))
    train(load_project(a))
    # Another copy of the trained bundle, gated there and nowhere registered.
    unregistered = _copy(a, root / "unregistered")
    assert gate_project(load_project(unregistered), use_registry=False).passed
    # Another copy, gated against a threshold it cannot meet.
    failed = _copy(a, root / "failed")
    text = (failed / "mlgate.yaml").read_text()
    (failed / "mlgate.yaml").write_text(text.replace(*IMPOSSIBLE, 1))
    assert not gate_project(load_project(failed), use_registry=False).passed
    project = load_project(a)
    assert gate_project(project, use_registry=False).passed
    v1 = register_gated(project).version
    v2 = register_gated(project).version
    registry = open_registry(project)
    registry.promote("churn", v1, reason="first release", actor="ci")
    registry.reject("churn", v2, reason="canary release: error-rate 20% > 1%", actor="ci")
    client = registry._client
    made = client.create_model_version(
        "churn", source=f"runs:/{registry.require_alias('churn', 'champion').run_id}/model"
    )
    return World(config, load_project(failed).bundle_dir, load_project(unregistered).bundle_dir,
                 v1, v2, int(made.version))  # fmt: skip


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def mlgate(capsys: pytest.CaptureFixture[str]) -> Cli:
    """`mlgate ARGS` through the real app and `cli.main` (exit codes included)."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "release"
    yield path
    if (path / release_state.STATE_FILE).is_file():
        stop_rollout(path, registry=None)


def candidates(world: World) -> dict[str, tuple[str, str]]:
    """Each refused candidate, and what its refusal must say."""
    return {
        "gate-failed": (str(world.failed), "its gate did not pass (roc_auc"),
        "unregistered": (str(world.unregistered), "it is not a registered version"),
        "rejected": (f"models:/churn/{world.rejected}", "a release rejected it (by ci"),
    }


@pytest.mark.parametrize("strategy", ["canary", "direct"])
@pytest.mark.parametrize("kind", ["gate-failed", "unregistered", "rejected"])
def test_deploy_refuses_what_the_policy_does_not_allow(
    world: World, mlgate: Cli, state_dir: Path, strategy: str, kind: str
) -> None:
    candidate, says = candidates(world)[kind]
    res = mlgate(
        "deploy", "--target", "local", "--strategy", strategy, "--candidate", candidate,
        "--config", str(world.config), "--state-dir", str(state_dir), "--port", "0",
    )  # fmt: skip
    assert res.code == 1, res.err
    assert says in res.err
    assert '--override "REASON"' in res.err
    assert "Traceback" not in res.err
    # Refused before anything started, and the copy downloaded for it is gone.
    state = release_state.load(state_dir)
    assert state.environment is None
    assert state.stable is None
    assert not (state_dir / "bundles" / "churn" / f"v{world.rejected}").exists()


def test_promote_refuses_a_rejected_version_and_one_mlgate_did_not_register(
    world: World, mlgate: Cli
) -> None:
    config = str(world.config)
    res = mlgate("promote", str(world.rejected), "--config", config)
    assert res.code == 1, res.err
    assert f"refusing to promote churn v{world.rejected}: a release rejected it" in res.err
    assert "canary release: error-rate 20% > 1%" in res.err
    res = mlgate("promote", str(world.outside), "--config", config)
    assert res.code == 1, res.err
    assert f"v{world.outside} was not registered by mlgate" in res.err
    assert '--override "REASON"' in res.err
    champion = world.registry().require_alias("churn", "champion")
    assert champion.version == world.champion


def test_promote_with_an_override_records_it_on_the_version(world: World, mlgate: Cli) -> None:
    config = str(world.config)
    try:
        res = mlgate("promote", str(world.rejected), "--override", "the rollback was the proxy's "
                     "fault", "--config", config)  # fmt: skip
        assert res.code == 0, res.err
        info = world.registry().require_alias("churn", "champion")
        assert info.version == world.rejected
        assert info.tags["mlgate.override_by"] == current_actor()
        assert info.tags["mlgate.override_reason"] == "the rollback was the proxy's fault"
        assert "a release rejected it" in info.tags["mlgate.overridden"]
        assert info.tags["mlgate.override_at"]
        assert (
            mlgate("promote", str(world.rejected), "--override", " ", "--config", config).code == 2
        )
    finally:
        world.registry().promote("churn", world.champion, reason="restore", actor="test")


def test_a_cluster_deploy_checks_the_candidate_it_names(
    world: World, mlgate: Cli, tmp_path: Path
) -> None:
    args = ["deploy", "--target", "kubernetes", "--image", IMAGE, "--out", str(tmp_path),
            "--config", str(world.config), "--candidate", str(world.failed)]  # fmt: skip
    res = mlgate(*args)
    assert res.code == 1, res.err
    assert "its gate did not pass" in res.err
    assert not (tmp_path / "deployment.yaml").exists()
    assert mlgate(*args, "--override", "incident 42").code == 0
    deployment = yaml.safe_load((tmp_path / "deployment.yaml").read_text().split("---\n", 1)[1])
    notes = deployment["spec"]["template"]["metadata"]["annotations"]
    assert f"by {current_actor()}" in notes["mlgate.io/override"]
    assert "incident 42" in notes["mlgate.io/override"]
    assert str(world.failed) in notes["mlgate.io/candidate"]


def test_overridden_releases_are_recorded_and_canary_stop_is_not_a_rejection(
    world: World, mlgate: Cli, state_dir: Path, tmp_path: Path
) -> None:
    config = str(world.config)
    where = ["--config", config, "--state-dir", str(state_dir), "--port", "0"]
    direct = ["deploy", "--target", "local", "--strategy", "direct", "--candidate",
              str(world.failed), "--override", "serve the failed one: a test"]  # fmt: skip
    res = mlgate(*direct, *where)
    assert res.code == 0, res.err
    assert "override" in res.out
    admission = release_state.last_admission(state_dir, str(world.failed))
    assert admission is not None
    assert (admission.actor, admission.override) == (
        current_actor(),
        "serve the failed one: a test",
    )
    rejected_at = world.version(world.rejected).tags["mlgate.rejected_at"]

    log = tmp_path / "controller.log"
    argv = procs.python_module(
        "mlgate", "deploy", "--target", "local", "--strategy", "ab", "--ab-key", "header:X-User",
        "--candidate", f"models:/churn/{world.rejected}", "--override", "retry the A/B", *where,
    )  # fmt: skip
    with log.open("wb") as out:
        controller = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _routed(state_dir), 120, "the A/B test to get its share")
        res = mlgate("canary", "stop", "--reason", "wrong day for a test", "--state-dir",
                     str(state_dir), "--config", config)  # fmt: skip
        assert res.code == 0, res.err
        assert controller.wait(timeout=120) == 1, log.read_text()[-3000:]
    finally:
        if controller.poll() is None:
            controller.kill()
    done = release_state.load(state_dir).past[-1]
    assert done.reason == f"stopped by {current_actor()}: wrong day for a test"
    info = world.version(world.rejected)
    assert info.tags["mlgate.rejected_at"] == rejected_at  # no new rejection
    assert info.tags["mlgate.override_reason"] == "retry the A/B"
    report = json.loads((world.config.parent / "reports" / f"release-{done.id}.json").read_text())
    assert report["outcome"] == "stopped"
    assert report["override"]["by"] == current_actor()
    assert report["override"]["reason"] == "retry the A/B"


def _routed(state_dir: Path) -> bool:
    rollout = release_state.load(state_dir).rollout
    return rollout is not None and rollout.routed_at is not None
