"""`mlgate canary analyze`: one analysis window of a candidate against the incumbent, from
Prometheus or from the two servers' /metrics; the Flagger webhook calls the same."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.adapters.prometheus.query import Prometheus, Selectors, check_matchers, observe
from mlgate.adapters.prometheus.scrape import scrape_window
from mlgate.app.rollout.service import policy_from, project_at
from mlgate.core.canary import Check, Progress, evaluate
from mlgate.core.redact import redact_uri


@dataclass(frozen=True)
class AnalyzeOptions:
    """`mlgate canary analyze`: the two variants, where their metrics are, the window."""

    stable: str
    canary: str
    prometheus: str | None = None
    stable_selector: str | None = None
    canary_selector: str | None = None
    window: float | None = None
    config: Path | None = None
    policy: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisResult:
    """One window's verdict: passed when no check failed."""

    passed: bool
    checks: tuple[Check, ...]
    window_s: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "passed": self.passed,
            "window_s": self.window_s,
            "source": self.source,
            "checks": [c.to_dict() for c in self.checks],
        }


def analyze(options: AnalyzeOptions) -> AnalysisResult:
    """One analysis window of `canary` against `stable`: from Prometheus over the last window
    when `prometheus` is given, else by scraping both servers' /metrics across the window."""
    policy = policy_from(project_at(options.config), options.policy)
    window = options.window or policy.interval
    if options.prometheus:

        def selectors(url: str, given: str | None, flag: str) -> Selectors:
            if given:
                return Selectors.same(check_matchers(given, flag))
            return Selectors.of_instance(url)

        obs = observe(
            Prometheus(options.prometheus),
            selectors(options.stable, options.stable_selector, "--stable-selector"),
            selectors(options.canary, options.canary_selector, "--canary-selector"),
            progress=Progress(),
            window_s=window,
            since_s=window,
        )
        source = f"prometheus {redact_uri(options.prometheus)}"
    else:
        obs = scrape_window(options.stable, options.canary, window)
        source = "scraped /metrics"
    checks = evaluate(obs, policy)
    return AnalysisResult(not any(c.failed for c in checks), checks, window, source)
