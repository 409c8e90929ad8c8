"""Canary analysis as a pure function: `evaluate(observations, policy)` -> every check, with
what was observed and the limit; `mlgate.core.rollout.decide` turns them into the next step.

The observations are what the incumbent (stable) and the candidate (canary) did during one
analysis window, plus where the rollout stands (strategy, weight, failed checks, iterations).

The checks: the two Flagger runs (the candidate's 5xx rate and p99 latency, here also against
the incumbent's on the same window), and what a model does, which no HTTP check sees:

- prediction divergence: the candidate's predicted classes (or value histogram) against the
  incumbent's on the same window, by the Jensen-Shannon distance or PSI of `mlgate.core.drift`
  (the data gate's statistics). It fails when the distance reaches the threshold AND a G-test
  says the two windows differ (p < 0.01), so a short window's sampling noise never rolls back
  a good model and a large one never promotes a shifted one;
- input drift: the share of features the candidate reports as drifted from its reference,
  when it is past the limit and worse than the incumbent's (traffic that drifted for both is
  not the candidate's doing);
- online accuracy from fed-back labels, against the incumbent's (regression: mean absolute
  error), once both have `min_labels` labelled rows.

The latency quantile is p99 when the window holds enough requests to resolve it, and
otherwise the highest quantile that still has five requests above it (`latency_quantile`): in
a window of 50 requests the "p99" is the single slowest request, and comparing two of those
compares noise; the candidate and the incumbent are compared at the same quantile, and the
candidate fails only when its latencies are also higher beyond chance (one-sided Mann-Whitney
on the two histograms, p < 0.01): a few requests slowed by a busy machine are not a slower
model.

The error rate counts the candidate's server errors only (`SERVER_ERROR`, 5xx): a 4xx is the
answer any correct server gives a malformed or hostile request, so however many of them a
window holds (they still count as traffic) they never fail a candidate. Both sources of
observations, PromQL (`status=~SERVER_ERROR`) and two scrapes, classify statuses by it.

Every window reports every check of `CHECKS`, in that order, so that the count never moves; a
check without data is skipped, and says why. Traffic is judged against the candidate's share:
when the release as a whole had too few requests for that share to reach `min_requests` (no
traffic), the traffic check is skipped and the rollout pauses (`mlgate.core.rollout.decide`);
when it had enough and the candidate still answered fewer, the check fails (no traffic reaches
it, or it cannot answer), as a Flagger metric without data does. Outside a rollout (the weight
unknown) too few candidate requests fail. A failed check never promotes, and the verdict
never improves when the candidate's error rate, latency or divergence gets worse (both are
property-tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import JsonValue

from mlgate.core.drift import DEFAULT_THRESHOLDS
from mlgate.core.histograms import SIGNIFICANCE, distribution_distance, g_test, latency_greater
from mlgate.core.policy import CHECKS, CanaryConfig
from mlgate.core.vocab import AnalysedStrategy, CheckStatus

SERVER_ERROR = "5.."
"""The HTTP statuses the error rate counts, as a PromQL regular expression: 5xx."""


def server_error(status: str) -> bool:
    """Whether an HTTP status (as Prometheus labels it) is a server error the error rate
    counts: 5xx, never a client's 4xx."""
    return len(status) == 3 and status[0] == "5" and status.isdigit()


@dataclass(frozen=True)
class Feedback:
    """Labels fed back for one variant's predictions during the rollout."""

    correct: float = 0.0
    incorrect: float = 0.0
    abs_error_sum: float = 0.0
    abs_error_count: float = 0.0

    @property
    def labelled(self) -> float:
        """Rows with a label (classification and regression counts alike)."""
        return self.correct + self.incorrect + self.abs_error_count


@dataclass(frozen=True)
class VariantWindow:
    """What one variant did in the window: HTTP answers, predictions, inputs, labels."""

    up: bool = True
    requests: float = 0.0
    errors: float = 0.0
    # Latency at the window's quantile (`Observations.latency_quantile`), in seconds, and the
    # histogram it comes from (bucket upper bound -> requests in the bucket), when known.
    latency_s: float | None = None
    latency_buckets: Mapping[float, float] = field(default_factory=dict)
    predictions: Mapping[str, float] = field(default_factory=dict)
    # Per feature, whether the server reports it drifted; None when the server reports nothing.
    drifted: Mapping[str, bool] | None = None
    feedback: Feedback | None = None

    @property
    def error_rate(self) -> float | None:
        """Server errors (`errors`: 5xx only), in percent of requests; None without requests."""
        return 100.0 * self.errors / self.requests if self.requests > 0 else None


@dataclass(frozen=True)
class Progress:
    """Where the rollout stands before this decision: its split, the failed checks and passing
    iterations so far, how many windows in a row it has been paused for want of traffic, and
    which checks ran (passed or failed) in some earlier window."""

    strategy: AnalysedStrategy = "canary"
    weight: int = 0
    failed_checks: int = 0
    iterations: int = 0
    paused: int = 0
    ran: frozenset[str] = frozenset()


def expected_share(progress: Progress) -> float | None:
    """The share of the release's requests the candidate gets: its weight (canary; A/B, by
    keys, roughly), every one (shadow: a copy of each); None outside a rollout (weight 0)."""
    if progress.strategy == "shadow":
        return 1.0
    return progress.weight / 100.0 if progress.weight > 0 else None


@dataclass(frozen=True)
class Observations:
    """Both variants over the same window, and the rollout's progress."""

    stable: VariantWindow
    canary: VariantWindow
    progress: Progress = field(default_factory=Progress)
    regression: bool = False
    window_s: float = 60.0
    latency_quantile: float = 0.99


@dataclass(frozen=True)
class Check:
    """One check's verdict, with what was observed and the limit it was held to."""

    name: str
    status: CheckStatus
    message: str
    observed: float | None = None
    threshold: float | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict[str, JsonValue]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "observed": self.observed,
            "threshold": self.threshold,
        }


# --- checks ------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _up(name: str, who: str, window: VariantWindow) -> Check:
    if window.up:
        return Check(name, "passed", f"the {who} is up")
    return Check(name, "failed", f"the {who} is down (not running, or its /metrics unreachable)")


def _traffic(obs: Observations, policy: CanaryConfig) -> Check:
    n, least = obs.canary.requests, policy.min_requests
    if n >= least:
        return Check("traffic", "passed", f"{n:.0f} candidate requests", n, least)
    share = expected_share(obs.progress)
    # The release's requests: in shadow the incumbent answers every one, the candidate a copy.
    total = obs.stable.requests + (0.0 if obs.progress.strategy == "shadow" else n)
    if share is not None and total * share < least:
        if total == 0:
            seen = f"no /predict request reached the release in {obs.window_s:g}s"
        else:
            seen = (
                f"{total:.0f} /predict requests reached the release in {obs.window_s:g}s: the "
                f"candidate's share ({share:.0%}, about {total * share:.0f}) is under "
                f"min_requests {least}"
            )
        return Check("traffic", "skipped", seen, n, least)
    return Check(
        "traffic",
        "failed",
        f"the candidate answered {n:.0f} /predict requests in {obs.window_s:g}s, fewer than "
        f"min_requests {least}: no traffic reaches it, or it cannot answer",
        n,
        least,
    )


def _error_rate(canary: VariantWindow, policy: CanaryConfig) -> Check:
    rate = canary.error_rate
    if rate is None:
        return Check("error-rate", "skipped", "no candidate requests to judge")
    ok = rate <= policy.max_error_rate
    return Check(
        "error-rate",
        "passed" if ok else "failed",
        f"candidate 5xx rate {_fmt(rate)}% {'<=' if ok else '>'} {policy.max_error_rate:g}% "
        f"({canary.errors:.0f} of {canary.requests:.0f})",
        rate,
        policy.max_error_rate,
    )


def _latency(obs: Observations, policy: CanaryConfig) -> list[Check]:
    stable, canary = obs.stable, obs.canary
    q = f"p{obs.latency_quantile * 100:.3g}"
    note = "" if obs.latency_quantile >= 0.99 else " (too few requests for p99)"
    if canary.latency_s is None or math.isnan(canary.latency_s):
        return [
            Check("latency", "skipped", "no candidate latency to judge"),
            Check("latency-vs-incumbent", "skipped", "no candidate latency to compare"),
        ]
    ms = canary.latency_s * 1000.0
    ok = ms <= policy.max_p99_ms
    checks = [
        Check(
            "latency",
            "passed" if ok else "failed",
            f"candidate {q} {ms:.1f} ms {'<=' if ok else '>'} {policy.max_p99_ms:g} ms{note}",
            ms,
            policy.max_p99_ms,
        )
    ]
    if stable.latency_s is None or math.isnan(stable.latency_s):
        checks.append(Check("latency-vs-incumbent", "skipped", "no incumbent latency to compare"))
        return checks
    base = stable.latency_s * 1000.0
    increase = ms - base
    over = increase > policy.max_p99_increase_ms
    # With both histograms at hand, a few slow requests on a busy machine are not enough: the
    # candidate's latencies must be higher than the incumbent's beyond chance.
    significant = True
    if over and canary.latency_buckets and stable.latency_buckets:
        p = latency_greater(canary.latency_buckets, stable.latency_buckets)
        significant = p < SIGNIFICANCE
        if not significant:
            note += f"; not significant yet (Mann-Whitney p {p:.2g})"
    ok = not (over and significant)
    checks.append(
        Check(
            "latency-vs-incumbent",
            "passed" if ok else "failed",
            f"candidate {q} {ms:.1f} ms is {increase:+.1f} ms against the incumbent's "
            f"{base:.1f} ms ({'>' if over else '<='} +{policy.max_p99_increase_ms:g} ms){note}",
            increase,
            policy.max_p99_increase_ms,
        )
    )
    return checks


def _divergence(obs: Observations, policy: CanaryConfig) -> Check:
    stable, canary = obs.stable.predictions, obs.canary.predictions
    n_s, n_c = sum(stable.values()), sum(canary.values())
    what = "value histogram" if obs.regression else "predicted classes"
    if n_s < policy.min_requests or n_c < policy.min_requests:
        return Check(
            "prediction-divergence",
            "skipped",
            f"too few predictions to compare ({n_c:.0f} candidate, {n_s:.0f} incumbent; "
            f"min_requests {policy.min_requests})",
        )
    method = policy.divergence
    limit = policy.max_divergence or DEFAULT_THRESHOLDS[method]
    distance = distribution_distance(stable, canary, method)
    g, critical = g_test(stable, canary)
    significant = g > critical
    ok = distance < limit or not significant
    if distance >= limit and not significant:
        note = f"; not significant yet (G {g:.2f} <= {critical:.2f})"
    else:
        note = ""
    return Check(
        "prediction-divergence",
        "passed" if ok else "failed",
        f"{method} distance of the candidate's {what} from the incumbent's "
        f"{_fmt(distance)} {'<' if distance < limit else '>='} {limit:g} "
        f"({n_c:.0f} vs {n_s:.0f} rows){note}",
        distance,
        limit,
    )


def _share(drifted: Mapping[str, bool] | None) -> float | None:
    return sum(drifted.values()) / len(drifted) if drifted else None


def _drift(obs: Observations, policy: CanaryConfig) -> Check:
    canary = obs.canary
    share = _share(canary.drifted)
    if share is None or canary.drifted is None:
        return Check("input-drift", "skipped", "the candidate reports no input drift")
    drifted = sorted(f for f, d in canary.drifted.items() if d)
    base = _share(obs.stable.drifted)
    # Traffic that drifted for both is not the candidate's doing: it fails only when its own
    # reference fits the live inputs worse than the incumbent's does.
    ok = share < policy.max_drift_share or (base is not None and share <= base)
    listed = f": {', '.join(drifted)}" if drifted else ""
    versus = "" if base is None else f" (the incumbent's: {base:.0%})"
    return Check(
        "input-drift",
        "passed" if ok else "failed",
        f"{share:.0%} of the candidate's input features drifted from its reference"
        f"{versus}; limit {policy.max_drift_share:.0%}{listed}",
        share,
        policy.max_drift_share,
    )


def _accuracy(obs: Observations, policy: CanaryConfig) -> Check:
    s, c = obs.stable.feedback, obs.canary.feedback
    if s is None or c is None or s.labelled + c.labelled == 0:
        return Check("online-accuracy", "skipped", "no labels fed back (POST /feedback)")
    if s.labelled < policy.min_labels or c.labelled < policy.min_labels:
        return Check(
            "online-accuracy",
            "skipped",
            f"too few labels to compare ({c.labelled:.0f} candidate, {s.labelled:.0f} "
            f"incumbent; min_labels {policy.min_labels})",
        )
    if obs.regression:
        mae_s = s.abs_error_sum / s.abs_error_count
        mae_c = c.abs_error_sum / c.abs_error_count
        increase = (mae_c - mae_s) / mae_s if mae_s > 0 else (math.inf if mae_c > 0 else 0.0)
        ok = increase <= policy.max_accuracy_drop
        return Check(
            "online-accuracy",
            "passed" if ok else "failed",
            f"candidate MAE {_fmt(mae_c)} vs incumbent {_fmt(mae_s)} on fed-back labels "
            f"({increase:+.1%}, {'<=' if ok else '>'} +{policy.max_accuracy_drop:.1%})",
            increase,
            policy.max_accuracy_drop,
        )
    acc_s = s.correct / (s.correct + s.incorrect)
    acc_c = c.correct / (c.correct + c.incorrect)
    drop = acc_s - acc_c
    ok = drop <= policy.max_accuracy_drop
    return Check(
        "online-accuracy",
        "passed" if ok else "failed",
        f"candidate online accuracy {acc_c:.3f} vs incumbent {acc_s:.3f} on fed-back labels "
        f"(drop {drop:.3f} {'<=' if ok else '>'} {policy.max_accuracy_drop:g})",
        drop,
        policy.max_accuracy_drop,
    )


def evaluate(obs: Observations, policy: CanaryConfig) -> tuple[Check, ...]:
    """Every check of `CHECKS` on one window, in that order; none is left out, skipped ones
    say why."""
    checks = [_up("canary-up", "candidate", obs.canary), _up("stable-up", "incumbent", obs.stable)]
    checks.append(_traffic(obs, policy))
    checks.append(_error_rate(obs.canary, policy))
    checks.extend(_latency(obs, policy))
    checks.append(_divergence(obs, policy))
    checks.append(_drift(obs, policy))
    checks.append(_accuracy(obs, policy))
    return tuple(checks)


def unobserved(why: str) -> tuple[Check, ...]:
    """A window nothing could be observed in: the analysis failed, and every check skipped."""
    failed = Check("analysis", "failed", f"no observations: {why}")
    return (failed, *(Check(name, "skipped", f"no observations: {why}") for name in CHECKS))


def skipped_reasons(checks: tuple[Check, ...]) -> str:
    """The skipped checks with why, in one line: `a (why), b (why)`."""
    return ", ".join(f"{c.name} ({c.message})" for c in checks if c.status == "skipped")


def failure_reason(checks: tuple[Check, ...]) -> str:
    """The failed checks, named, in one line."""
    return "; ".join(f"{c.name}: {c.message}" for c in checks if c.failed)
