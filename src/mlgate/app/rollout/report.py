"""The report of a finished local release: every analysis window, and how the candidate's
predictions compared with the incumbent's over the whole rollout (the divergence report).

Two comparisons, as far as the variants allow:

- distributions, from Prometheus: predicted classes (or the value histogram) of each variant
  over the rollout, with the Jensen-Shannon distance, PSI and G-test of the analysis;
- request by request, from both servers' prediction logs, joined on the request id the
  splitter gives both (in shadow every request reaches both, so every one can be compared):
  agreement rate and the incumbent x candidate confusion table (regression: the differences).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.app.rollout.variants import selectors
from mlgate.core.escape import md_text
from mlgate.core.histograms import distribution_distance, g_test
from mlgate.core.records.predlog import unsigned_request_id
from mlgate.core.records.rollout import RolloutRecord, VariantRef
from mlgate.core.rollout import ended_as, is_paused, never_ran
from mlgate.errors import InfraError
from mlgate.store import atomic

if TYPE_CHECKING:
    from mlgate.app.rollout.ports import Observer

MAX_LOG_ROWS = 200_000


def distributions(
    observer: Observer, stable: VariantRef, canary: VariantRef, since: float
) -> dict[str, Any]:
    """Both variants' prediction distributions since `since`, and their distances."""
    window = max(1.0, time.time() - since)
    out: dict[str, dict[str, float]] = {}
    for role, variant in (("incumbent", stable), ("candidate", canary)):
        counts = observer.predictions(selectors(variant), window)
        out[role] = {key: round(v, 3) for key, v in counts.items()}
    a, b = out["incumbent"], out["candidate"]
    g, critical = g_test(a, b)
    return {
        "counts": out,
        "jensenshannon": distribution_distance(a, b, "jensenshannon"),
        "psi": distribution_distance(a, b, "psi"),
        "g_statistic": g,
        "g_critical": None if math.isinf(critical) else critical,
    }


def _read_log(directory: str | None) -> dict[str, list[Any]]:
    if directory is None:
        return {}
    found: dict[str, list[Any]] = {}
    for path in sorted(Path(directory).glob("predictions*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line being written as we read
                rid = unsigned_request_id(str(record.get("request_id")))
                found[rid] = list(record.get("predictions") or [])
                if len(found) >= MAX_LOG_ROWS:
                    return found
    return found


def agreement(stable: VariantRef, canary: VariantRef) -> dict[str, Any] | None:
    """Request-by-request comparison from the prediction logs; None without both logs."""
    if stable.log_dir is None or canary.log_dir is None:
        return None
    a, b = _read_log(stable.log_dir), _read_log(canary.log_dir)
    shared = sorted(set(a) & set(b))
    pairs = [(x, y) for rid in shared for x, y in zip(a[rid], b[rid], strict=False)]
    out: dict[str, Any] = {
        "incumbent_requests": len(a),
        "candidate_requests": len(b),
        "compared_requests": len(shared),
        "compared_rows": len(pairs),
    }
    if not pairs:
        return out
    numeric = all(isinstance(x, float) and isinstance(y, float) for x, y in pairs[:100])
    if numeric:
        diffs = sorted(abs(float(x) - float(y)) for x, y in pairs)
        out["mean_abs_difference"] = sum(diffs) / len(diffs)
        out["p95_abs_difference"] = diffs[min(len(diffs) - 1, int(0.95 * len(diffs)))]
        return out
    same = sum(x == y for x, y in pairs)
    confusion = Counter(f"{x}->{y}" for x, y in pairs)
    out["agreement"] = same / len(pairs)
    out["confusion"] = dict(sorted(confusion.items()))
    out["disagreeing_request_ids"] = [rid for rid in shared if a[rid] != b[rid]][:10]
    return out


def summary(rollout: RolloutRecord, candidate: VariantRef) -> dict[str, Any]:
    """The report's account of the rollout itself: outcome, reason, policy, every window."""
    return {
        "id": rollout.id,
        "strategy": rollout.strategy,
        "outcome": ended_as(rollout.phase, rollout.reason),
        "candidate": candidate.label,
        "incumbent": rollout.incumbent,
        "reason": rollout.reason,
        "required_checks": list(rollout.policy.required()),
        "never_ran": never_ran(rollout),
        "registry": rollout.registry_note,
        "policy": rollout.policy.model_dump(mode="json"),
        "started_at": rollout.started_at,
        "routed_at": rollout.routed_at,
        "reverted_at": rollout.reverted_at,
        "ended_at": rollout.ended_at,
        "history": [w.model_dump(mode="json") for w in rollout.history],
    }


def write(
    directory: Path,
    rollout: RolloutRecord,
    *,
    observer: Observer | None,
    stable: VariantRef,
    canary: VariantRef,
    outcome: str | None = None,
    override: dict[str, Any] | None = None,
) -> Path:
    """Write `release-<id>.json` and `.md` into `directory`; returns the JSON path. `outcome`
    says how it ended when the record cannot (`stopped`); `override`: who released the
    candidate past the release policy, why, and what it set aside."""
    report = {**summary(rollout, canary), **({"outcome": outcome} if outcome else {})}
    report["override"] = override
    if observer is not None:
        try:
            report["divergence"] = distributions(observer, stable, canary, rollout.started_at)
        except InfraError as exc:
            report["divergence"] = {"error": exc.message}
    report["agreement"] = agreement(stable, canary)
    path = directory / f"release-{rollout.id}.json"
    atomic.write_text(path, json.dumps(report, indent=2, default=str))
    atomic.write_text(path.with_suffix(".md"), markdown(rollout, report))
    return path


def markdown(rollout: RolloutRecord, report: dict[str, Any]) -> str:
    """The report for people: outcome, the divergence, then each window's checks."""
    # Labels, reasons and predicted classes come from the registry, servers and models:
    # shown as text, never as markup.
    lines = [
        f"# {md_text(rollout.strategy)} release of {md_text(report['candidate'])}: "
        f"{md_text(report['outcome'])}",
        "",
        f"- incumbent: {md_text(rollout.incumbent)}",
        f"- reason: {md_text(rollout.reason)}",
        f"- windows analysed: {len(rollout.history)}",
        f"- required checks: {md_text(', '.join(rollout.policy.required())) or '-'}",
        "- checks never run: "
        + (md_text("; ".join(f"{k} ({v})" for k, v in never_ran(rollout).items())) or "-"),
    ]
    if over := report.get("override"):
        lines.append(f"- override by {md_text(over['by'])}: {md_text(over['reason'])} (set "
                     f"aside: {md_text('; '.join(over['overridden']))})")  # fmt: skip
    lines += _divergence_lines(report.get("divergence") or {})
    lines += _agreement_lines(report.get("agreement") or {})
    lines += ["", "## Windows", "", "| weight | action | failed checks |", "| ---: | --- | --- |"]
    for window in rollout.history:
        failed = md_text(", ".join(window.failed_names())) or "-"
        action = "pause" if is_paused(window) else window.action
        lines.append(f"| {window.weight} | {md_text(action)} | {failed} |")
    return "\n".join(lines) + "\n"


def _divergence_lines(div: dict[str, Any]) -> list[str]:
    if "counts" not in div:
        return []
    lines = [
        "",
        "## Predictions, candidate vs incumbent",
        "",
        "| | incumbent | candidate |",
        "| --- | ---: | ---: |",
    ]
    counts = div["counts"]
    for key in sorted(set(counts["incumbent"]) | set(counts["candidate"])):
        lines.append(
            f"| {md_text(key)} | {counts['incumbent'].get(key, 0):.0f} | "
            f"{counts['candidate'].get(key, 0):.0f} |"
        )
    return [
        *lines,
        "",
        f"Jensen-Shannon distance {div['jensenshannon']:.4f}, PSI {div['psi']:.4f}.",
    ]


def _agreement_lines(agree: dict[str, Any]) -> list[str]:
    if "agreement" in agree:
        return [
            "",
            f"Same request, same answer: {agree['agreement']:.1%} of "
            f"{agree['compared_rows']} rows ({agree['compared_requests']} requests).",
        ]
    if "mean_abs_difference" in agree:
        return [
            "",
            f"Same request: mean absolute difference {agree['mean_abs_difference']:.4g} over "
            f"{agree['compared_rows']} rows.",
        ]
    return []
