"""`evaluate` and `decide(observations, policy)`: examples, then properties (hypothesis): a
failed check never promotes; the verdict never improves when the candidate's error rate or
divergence worsens."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgate.adapters.prometheus.query import Prometheus, Selectors, observe_variant
from mlgate.adapters.prometheus.scrape import Samples, window_of
from mlgate.core.canary import (
    Feedback,
    Observations,
    Progress,
    VariantWindow,
    evaluate,
    server_error,
)
from mlgate.core.histograms import distribution_distance, g_test, latency_greater, latency_quantile
from mlgate.core.policy import CanaryConfig
from mlgate.core.rollout import (
    Continue,
    Decision,
    NotPromoted,
    Promote,
    Rollback,
    decide,
    decide_unobserved,
)

pytestmark = pytest.mark.unit

POLICY = CanaryConfig(threshold=2, step_weight=20, max_weight=100, iterations=3, min_requests=20)


def window(
    requests: float = 500,
    errors: float = 0,
    latency_ms: float = 10,
    positives: float = 0.3,
    rows: float = 500,
    up: bool = True,
    **changes: object,
) -> VariantWindow:
    base = VariantWindow(
        up=up,
        requests=requests,
        errors=errors,
        latency_s=latency_ms / 1000,
        predictions={"1": rows * positives, "0": rows * (1 - positives)},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def obs(stable: VariantWindow | None = None, canary: VariantWindow | None = None,
        **progress: object) -> Observations:  # fmt: skip
    return Observations(
        stable=stable or window(),
        canary=canary or window(),
        progress=Progress(**progress),  # type: ignore[arg-type]
    )


def rank(d: Decision) -> int:
    """Rollback < hold (or not promoted) < step (or pause) < promote."""
    if isinstance(d, Rollback):
        return 0
    if isinstance(d, Promote):
        return 3
    if isinstance(d, NotPromoted):
        return 1
    return 1 if d.reason.startswith("held") else 2


def test_a_healthy_canary_steps_then_promotes_at_max_weight() -> None:
    step = decide(obs(weight=20), POLICY)
    assert isinstance(step, Continue)
    assert step.weight == 40
    final = decide(obs(weight=100), POLICY)
    assert isinstance(final, Promote)


def test_weights_never_pass_max_weight() -> None:
    policy = POLICY.model_copy(update={"step_weight": 30, "max_weight": 50})
    step = decide(obs(weight=30), policy)
    assert isinstance(step, Continue)
    assert step.weight == 50


def test_a_failed_check_holds_then_rolls_back_at_the_threshold() -> None:
    bad = window(errors=100)
    held = decide(obs(canary=bad, weight=20), POLICY)
    assert isinstance(held, Continue)
    assert (held.weight, held.failed_checks) == (20, 1)
    assert "error-rate" in held.reason
    gone = decide(obs(canary=bad, weight=20, failed_checks=1), POLICY)
    assert isinstance(gone, Rollback)
    assert "error-rate" in gone.reason
    assert "20%" in gone.reason


def test_a_down_candidate_and_no_traffic_fail() -> None:
    down = decide(obs(canary=window(up=False), failed_checks=1), POLICY)
    assert isinstance(down, Rollback)
    assert "canary-up" in down.reason
    quiet = evaluate(obs(canary=window(requests=3)), POLICY)
    traffic = next(c for c in quiet if c.name == "traffic")
    assert traffic.failed
    assert "3 /predict requests" in traffic.message


def test_latency_is_judged_alone_and_against_the_incumbent() -> None:
    checks = {c.name: c for c in evaluate(obs(canary=window(latency_ms=230)), POLICY)}
    assert checks["latency"].status == "passed"  # under 500 ms
    assert checks["latency-vs-incumbent"].failed  # but 220 ms slower than the incumbent
    assert checks["latency-vs-incumbent"].observed == pytest.approx(220)


def test_latency_quantile_follows_the_window_size() -> None:
    assert latency_quantile(10_000) == 0.99
    assert latency_quantile(50) == pytest.approx(0.9)
    assert latency_quantile(4) == 0.5
    message = {c.name: c for c in evaluate(replace(obs(), latency_quantile=0.9), POLICY)}
    assert "p90" in message["latency"].message


def test_a_shifted_model_fails_only_the_divergence_check() -> None:
    checks = evaluate(obs(canary=window(positives=0.7)), POLICY)
    failed = [c.name for c in checks if c.failed]
    assert failed == ["prediction-divergence"]


def test_divergence_waits_for_significance_in_a_small_window() -> None:
    # 30 % vs 45 %: a distance over 0.1, but 25 rows each cannot tell that from chance.
    small = evaluate(obs(window(rows=25), window(rows=25, positives=0.45)), POLICY)
    check = next(c for c in small if c.name == "prediction-divergence")
    assert check.status == "passed"
    assert "not significant" in check.message
    large = evaluate(obs(window(rows=2000), window(rows=2000, positives=0.45)), POLICY)
    assert next(c for c in large if c.name == "prediction-divergence").failed


def test_input_drift_and_online_accuracy() -> None:
    drifted = window(drifted={"age": True, "tenure": True, "region": False})
    check = next(c for c in evaluate(obs(canary=drifted), POLICY) if c.name == "input-drift")
    assert check.failed
    assert "age, tenure" in check.message
    # The same drift at the incumbent: the traffic moved, not the candidate's fault.
    both = evaluate(obs(stable=drifted, canary=drifted), POLICY)
    assert next(c for c in both if c.name == "input-drift").status == "passed"
    labels = {"stable": Feedback(correct=90, incorrect=10), "canary": Feedback(70, 30)}
    o = obs(window(feedback=labels["stable"]), window(feedback=labels["canary"]))
    accuracy = next(c for c in evaluate(o, POLICY) if c.name == "online-accuracy")
    assert accuracy.failed
    assert accuracy.observed == pytest.approx(0.2)
    few = obs(window(feedback=Feedback(9, 1)), window(feedback=Feedback(5, 5)))
    assert next(c for c in evaluate(few, POLICY) if c.name == "online-accuracy").status == "skipped"


def test_regression_accuracy_is_the_mean_absolute_error() -> None:
    s = window(feedback=Feedback(abs_error_sum=100, abs_error_count=100))
    c = window(feedback=Feedback(abs_error_sum=120, abs_error_count=100))
    check = next(x for x in evaluate(replace(obs(s, c), regression=True), POLICY)
                 if x.name == "online-accuracy")  # fmt: skip
    assert check.failed
    assert check.observed == pytest.approx(0.2)


def test_ab_and_shadow_promote_after_their_iterations() -> None:
    for strategy in ("ab", "shadow"):
        going = decide(obs(strategy=strategy, weight=50, iterations=1), POLICY)
        assert isinstance(going, Continue)
        assert (going.weight, going.iterations) == (50, 2)
        assert isinstance(decide(obs(strategy=strategy, iterations=2), POLICY), Promote)


def test_no_observations_count_as_a_failed_check() -> None:
    d = decide_unobserved(Progress(weight=40, failed_checks=1), POLICY, "prometheus down")
    assert isinstance(d, Rollback)
    assert "prometheus down" in d.reason


def test_distances_and_g_test() -> None:
    same = {"0": 70.0, "1": 30.0}
    assert distribution_distance(same, same, "jensenshannon") == 0.0
    assert distribution_distance(same, {"0": 30.0, "1": 70.0}, "psi") > 0.5
    g, critical = g_test({"0": 700.0, "1": 300.0}, {"0": 300.0, "1": 700.0})
    assert g > critical
    assert critical == pytest.approx(6.635, rel=0.01)  # chi-square(1) at p = 0.01
    assert g_test({"0": 5.0}, {"0": 7.0}) == (0.0, math.inf)


# --- properties ---------------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=5000).map(float)
shares = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
latencies = st.floats(min_value=0.1, max_value=2000, allow_nan=False)


@st.composite
def variant(draw: st.DrawFn) -> VariantWindow:
    requests = draw(counts)
    return window(
        requests=requests,
        errors=draw(st.floats(min_value=0, max_value=1)) * requests,
        latency_ms=draw(latencies),
        positives=draw(shares),
        rows=draw(counts),
        up=draw(st.booleans()),
        drifted=draw(st.none() | st.dictionaries(st.sampled_from("abcde"), st.booleans())),
        feedback=draw(st.none() | st.builds(Feedback, counts, counts)),
    )


@st.composite
def observations(draw: st.DrawFn) -> Observations:
    return Observations(
        stable=draw(variant()),
        canary=draw(variant()),
        progress=Progress(
            strategy=draw(st.sampled_from(["canary", "ab", "shadow"])),
            weight=draw(st.integers(0, 100)),
            failed_checks=draw(st.integers(0, 3)),
            iterations=draw(st.integers(0, 5)),
        ),
        regression=False,
    )


policies = st.builds(
    CanaryConfig,
    threshold=st.integers(1, 4),
    step_weight=st.integers(1, 100),
    max_weight=st.integers(1, 100),
    iterations=st.integers(1, 6),
    max_error_rate=st.floats(0, 20),
    min_requests=st.integers(1, 200),
)


@settings(max_examples=300, deadline=None)
@given(observations(), policies)
def test_a_failed_check_never_promotes(o: Observations, policy: CanaryConfig) -> None:
    decision = decide(o, policy)
    if any(c.failed for c in evaluate(o, policy)):
        assert not isinstance(decision, Promote)
        if o.progress.failed_checks + 1 >= policy.threshold:
            assert isinstance(decision, Rollback)
    else:
        assert not isinstance(decision, Rollback)


@settings(max_examples=300, deadline=None)
@given(observations(), policies, st.floats(min_value=0, max_value=1), st.floats(0, 1))
def test_more_errors_never_improve_the_verdict(
    o: Observations, policy: CanaryConfig, low: float, high: float
) -> None:
    low, high = sorted((low, high))
    n = o.canary.requests
    better = replace(o, canary=replace(o.canary, errors=low * n))
    worse = replace(o, canary=replace(o.canary, errors=high * n))
    assert rank(decide(worse, policy)) <= rank(decide(better, policy))


@settings(max_examples=300, deadline=None)
@given(observations(), policies, shares, shares, st.sampled_from([0.0, 1.0]))
def test_more_divergence_never_improves_the_verdict(
    o: Observations, policy: CanaryConfig, a: float, b: float, target: float
) -> None:
    # The canary's share of positives moves from the incumbent's towards 0 or 1, by a or b of
    # the way: the further it moves, the larger the distance (and the G statistic).
    near, far = sorted((a, b))
    base = o.stable.predictions.get("1", 0.0) / max(1e-9, sum(o.stable.predictions.values()))
    rows = sum(o.canary.predictions.values())

    def moved(t: float) -> Observations:
        p = base + t * (target - base)
        return replace(
            o, canary=replace(o.canary, predictions={"1": rows * p, "0": rows * (1 - p)})
        )

    closer, further = moved(near), moved(far)
    d_near = distribution_distance(o.stable.predictions, closer.canary.predictions, "jensenshannon")
    d_far = distribution_distance(o.stable.predictions, further.canary.predictions, "jensenshannon")
    assert d_far >= d_near - 1e-12
    assert rank(decide(further, policy)) <= rank(decide(closer, policy))


def test_latency_must_be_higher_beyond_chance_to_fail() -> None:
    fast = {0.005: 90.0, 0.01: 10.0}
    # Two slow requests in a busy second: the quantile jumps, the distribution does not.
    spiky = {0.005: 8.0, 0.01: 1.0, 0.25: 2.0}
    slow = {0.25: 20.0}  # every request +200 ms
    assert latency_greater(spiky, fast) > 0.01
    assert latency_greater(slow, fast) < 1e-6
    assert latency_greater({}, fast) == 1.0

    def judged(buckets: dict[float, float]) -> str:
        canary = window(latency_ms=240, latency_buckets=buckets)
        stable = window(latency_ms=9, latency_buckets=fast)
        checks = evaluate(obs(stable, canary), POLICY)
        return next(c for c in checks if c.name == "latency-vs-incumbent").status

    assert judged(spiky) == "passed"
    assert judged(slow) == "failed"


# --- the error rate counts the candidate's 5xx only ------------------------------------------

CLIENT_STATUSES = st.sampled_from(["400", "401", "403", "404", "409", "413", "415", "422", "499"])


def test_a_server_error_is_a_5xx_and_nothing_else() -> None:
    assert [
        s for s in ("200", "422", "499", "500", "503", "5", "5xx", "600") if server_error(s)
    ] == [
        "500",
        "503",
    ]


class Statuses(Prometheus):
    """Answers the request queries from answers by status, applying the query's own status
    matcher (as Prometheus would); every other series is empty."""

    def __init__(self, answers: dict[str, float]) -> None:
        super().__init__("http://statuses")
        self.answers = answers

    def query(self, promql: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        if not promql.startswith("sum(increase(mlgate_requests_total{"):
            return [({}, 1.0)] if promql.startswith("min(max_over_time(up") else []
        matcher = re.search(r'status=~"([^"]+)"', promql)
        picked = [
            n for s, n in self.answers.items() if matcher is None or re.fullmatch(matcher[1], s)
        ]
        return [({}, float(sum(picked)))]


@settings(max_examples=50, deadline=None)
@given(
    ok=st.integers(0, 1000),
    refused=st.dictionaries(CLIENT_STATUSES, st.integers(1, 100_000), min_size=1),
)
def test_client_errors_never_fail_a_candidate(ok: int, refused: dict[str, int]) -> None:
    """However many 4xx a window holds, from PromQL or from two scrapes, the error-rate check
    passes: they are traffic, not the candidate's failures."""
    answers = {"200": float(ok), **{s: float(n) for s, n in refused.items()}}
    window, _ = observe_variant(Statuses(answers), Selectors.same('pod="c"'), 10.0, 10.0)
    assert window.requests == sum(answers.values())
    before: Samples = {}
    after: Samples = {
        ("mlgate_requests_total", (("route", "/predict"), ("status", s))): n
        for s, n in answers.items()
    }
    for observed in (window, window_of(before, after)):
        assert observed.errors == 0
        check = next(c for c in evaluate(obs(canary=observed), POLICY) if c.name == "error-rate")
        assert check.status == "passed", check.message


def test_the_candidates_5xx_still_fail_it_beside_client_errors() -> None:
    answers = {"200": 900.0, "422": 5000.0, "500": 100.0}
    window, _ = observe_variant(Statuses(answers), Selectors.same('pod="c"'), 10.0, 10.0)
    assert (window.requests, window.errors) == (6000.0, 100.0)
    check = next(c for c in evaluate(obs(canary=window), POLICY) if c.name == "error-rate")
    assert check.failed
