"""Observations without Prometheus: scrape both servers' /metrics at the start and at the end
of the window and take the differences, as `increase()` would.

For `mlgate canary analyze --stable URL --canary URL` with no Prometheus at hand. Each URL must
reach one server process: behind a Service with several pods, two scrapes may hit different
pods and their difference means nothing (give --prometheus there).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

from mlgate.adapters.prometheus.query import PREDICT_ROUTE
from mlgate.core.canary import Feedback, Observations, Progress, VariantWindow, server_error
from mlgate.core.histograms import histogram_quantile, latency_quantile, per_bucket
from mlgate.errors import InfraError

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples | None:
    """Every sample of a server's /metrics, keyed by name and labels; None when unreachable."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=5) as resp:
            text = resp.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return None
    samples: Samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    except ValueError as exc:
        raise InfraError(f"{url}/metrics is not Prometheus text: {exc}") from None
    return samples


def _delta(before: Samples, after: Samples, name: str) -> Iterable[tuple[dict[str, str], float]]:
    for (n, labels), value in after.items():
        if n != name:
            continue
        old = before.get((n, labels), 0.0)
        # A counter that went down was reset (the server restarted): count from zero.
        yield dict(labels), value - old if value >= old else value


def _requests(before: Samples | None, after: Samples | None) -> float:
    if before is None or after is None:
        return 0.0
    return sum(
        d
        for labels, d in _delta(before, after, "mlgate_requests_total")
        if labels.get("route") == PREDICT_ROUTE
    )


def window_of(
    before: Samples | None, after: Samples | None, quantile: float = 0.99
) -> VariantWindow:
    """One variant's window from two scrapes."""
    if before is None or after is None:
        return VariantWindow(up=False)
    requests = errors = 0.0
    for labels, d in _delta(before, after, "mlgate_requests_total"):
        if labels.get("route") == PREDICT_ROUTE:
            requests += d
            errors += d if server_error(labels.get("status", "")) else 0.0
    latency: dict[float, float] = defaultdict(float)
    for labels, d in _delta(before, after, "mlgate_request_latency_seconds_bucket"):
        if labels.get("route") == PREDICT_ROUTE:
            latency[float(labels["le"])] += d
    cumulative = dict(latency)
    predictions: dict[str, float] = {}
    for labels, d in _delta(before, after, "mlgate_predictions_by_class_total"):
        predictions[labels.get("class_", "")] = d
    if not predictions:
        below = 0.0
        for labels, d in sorted(
            _delta(before, after, "mlgate_prediction_value_bucket"), key=lambda x: float(x[0]["le"])
        ):
            predictions[labels["le"]] = max(0.0, d - below)
            below = max(below, d)
    drifted = {
        dict(labels).get("feature", ""): value >= 1.0
        for (name, labels), value in after.items()
        if name == "mlgate_feature_drifted"
    }
    outcomes = {
        lb.get("outcome", ""): d for lb, d in _delta(before, after, "mlgate_feedback_total")
    }
    abs_sum = sum(d for _, d in _delta(before, after, "mlgate_feedback_abs_error_sum"))
    abs_n = sum(d for _, d in _delta(before, after, "mlgate_feedback_abs_error_count"))
    has_feedback = any(n.startswith("mlgate_feedback") for n, _ in after)
    return VariantWindow(
        up=True,
        requests=requests,
        errors=errors,
        latency_s=histogram_quantile(quantile, cumulative),
        latency_buckets=per_bucket(cumulative),
        predictions=predictions,
        drifted=drifted or None,
        feedback=Feedback(
            outcomes.get("correct", 0.0), outcomes.get("incorrect", 0.0), abs_sum, abs_n
        )
        if has_feedback
        else None,
    )


def scrape_window(stable_url: str, canary_url: str, window_s: float) -> Observations:
    """Scrape both, wait out the window, scrape both again: the window's observations."""
    before = (scrape(stable_url), scrape(canary_url))
    time.sleep(window_s)  # the measurement window itself, not a wait for a condition
    after = (scrape(stable_url), scrape(canary_url))
    q = latency_quantile(min(_requests(b, a) for b, a in zip(before, after, strict=True)))
    stable, canary = window_of(before[0], after[0], q), window_of(before[1], after[1], q)
    classes = any(
        name == "mlgate_predictions_by_class_total"
        for sample in after
        if sample
        for name, _ in sample
    )
    return Observations(
        stable=stable,
        canary=canary,
        progress=Progress(),
        regression=not classes,
        window_s=window_s,
        latency_quantile=q,
    )
