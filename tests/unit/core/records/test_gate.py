"""gate.json: written once, read back equal; the unversioned file of earlier releases reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.core.gates import GateCheck, GateVerdict
from mlgate.core.records.gate import ChampionScore, GateReport
from mlgate.errors import FormatError

LEGACY = Path(__file__).parent / "legacy"


def _report(passed: bool = False) -> GateReport:
    check = GateCheck(
        metric="roc_auc",
        kind="min_absolute_change",
        value=0.70,
        bound=-0.01,
        interval=(-0.2, -0.05),
        higher_is_better=True,
        passed=passed,
        message="roc_auc fell by 0.10 against the champion",
    )
    verdict = GateVerdict(passed=passed, checks=(check,), notes=("a note",))
    return GateReport.of(
        verdict,
        model="churn",
        bundle=Path("models/model"),
        evaluated_at="2026-12-01T20:00:00+00:00",
        holdout_rows=600,
        challenger={"roc_auc": 0.70},
        champion=ChampionScore(label="v1 (champion)", metrics={"roc_auc": 0.80}),
        baseline={"roc_auc": 0.5},
        positive_label="yes",
        bundle_digest="sha256:ab",
    )


def test_the_record_round_trips_and_keeps_its_verdict() -> None:
    report = _report()
    again = GateReport.loads(report.dumps())
    assert again == report
    assert again.verdict.failures == report.verdict.failures
    assert again.failures == ("roc_auc fell by 0.10 against the champion",)
    assert again.champion_label == "v1 (champion)"
    assert again.champion_metrics == {"roc_auc": 0.80}
    assert again.bundle_dir == Path("models/model")


def test_the_time_of_the_verdict_is_the_record_s_own() -> None:
    # Dumping twice gives the same bytes: the registry's copy is the file on disk.
    report = _report(passed=True)
    assert report.dumps() == report.dumps()
    assert json.loads(report.dumps())["evaluated_at"] == "2026-12-01T20:00:00+00:00"


def test_a_gate_json_written_by_an_unversioned_mlgate_reads() -> None:
    report = GateReport.loads((LEGACY / "gate.json").read_text(), "legacy/gate.json")
    assert report.format_version == GateReport.VERSION
    assert report.model == "churn"
    assert report.passed is True
    assert report.checks  # every check came along
    assert report.challenger["roc_auc"] > 0.5


def test_a_future_gate_json_is_refused_naming_its_version() -> None:
    raw = {**_report().dump(), "format_version": 9}
    with pytest.raises(FormatError, match=r"gate\.json format version 9"):
        GateReport.parse(raw, "reports/gate.json")
