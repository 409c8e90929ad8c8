"""The release policy: only a gated, registered candidate nobody rejected is released, unless an
override with a reason sets every reason aside."""

from __future__ import annotations

import pytest

from mlgate.core.release_policy import (
    Allowed,
    CandidateFacts,
    GateFact,
    Refused,
    Rejection,
    decide_release,
    override_reason,
)
from mlgate.errors import GateFailed, UsageError

pytestmark = pytest.mark.unit

PASSED = GateFact("passed")
REJECTION = Rejection(by="ci", at="2026-01-02T03:04:05Z", reason="canary release: error-rate")


def test_a_gated_registered_unrejected_candidate_is_allowed_without_an_override() -> None:
    decision = decide_release(CandidateFacts("churn v3", PASSED, version=3))
    assert decision == Allowed("churn v3")
    # An override given where nothing stands against the candidate is not an override.
    assert decide_release(CandidateFacts("churn v3", PASSED, version=3), "why not") == Allowed(
        "churn v3"
    )


@pytest.mark.parametrize(
    ("facts", "named"),
    [
        (CandidateFacts("b", GateFact("failed", "accuracy 0.6 < 0.99"), 1), "accuracy 0.6 < 0.99"),
        (CandidateFacts("b", GateFact("missing", "no gate.json"), 1), "no gate.json"),
        (CandidateFacts("b", GateFact("stale", "judged another bundle"), 1), "another bundle"),
        (CandidateFacts("b", GateFact("unknown"), 1), "no passing gate report"),
        (CandidateFacts("b", PASSED), "not a registered version"),
        (CandidateFacts("b", PASSED, 1, REJECTION), "rejected it (by ci at 2026-01-02"),
    ],
    ids=["gate-failed", "gate-missing", "gate-stale", "gate-unknown", "unregistered", "rejected"],
)
def test_each_reason_refuses_naming_itself(facts: CandidateFacts, named: str) -> None:
    decision = decide_release(facts)
    assert isinstance(decision, Refused)
    assert len(decision.reasons) == 1
    assert named in decision.reasons[0]


def test_every_reason_is_given_at_once_and_the_error_names_the_override() -> None:
    facts = CandidateFacts("bundle models/model", GateFact("failed", "f1"), None, REJECTION)
    decision = decide_release(facts)
    assert isinstance(decision, Refused)
    assert len(decision.reasons) == 3
    error = decision.error("promote")
    assert isinstance(error, GateFailed)  # exit 1: a verdict
    assert error.message.startswith("refusing to promote bundle models/model: its gate")
    assert "not a registered version" in error.message
    assert "rejected it" in error.message
    assert '--override "REASON"' in (error.hint or "")


def test_an_override_allows_and_says_what_it_set_aside() -> None:
    facts = CandidateFacts("churn v2", PASSED, 2, REJECTION)
    decision = decide_release(facts, "hotfix, incident 42")
    assert isinstance(decision, Allowed)
    assert decision.override == "hotfix, incident 42"
    assert decision.overridden == decide_release(facts).reasons  # type: ignore[union-attr]


def test_an_override_needs_a_reason() -> None:
    assert override_reason(None) is None
    assert override_reason("  hotfix \n for 42 ") == "hotfix for 42"
    with pytest.raises(UsageError, match="--override needs a reason"):
        override_reason("   ")
