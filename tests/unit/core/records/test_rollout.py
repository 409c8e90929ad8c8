"""The rollout state record: it round-trips, reads a state file written before states were
versioned (check verdicts spelt pass/fail/skip), and refuses a version it does not know."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlgate.core.policy import CanaryConfig
from mlgate.core.records.rollout import (
    CheckRecord,
    ProcRef,
    RolloutRecord,
    RolloutState,
    VariantRef,
    WindowRecord,
)
from mlgate.errors import FormatError

pytestmark = pytest.mark.unit

PROC = {"pid": 4242, "started": 77, "what": "model server", "log": None}
VARIANT = {
    "source": "models/b", "label": "churn v2", "kind": "process", "address": "127.0.0.1:9001",
    "metrics_address": "127.0.0.1:9001", "model": "churn", "version": 2, "proc": PROC,
    "container": None, "engine": None, "log_dir": "/tmp/p",
}  # fmt: skip


def legacy_state() -> dict[str, Any]:
    """A release.json as the mlgate before versioned states wrote it, mid-rollout."""
    window = {
        "ts": 1.5, "weight": 20, "action": "continue", "reason": "held", "next_weight": 20,
        "failed_checks": 1, "iterations": 0,
        "checks": [
            {"name": "canary-up", "status": "pass", "message": "up", "observed": None,
             "threshold": None},
            {"name": "error-rate", "status": "fail", "message": "5xx", "observed": 9.0,
             "threshold": 1.0},
            {"name": "input-drift", "status": "skip", "message": "none", "observed": None,
             "threshold": None},
        ],
    }  # fmt: skip
    rollout = {
        "id": "20260101T000000-abcdef", "strategy": "canary", "phase": "progressing",
        "candidate": VARIANT, "incumbent": "churn v1", "policy": CanaryConfig().model_dump(),
        "ab_key": None, "weight": 20, "failed_checks": 1, "iterations": 0, "started_at": 1.0,
        "routed_at": 1.2, "reverted_at": None, "ended_at": None, "updated_at": 1.6,
        "controller": PROC, "guard": PROC, "history": [window], "reason": None,
        "registry_note": None,
    }  # fmt: skip
    return {
        "model": "churn",
        "config": "/p/mlgate.yaml",
        "environment": None,
        "stable": {**VARIANT, "label": "churn v1", "address": "127.0.0.1:9000"},
        "rollout": rollout,
        "past": [{**rollout, "phase": "failed", "history": [window]}],
    }


def test_a_legacy_state_is_read_and_its_verdicts_renamed() -> None:
    state = RolloutState.loads(json.dumps(legacy_state()))
    assert state.format_version == RolloutState.VERSION
    assert state.rollout is not None
    statuses = [c.status for c in state.rollout.history[0].checks]
    assert statuses == ["passed", "failed", "skipped"]
    assert [c.status for c in state.past[0].history[0].checks] == statuses
    assert state.rollout.history[0].failed_names() == ["error-rate"]
    assert state.rollout.candidate.proc == ProcRef(pid=4242, started=77, what="model server")


def test_the_current_version_does_not_accept_the_old_spelling() -> None:
    raw = {**legacy_state(), "format_version": RolloutState.VERSION}
    with pytest.raises(FormatError, match=r"rollout\.history\.0\.checks\.0\.status"):
        RolloutState.parse(raw)


def test_a_state_round_trips() -> None:
    check = CheckRecord(name="latency", status="passed", message="ok", observed=3.0)
    rollout = RolloutRecord(
        id="r1",
        strategy="ab",
        candidate=VariantRef.model_validate(VARIANT),
        incumbent="churn v1",
        policy=CanaryConfig(interval=2.0),
        ab_key="header:X-User",
        started_at=10.0,
        updated_at=11.0,
        history=(WindowRecord(ts=10.5, weight=50, action="promote", reason="ok", checks=(check,)),),
    )
    state = RolloutState(model="churn", rollout=rollout, past=(rollout,))
    text = state.dumps()
    assert json.loads(text)["format_version"] == RolloutState.VERSION
    assert RolloutState.loads(text) == state


def test_an_unknown_version_is_refused_naming_it() -> None:
    raw = {**legacy_state(), "format_version": 9}
    with pytest.raises(FormatError, match=r"release\.json format version 9 is not one") as err:
        RolloutState.parse(raw, source="/s/release.json")
    assert "reads 0, 1" in err.value.message


def test_a_rollout_is_active_until_it_ends() -> None:
    state = RolloutState.loads(json.dumps(legacy_state()))
    assert state.rollout is not None
    assert state.rollout.active
    assert not state.past[0].active
