"""What a local release could not judge, with real servers, nginx and Prometheus on 127.0.0.1:
without traffic a canary pauses and ends not promoted, recording no rejection on the version;
with `--load-from` replaying a data file, a canary on one machine has traffic and is promoted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.adapters.mlflow import RunContext
from mlgate.app.rollout import state as release_state
from mlgate.app.rollout.controller import RolloutRequest, run_rollout
from mlgate.app.rollout.transitions import Outcome
from mlgate.cli import main
from mlgate.core.gates import GateVerdict
from mlgate.core.policy import CHECKS
from mlgate.core.records.gate import GateReport
from mlgate.core.rollout import PAUSED, standing
from mlgate.store.bundle import load_bundle
from tests.integration.deploy.conftest import (
    Bundles,
    Registered,
    Running,
    fast_policy,
    wait_until,
)
from tests.integration.deploy.test_release import in_background

pytestmark = pytest.mark.integration


def fresh_version(registered: Registered, bundles: Bundles, name: str) -> int:
    """Register `name`'s bundle again (gate passed): a version no release has judged yet."""
    bundle = load_bundle(bundles[name])
    gate = GateReport.of(
        GateVerdict(passed=True, checks=()),
        model="churn",
        bundle=bundles[name],
        evaluated_at="2026-01-01T00:00:00+00:00",
        holdout_rows=bundle.meta.data.holdout_rows,
        challenger=dict(bundle.meta.metrics),
        bundle_digest=bundle.content_digest,
    )
    info = registered.registry().register(bundles[name], gate, RunContext("ci", "tests", ()))
    return int(info.version)


def test_a_canary_without_traffic_pauses_then_ends_not_promoted_rejecting_nothing(
    bundles: Bundles,
    registered: Registered,
    incumbent: Running,
    capsys: pytest.CaptureFixture[str],
) -> None:
    version = fresh_version(registered, bundles, "good")
    state_dir = incumbent.state_dir
    # Three windows of 2 s without a request: then it ends.
    policy = fast_policy(max_pause=6.0)
    request = RolloutRequest(
        state_dir, "canary", f"models:/churn/{version}", policy, model="churn",
        config=registered.config, actor="release-test",
    )  # fmt: skip
    thread, box = in_background(lambda: run_rollout(request, registry=registered.registry()))

    def paused() -> bool:
        assert "error" not in box, box["error"]
        rollout = release_state.load(state_dir).rollout
        return rollout is not None and standing(rollout) == PAUSED

    wait_until(paused, 120, "the release to pause")
    assert main(["canary", "status", "--state-dir", str(state_dir)]) == 0
    status = capsys.readouterr().out
    assert f"canary release of churn v{version}: {PAUSED}, weight 25%" in status
    assert main(["canary", "status", "--state-dir", str(state_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["standing"] == PAUSED
    thread.join(timeout=120)
    outcome: Outcome = box["outcome"]
    assert outcome.ended_as == "not promoted"
    assert outcome.reason.startswith("not promoted: no traffic")
    data = json.loads(Path(str(outcome.report)).read_text())
    assert data["outcome"] == "not promoted"
    assert [h["weight"] for h in data["history"]] == [25, 25, 25]
    assert {len(h["checks"]) for h in data["history"]} == {len(CHECKS)}
    # Nothing was shown wrong with the candidate: its version records no rejection.
    registry = registered.registry()
    info = next(v for v in registry.list_versions("churn") if v.version == version)
    assert not [tag for tag in info.tags if tag.startswith("mlgate.rejected")]
    history = json.loads(registry._model("churn").tags.get("mlgate.release_history", "[]"))
    assert not [h for h in history if h["version"] == version]
    # And the incumbent serves on, as before.
    state = release_state.load(state_dir)
    assert state.stable is not None
    assert state.stable.source == str(bundles["stable"])


def test_load_from_a_data_file_drives_a_canary_to_promotion(
    bundles: Bundles, registered: Registered, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version = fresh_version(registered, bundles, "good")
    stable = registered.versions["stable"]
    data = bundles.project / "data" / "churn.csv"
    code = main(
        ["deploy", "--target", "local", "--strategy", "canary", "--config",
         str(registered.config), "--state-dir", str(state_dir), "--port", "0",
         "--incumbent", f"models:/churn/{stable}", "--candidate", f"models:/churn/{version}",
         "--interval", "3", "--threshold", "2", "--step-weight", "50",
         "--load-from", str(data), "--load-rate", "50"]
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert f"PROMOTED churn v{version}" in out.out
    assert "; skipped: " in out.out
    assert "online-accuracy (no labels fed back" in out.out
    assert "requests replayed" in out.out
    done = release_state.load(state_dir).past[-1]
    assert [w.weight for w in done.history][-1] == 100
    assert all(not w.reason.startswith(PAUSED) for w in done.history)
    champion = registered.registry().get_alias("churn", "champion")
    assert champion is not None
    assert champion.version == version
