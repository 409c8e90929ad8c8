"""`mlgate monitor`: read the period's log, summarise it, decide, and return one result.

`run_monitor` does the reading and summing (I/O); `verdict.decide` judges the numbers; the
reports and alerts are written by their own modules from the result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mlgate.app.monitor.analyze import Analysis, Window
from mlgate.app.monitor.columnar import read_chunks
from mlgate.app.monitor.labels import feedback_files, load_labels
from mlgate.app.monitor.logs import Layout, ReadStats, discover
from mlgate.app.monitor.skew import SkewCollector, StoreSkew, plan_skew
from mlgate.core.config import DriftConfig
from mlgate.core.drift import ColumnDrift
from mlgate.core.histograms import binned_auc
from mlgate.core.policy import MonitorConfig, duration_seconds
from mlgate.core.profile import CategoricalProfile, NumericProfile
from mlgate.core.records.monitor import Histogram, MonitorResult, Registered, WindowSummary
from mlgate.core.statistics import reference_cdf
from mlgate.core.stream import ColumnSketch, sketch_drift, unseen_count
from mlgate.core.verdict import FeatureObservation, Observations, decide
from mlgate.errors import DataError
from mlgate.store.bundle import PROFILE_FILE, load_bundle
from mlgate.store.files import read_profile, read_reference
from mlgate.store.trust import Trust, resolve

PLOT_BINS = 30


@dataclass(frozen=True)
class MonitorRequest:
    """What to monitor: a bundle, its logs, a period, labels, and the policy."""

    bundle_dir: Path
    logs: tuple[Path, ...]
    policy: MonitorConfig = field(default_factory=MonitorConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    since: str | None = None
    until: float | None = None
    labels: tuple[Path, ...] = ()
    chunk_rows: int = 65_536
    cache: bool = True
    now: float | None = None
    # Whose signature the bundle must carry; None: the environment's (MLGATE_PUBLIC_KEY).
    trust: Trust | None = None
    # The registry version that recorded the bundle's digest, named in the reports.
    registered: Registered | None = None
    # What the caller found out beside the log (a registry it could not ask), for the reports.
    notes: tuple[str, ...] = ()
    # What to compare the served features with (training/serving skew), if anything: a file
    # of offline rows, or the offline store of the feature repository the bundle came from.
    skew: Path | StoreSkew | None = None


def when(ts: float | None) -> str:
    """A UTC time for people."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _metric_name(task: str, classes: tuple[Any, ...] | None) -> str:
    return "r2" if task == "regression" or classes is None else "accuracy"


def _realised(windows: list[Window], classes: tuple[Any, ...] | None) -> dict[str, float]:
    labelled = sum(w.labelled for w in windows)
    if not labelled:
        return {}
    if classes is None:
        sse = sum(w.sse for w in windows)
        sy = sum(w.sum_y for w in windows)
        sy2 = sum(w.sum_y2 for w in windows)
        sst = sy2 - sy * sy / labelled
        out = {"rmse": (sse / labelled) ** 0.5, "mae": sum(w.abs_err for w in windows) / labelled}
        if sst > 0:
            out["r2"] = 1.0 - sse / sst
        return out
    return _scored(
        sum(w.correct for w in windows),
        labelled,
        [w.real_counts for w in windows if w.real_counts is not None],
        [w.real_pos for w in windows if w.real_pos is not None],
    )


def _estimated(windows: list[Window]) -> dict[str, float]:
    n = sum(w.est_n for w in windows)
    if not n:
        return {}
    return _scored(
        sum(w.est_sum for w in windows),
        n,
        [w.est_counts for w in windows if w.est_counts is not None],
        [w.est_pos for w in windows if w.est_pos is not None],
    )


def _scored(hits: float, rows: int, counts: list[Any], positives: list[Any]) -> dict[str, float]:
    """Accuracy (`hits` of `rows`) and, when any window has a score histogram (`counts`, with
    the positives per bin), the ROC AUC of the windows' histograms summed."""
    out = {"accuracy": hits / rows}
    if counts:
        auc = binned_auc(sum(counts), sum(positives))
        if auc is not None:
            out["roc_auc"] = auc
    return out


def histogram(
    name: str, ref: NumericProfile | CategoricalProfile, sketch: ColumnSketch
) -> Histogram:
    """Reference and current shares of one feature on common bins (for the report's plots)."""

    if isinstance(ref, CategoricalProfile) or ref.values is not None:
        counts = ref.counts if isinstance(ref, CategoricalProfile) else (ref.values or {})
        keys = sorted(set(counts) | set(sketch.counts), key=lambda k: -counts.get(k, 0))[:12]
        rt, ct = max(sum(counts.values()), 1), max(sum(sketch.counts.values()), 1)
        return Histogram(
            feature=name,
            labels=tuple(keys),
            reference=tuple(counts.get(k, 0) / rt for k in keys),
            current=tuple(sketch.counts.get(k, 0) / ct for k in keys),
        )
    q = np.asarray(ref.quantiles, dtype=np.float64)
    fine_edges, fine_cdf = sketch.cdf_at_edges()
    n = max(sketch.count, 1)
    below_n, above_n = sketch.below[0], sketch.above[0]
    below_at = sketch.below[1] / below_n if below_n else float(q[0])
    above_at = sketch.above[1] / above_n if above_n else float(q[-1])
    lo, hi = min(float(q[0]), below_at), max(float(q[-1]), above_at)
    pad = (hi - lo) * 0.01 or 0.5
    edges = np.linspace(lo - pad, hi + pad, PLOT_BINS + 1)
    ref_cdf, _ = reference_cdf(q, edges)
    # Inside the reference range the current CDF is linear between grid edges (as in the
    # statistic); each tail's mass, known by count and sum, sits at its mean.
    cur = np.interp(edges, fine_edges, fine_cdf)
    cur = np.where(edges < fine_edges[0], np.where(edges >= below_at, below_n / n, 0.0), cur)
    cur = np.where(edges > fine_edges[-1], cur - np.where(edges >= above_at, 0.0, above_n / n), cur)
    return Histogram(
        feature=name,
        labels=tuple(f"{a:.4g}" for a in edges[:-1]),
        reference=tuple(float(x) for x in np.diff(ref_cdf)),
        current=tuple(float(x) for x in np.clip(np.diff(cur), 0.0, None)),
    )


def _window_summaries(
    analysis: Analysis, drift: DriftConfig, classes: tuple[Any, ...] | None
) -> list[WindowSummary]:
    out = []
    for w in analysis.ordered():
        stats: dict[str, float] = {}
        drifted: list[str] = []
        for name, sketch in w.sketches.items():
            result = sketch_drift(name, sketch.ref, sketch, drift)
            if result.statistic is not None:
                stats[name] = result.statistic
            if result.drifted:
                drifted.append(name)
        est = _estimated([w]).get("accuracy") if classes is not None else None
        real = _realised([w], classes).get("accuracy" if classes is not None else "r2")
        out.append(
            WindowSummary(
                start=w.index * analysis.window_seconds,
                rows=w.rows,
                requests=w.requests,
                errors=sum(w.errors.values()),
                drift=stats,
                drifted=tuple(drifted),
                estimated=est,
                realised=real,
                labelled=w.labelled,
            )
        )
    return out


def run_monitor(request: MonitorRequest) -> MonitorResult:
    """Monitor one bundle's traffic over a period of its prediction log."""

    bundle = load_bundle(
        request.bundle_dir, trust=request.trust if request.trust is not None else resolve()
    )
    profile = read_profile(bundle.path / PROFILE_FILE)
    reference = read_reference(bundle.path)
    classes = (
        tuple(bundle.meta.classes)
        if bundle.meta.task != "regression" and bundle.meta.classes
        else None
    )
    layout = Layout(features=bundle.schema.features, classes=classes)
    now = request.now if request.now is not None else time.time()
    since = None if request.since in (None, "all") else now - duration_seconds(request.since)
    until = request.until
    # The configured window: the analysis sizes its windows to the data, at most this wide.
    window_seconds = duration_seconds(request.policy.window)
    files = discover(list(request.logs), since)
    labels = load_labels([*feedback_files(list(request.logs)), *request.labels], layout)
    analysis = Analysis(
        version=bundle.version,
        features=bundle.schema.features,
        profile=profile,
        predictions=reference.predictions if reference else None,
        classes=classes,
        calibration=reference.calibration if reference else None,
        labels=labels,
        window_seconds=window_seconds,
        since=since,
        until=until,
        keep=request.drift.small_sample + 1,
        psi=request.drift.method == "psi",
    )
    stats = ReadStats()
    skew, layout = plan_skew(request.skew, layout, bundle, (since, until))
    # The columnar cache holds a layout's columns: one with entity keys is kept apart.
    tag = (bundle.version + (".keys" if layout.keys else "")) if request.cache else None
    chunks = read_chunks(
        files,
        layout,
        chunk_rows=request.chunk_rows,
        stats=stats,
        cache_tag=tag,
        ids=bool(labels) or skew is not None,
    )
    for chunk in chunks:
        analysis.add(chunk)
        if skew is not None:
            skew.add(chunk)
    analysis.finish()
    if not files:
        stats.notes.append(f"no prediction log files under {', '.join(map(str, request.logs))}")
    result = _summarise(request, bundle, profile, reference, analysis, stats, labels, since, until)
    return result if skew is None else _with_skew(result, skew, request.policy)


def _with_skew(result: MonitorResult, skew: SkewCollector, policy: MonitorConfig) -> MonitorResult:
    """The result with the served features compared to the offline rows, and judged again."""
    skews, note = skew.compare(policy.skew)
    obs = result.observations.model_copy(update={"skew": tuple(skews)})
    update = {"observations": obs, "verdict": decide(obs, policy), "notes": (*result.notes, note)}
    return result.model_copy(update=update)


def _feature_observations(
    analysis: Analysis, profile: Any, drift: DriftConfig
) -> tuple[list[FeatureObservation], list[Histogram]]:
    """Each feature's drift, missing, out-of-schema and unseen rates, and its plot."""
    features: list[FeatureObservation] = []
    histograms: list[Histogram] = []
    for spec in analysis.features:
        ref = profile.features[spec.name]
        sketch = analysis.total(spec.name)
        if sketch is None:
            sketch = ColumnSketch(ref, keep=0)
        result = sketch_drift(spec.name, ref, sketch, drift)
        unseen = unseen_count(ref, sketch)
        rows = max(sketch.rows, 1)
        breaks = analysis.out_of_schema[spec.name]
        if spec.kind == "categorical":
            breaks = analysis.category_breaks(spec, sketch)
        examples: tuple[str, ...] = ()
        if isinstance(ref, CategoricalProfile):
            examples = tuple(k for k, _ in sketch.counts.most_common() if k not in ref.counts)[:5]
        features.append(
            FeatureObservation(
                name=spec.name,
                drift=result,
                missing_rate=sketch.nulls / rows if sketch.rows else 0.0,
                reference_missing_rate=ref.null_fraction,
                out_of_schema_rate=breaks / rows if sketch.rows else 0.0,
                unseen_rate=unseen / rows if sketch.rows else 0.0,
                unseen_examples=examples,
            )
        )
        if sketch.count:
            histograms.append(histogram(spec.name, ref, sketch))
    return features, histograms


def _prediction_drift(
    analysis: Analysis, reference: Any, drift: DriftConfig, histograms: list[Histogram]
) -> list[ColumnDrift]:
    """Drift of the served predictions and scores from the holdout's (plots appended)."""
    predictions: list[ColumnDrift] = []
    if reference is None:
        return predictions
    for name in ("prediction", "score"):
        sketch = analysis.total(name, predictions=True)
        ref = reference.predictions.features.get(name)
        if sketch is not None and ref is not None:
            predictions.append(sketch_drift(name, ref, sketch, drift))
            if sketch.count:
                histograms.append(histogram(name, ref, sketch))
    return predictions


def _notes(stats: Any, labels: Any, analysis: Analysis, bundle: Any, rows: int) -> list[str]:
    """What the reader should know about the period; no rows of this version is an error."""
    notes = list(stats.notes)
    notes.extend(labels.notes())
    if labels.unknown_class:
        notes.append(f"{labels.unknown_class} label(s) are not classes of this model; ignored")
    if analysis.outside_period:
        notes.append(f"{analysis.outside_period} logged row(s) outside the period left out")
    if rows == 0 and analysis.others:
        versions = ", ".join(f"{v} ({o.rows} rows)" for v, o in analysis.others.items())
        raise DataError(
            f"the log has no predictions of model version {bundle.version} in the period; "
            f"it has {versions}",
            hint="monitor the bundle that served them (--bundle), or widen --since",
        )
    return notes


def _summarise(
    request: MonitorRequest,
    bundle: Any,
    profile: Any,
    reference: Any,
    analysis: Analysis,
    stats: Any,
    labels: Any,
    since: float | None,
    until: float | None,
) -> MonitorResult:
    drift = request.drift
    windows = analysis.ordered()
    features, histograms = _feature_observations(analysis, profile, drift)
    predictions = _prediction_drift(analysis, reference, drift, histograms)
    classes = analysis.classes
    metric = _metric_name(bundle.meta.task, classes)
    realised = _realised(windows, classes)
    estimated = _estimated(windows)
    reference_metrics = (
        dict(reference.metrics) if reference is not None else dict(bundle.meta.metrics)
    )
    rows = sum(w.rows for w in windows)
    latency = analysis.latency_quantiles((0.5, 0.95, 0.99, 1.0))
    obs = Observations(
        rows=rows,
        requests=sum(w.requests for w in windows),
        errors=sum(sum(w.errors.values()) for w in windows),
        features=tuple(features),
        drift_share=_share(features),
        drift_share_threshold=drift.share,
        predictions=tuple(predictions),
        latency_p99_ms=latency.get("p99"),
        metric=metric,
        reference=reference_metrics.get(metric),
        realised=realised.get(metric),
        labelled=sum(w.labelled for w in windows),
        estimated=estimated.get(metric),
        bad_lines=stats.bad,
        other_versions={v: o.rows for v, o in analysis.others.items()},
    )
    notes = [*request.notes, *_notes(stats, labels, analysis, bundle, rows)]
    return MonitorResult(
        model=bundle.meta.name,
        version=bundle.version,
        task=bundle.meta.task,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        since=since,
        until=until,
        first=analysis.first_ts,
        last=analysis.last_ts,
        window_seconds=analysis.window_seconds,
        verdict=decide(obs, request.policy),
        observations=obs,
        windows=tuple(_window_summaries(analysis, drift, classes)),
        histograms=tuple(histograms),
        latency=latency,
        reference_metrics=reference_metrics,
        estimated=estimated,
        realised=realised,
        files=tuple(stats.files),
        cached=tuple(stats.cached),
        bad_lines=dict(stats.bad_lines),
        notes=tuple(notes),
        registered=request.registered,
    )


def _share(features: list[FeatureObservation]) -> float:
    checked = [f for f in features if f.drift.checked]
    return sum(f.drift.drifted for f in checked) / len(checked) if checked else 0.0
