"""monitor.json: the record round-trips; the derived summary keys are written and dropped."""

from __future__ import annotations

import json

import pytest

from mlgate.core.drift import ColumnDrift
from mlgate.core.policy import MonitorConfig
from mlgate.core.records.monitor import Histogram, MonitorResult, Registered, WindowSummary
from mlgate.core.verdict import FeatureObservation, Observations, decide
from mlgate.errors import FormatError


def _result() -> MonitorResult:
    drift = ColumnDrift(
        column="tenure",
        kind="numeric",
        method="wasserstein",
        statistic=0.4,
        threshold=0.1,
        drifted=True,
        detail="moved",
    )
    feature = FeatureObservation(
        name="tenure",
        drift=drift,
        missing_rate=0.0,
        reference_missing_rate=0.0,
        out_of_schema_rate=0.0,
        unseen_rate=0.0,
    )
    obs = Observations(
        rows=5000,
        requests=5000,
        errors=0,
        features=(feature,),
        drift_share=1.0,
        drift_share_threshold=0.5,
    )
    return MonitorResult(
        model="churn",
        version="v3",
        task="binary",
        generated_at="2026-12-01T20:00:00+00:00",
        since=None,
        until=None,
        first=1.0,
        last=2.0,
        window_seconds=60.0,
        verdict=decide(obs, MonitorConfig()),
        observations=obs,
        windows=(WindowSummary(start=1.0, rows=5, requests=5, errors=0, drift={}, drifted=()),),
        histograms=(Histogram(feature="tenure", labels=("a",), reference=(1.0,), current=(1.0,)),),
        latency={"p50": 1.0},
        reference_metrics={},
        estimated={},
        realised={},
        files=("log.jsonl",),
        cached=(),
        bad_lines={},
        notes=(),
    )


def test_the_record_round_trips_with_its_summary_keys() -> None:
    result = _result()
    data = json.loads(result.dumps())
    assert data["status"] == "alert"
    assert data["drifted_features"] == ["tenure"]
    assert data["alerts"]
    assert MonitorResult.loads(result.dumps()) == result


def test_an_unversioned_monitor_json_reads_and_a_future_one_is_refused() -> None:
    data = json.loads(_result().dumps())
    del data["format_version"]
    assert MonitorResult.parse(data) == _result()
    with pytest.raises(FormatError, match=r"monitor\.json format version 5"):
        MonitorResult.parse({**data, "format_version": 5})


def test_the_registry_version_round_trips_and_an_older_file_reads_without_it() -> None:
    named = _result().model_copy(
        update={"registered": Registered(name="churn", version=3, aliases=("champion",))}
    )
    assert MonitorResult.loads(named.dumps()) == named
    assert json.loads(named.dumps())["registered"] == {
        "name": "churn",
        "version": 3,
        "aliases": ["champion"],
    }
    # A version-1 file written before the field existed: the bundle is unnamed.
    data = json.loads(_result().dumps())
    del data["registered"]
    assert MonitorResult.parse(data).registered is None


def test_a_registered_version_is_labelled_with_its_aliases() -> None:
    assert Registered(name="churn", version=3, aliases=("champion",)).label == "v3 (champion)"
    both = Registered(name="churn", version=1, aliases=("champion", "challenger"))
    assert both.label == "v1 (champion, challenger)"
    assert Registered(name="churn", version=2).label == "v2"
