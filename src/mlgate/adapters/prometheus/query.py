"""Observations for the canary analysis, from Prometheus' HTTP API (PromQL).

The queries read the series every mlgate server exports, selected per variant by label
matchers, so the same analysis runs against the Prometheus of `mlgate deploy --target local`
and against a cluster's:

    local       HTTP series from the traffic splitter's exporter, by upstream address (what
                clients saw: 5xx and latency include a candidate that refuses connections);
                model series from the server itself, by scrape address
    Kubernetes  both from the pods' own /metrics, by pod label (Argo Rollouts' pod-template
                hash, or Flagger's `-primary` / canary app name)

Requests, errors and latency are `increase(...[w])` over the analysis interval: a candidate
that turns bad shows at once. Predictions and fed-back labels count since the candidate got
traffic (`since_s`, the same span for both variants): a distribution compared over a one-second
window is mostly sampling noise, and labels arrive late.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mlgate.core.canary import SERVER_ERROR, Feedback, Observations, Progress, VariantWindow
from mlgate.core.histograms import histogram_quantile, latency_quantile, per_bucket
from mlgate.errors import InfraError, UsageError

PREDICT_ROUTE = "/predict"


@dataclass(frozen=True)
class Selectors:
    """PromQL label matchers of one variant: `http` for requests and latency, `model` for
    predictions, drift, feedback and `up` (the same in a cluster, different behind a proxy)."""

    http: str
    model: str

    @classmethod
    def same(cls, matchers: str) -> Selectors:
        """One set of matchers for every series (a variant's pods in a cluster)."""
        return cls(matchers, matchers)

    @classmethod
    def of_instance(cls, url: str) -> Selectors:
        """Every series of the server scraped at `url` (host:port, a scheme allowed)."""
        address = url.split("://", 1)[-1].rstrip("/")
        return cls.same(f'instance="{address}"')

    @classmethod
    def behind_splitter(cls, address: str, metrics_address: str) -> Selectors:
        """A variant of the local release: HTTP series from the splitter's exporter by
        upstream address, model series from the server's own scrape."""
        return cls(
            http=f'job="mlgate-splitter",upstream="{address}"',
            model=f'job="mlgate",instance="{metrics_address}"',
        )


def check_matchers(matchers: str, flag: str) -> str:
    """A non-empty list of PromQL label matchers, without the braces; else a UsageError."""
    text = matchers.strip().removeprefix("{").removesuffix("}").strip()
    if not text or "=" not in text:
        raise UsageError(
            f"{flag} {matchers!r} is not a PromQL label matcher list",
            hint='write it as in a PromQL selector, e.g. rollouts_pod_template_hash="7d9f"',
        )
    return text


def duration(seconds: float) -> str:
    """A PromQL range duration (whole milliseconds, at least 1 ms)."""
    return f"{max(1, round(seconds * 1000))}ms"


class Prometheus:
    """A Prometheus server's HTTP API (instant queries only)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def query(self, promql: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        """Evaluate `promql` (at `at`, else now): (labels, value) per series of the vector."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                body: dict[str, Any] = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise InfraError(f"Prometheus at {self.url} refused `{promql}`: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise InfraError(
                f"Prometheus at {self.url} is unreachable: {exc}",
                hint="check --prometheus (the server's base URL, e.g. http://prometheus:9090)",
            ) from None
        data = body.get("data") or {}
        if body.get("status") != "success" or data.get("resultType") != "vector":
            raise InfraError(f"Prometheus at {self.url}: unexpected answer to `{promql}`")
        out = []
        for item in data.get("result", []):
            raw = item["value"][1]
            out.append((dict(item["metric"]), float(raw)))
        return out

    def scalar(self, promql: str, at: float | None = None) -> float | None:
        """The single value of an aggregated query; None when it has no series."""
        result = self.query(promql, at)
        return result[0][1] if result else None

    def observe(
        self,
        stable: Selectors,
        canary: Selectors,
        *,
        progress: Progress,
        window_s: float,
        since_s: float = 0.0,
    ) -> Observations:
        """Both variants over the window that ends now (see `observe`)."""
        return observe(self, stable, canary, progress=progress, window_s=window_s, since_s=since_s)

    def watching(self, sel: Selectors) -> bool:
        """True once a variant's series are scraped (two samples of its `up`, and of the
        splitter's series for it), so that a window starting now counts its requests."""
        return all((self.scalar(q) or 0.0) >= 2 for q in watched_queries(sel))

    def predictions(self, sel: Selectors, window_s: float) -> dict[str, float]:
        """A variant's predicted classes, counted over the last `window_s` seconds."""
        return {
            labels.get("class_", ""): v
            for labels, v in self.query(class_counts_query(sel, window_s))
        }

    def ready(self) -> bool:
        """True when the server answers /-/ready."""
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2.0) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def watched_queries(sel: Selectors) -> tuple[str, str]:
    """Samples Prometheus holds of a variant: its own `up`, and the splitter's series of it
    (created at zero by the exporter before the variant gets any traffic)."""
    return (
        f"sum(count_over_time(up{{{sel.model}}}[1h]))",
        f'sum(count_over_time(mlgate_requests_total{{{sel.http},status="500"}}[1h]))',
    )


def class_counts_query(sel: Selectors, window_s: float) -> str:
    """Predictions per class over the last `window_s` seconds."""
    return (
        "sum by (class_) "
        f"(increase(mlgate_predictions_by_class_total{{{sel.model}}}[{duration(window_s)}]))"
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else value


def _buckets(cumulative: list[tuple[dict[str, str], float]]) -> dict[str, float]:
    """Per-bucket counts from Prometheus' cumulative `le` buckets."""
    edges = sorted(
        (
            (float(labels.get("le", "+Inf")), labels.get("le", "+Inf"), v)
            for labels, v in cumulative
        ),
        key=lambda e: e[0],
    )
    out: dict[str, float] = {}
    below = 0.0
    for _, le, total in edges:
        out[le] = max(0.0, total - below)
        below = max(below, total)
    return out


def requests_in(prom: Prometheus, sel: Selectors, window_s: float, at: float | None) -> float:
    """/predict requests a variant answered in the window."""
    http = f'{sel.http},route="{PREDICT_ROUTE}"'
    w = duration(window_s)
    return prom.scalar(f"sum(increase(mlgate_requests_total{{{http}}}[{w}]))", at) or 0.0


def observe_variant(
    prom: Prometheus,
    sel: Selectors,
    window_s: float,
    since_s: float,
    at: float | None = None,
    quantile: float = 0.99,
) -> tuple[VariantWindow, bool]:
    """One variant's window, and whether it is a regression model (no class series)."""
    w, lw = duration(window_s), duration(max(since_s, window_s))
    http = f'{sel.http},route="{PREDICT_ROUTE}"'
    requests = requests_in(prom, sel, window_s, at)
    # Server errors only: a client's 4xx is traffic, never a failure of the variant.
    failed = f'{http},status=~"{SERVER_ERROR}"'
    errors = prom.scalar(f"sum(increase(mlgate_requests_total{{{failed}}}[{w}]))", at) or 0.0
    cumulative = {
        float(labels.get("le", "+Inf")): v
        for labels, v in prom.query(
            f"sum by (le) (increase(mlgate_request_latency_seconds_bucket{{{http}}}[{w}]))", at
        )
    }
    # Up when every instance answered a scrape in the window: one scrape that timed out while
    # the server was busy is not an outage (a dead process is caught at once by the controller).
    up = prom.scalar(f"min(max_over_time(up{{{sel.model}}}[{w}]))", at)
    classes = prom.query(class_counts_query(sel, max(since_s, window_s)), at)
    regression = not classes
    if regression:
        predictions = _buckets(
            prom.query(
                f"sum by (le) (increase(mlgate_prediction_value_bucket{{{sel.model}}}[{lw}]))", at
            )
        )
    else:
        predictions = {labels.get("class_", ""): v for labels, v in classes}
    drift = prom.query(f"max by (feature) (mlgate_feature_drifted{{{sel.model}}})", at)
    outcomes = prom.query(
        f"sum by (outcome) (increase(mlgate_feedback_total{{{sel.model}}}[{lw}]))", at
    )
    abs_sum = prom.scalar(f"sum(increase(mlgate_feedback_abs_error_sum{{{sel.model}}}[{lw}]))", at)
    abs_n = prom.scalar(f"sum(increase(mlgate_feedback_abs_error_count{{{sel.model}}}[{lw}]))", at)
    feedback = None
    if outcomes or abs_n is not None:
        by = {labels.get("outcome", ""): v for labels, v in outcomes}
        feedback = Feedback(
            correct=by.get("correct", 0.0),
            incorrect=by.get("incorrect", 0.0),
            abs_error_sum=abs_sum or 0.0,
            abs_error_count=abs_n or 0.0,
        )
    window = VariantWindow(
        up=bool(up is not None and up >= 1.0),
        requests=max(0.0, requests),
        errors=max(0.0, errors),
        latency_s=_finite(histogram_quantile(quantile, cumulative)),
        latency_buckets=per_bucket(cumulative),
        predictions=predictions,
        drifted={labels.get("feature", ""): v >= 1.0 for labels, v in drift} or None,
        feedback=feedback,
    )
    return window, regression


def observe(
    prom: Prometheus,
    stable: Selectors,
    canary: Selectors,
    *,
    progress: Progress,
    window_s: float,
    since_s: float = 0.0,
    at: float | None = None,
) -> Observations:
    """Both variants over the same window, ready for `decide`; latency at the quantile the
    smaller of the two windows resolves."""

    at = at if at is not None else time.time()
    with ThreadPoolExecutor(2) as pool:
        counts = pool.map(lambda sel: requests_in(prom, sel, window_s, at), (stable, canary))
        q = latency_quantile(min(counts))
        (s, s_regression), (c, c_regression) = pool.map(
            lambda sel: observe_variant(prom, sel, window_s, since_s, at, q), (stable, canary)
        )
    return Observations(
        stable=s,
        canary=c,
        progress=progress,
        regression=s_regression and c_regression,
        window_s=window_s,
        latency_quantile=q,
    )
