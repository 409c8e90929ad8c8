"""What the paired-bootstrap champion gate adds to `mlgate run` on the demo.

A demo project (12,000 rows, holdout 2,400) with a promoted champion: the gate stage of
`mlgate run` (champion re-evaluated on the holdout, baseline, gates) is timed alternately with
`evaluation.bootstrap_resamples: 1000` (the default) and 0 (point estimates, as before); the
difference of the medians is what the bootstrap adds to a run; target: under 1 s. Whole runs
(noisier: training dominates) and one interval alone are shown too.

Run: `.venv/bin/python -m benchmarks.bench_gate [--quick]` (results:
benchmarks/RESULTS_gate.md). `--quick`: 3,000 demo rows, one round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from benchmarks.summary import Row, add_quick_flag, detail_path, write_summary

TIMEOUT_S = 900
GATE_REPEATS = 7


def _set_resamples(root: Path, resamples: int) -> None:
    path = root / "mlgate.yaml"
    text = path.read_text()
    marker = "\nevaluation:\n"
    if marker in text:
        text = text[: text.index(marker)]
    path.write_text(text.rstrip("\n") + f"\nevaluation:\n  bootstrap_resamples: {resamples}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=12_000)
    parser.add_argument("--rounds", type=int, default=2)
    add_quick_flag(parser, "3,000 demo rows, one round (the target is for the 12,000-row demo)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.rounds = 3000, 1
    load_before = os.getloadavg()[0]

    from mlgate.adapters.mlflow import TRACKING_URI_ENV, open_registry
    from mlgate.app.champion import champion_for_gate
    from mlgate.app.gate import run_gate
    from mlgate.app.run import run_with_registry
    from mlgate.app.scaffold import init_demo
    from mlgate.core.bootstrap import Outputs, improvement_interval
    from mlgate.store.project import load_project
    from mlgate.store.tables import load_table

    os.environ.pop(TRACKING_URI_ENV, None)
    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-gate-"))
    try:
        root = work / "demo"
        init_demo(root, rows=args.rows)
        first = run_with_registry(load_project(root))
        assert first.passed
        assert first.registered is not None
        registered = first.registered
        open_registry(root).promote(
            registered.name, registered.version, reason="benchmark", actor="bench"
        )
        times: dict[int, list[float]] = {1000: [], 0: []}
        for _ in range(args.rounds):
            for resamples in (1000, 0):
                _set_resamples(root, resamples)
                t0 = time.perf_counter()
                result = run_with_registry(load_project(root), register=False)
                times[resamples].append(time.perf_counter() - t0)
                assert result.run.gate is not None
                assert result.run.gate.champion is not None
        training = result.run.training
        assert training is not None
        split = training.split
        out = Outputs(training.holdout_predictions, training.holdout_probabilities)
        # The gate stage alone, as `mlgate run` calls it (champion downloaded, challenger's
        # holdout outputs handed over), with and without the bootstrap: what the bootstrap adds.
        with tempfile.TemporaryDirectory() as tmp:
            _, champion = champion_for_gate(open_registry(root), registered.name, Path(tmp))
            frame = load_table(load_project(root).data_path)
            stage: dict[int, list[float]] = {1000: [], 0: []}
            for _ in range(GATE_REPEATS):
                for resamples in (1000, 0):
                    _set_resamples(root, resamples)
                    project = load_project(root)
                    t0 = time.perf_counter()
                    run_gate(
                        project,
                        champion=champion,
                        frame=frame,
                        split=split,
                        write=False,
                        outputs=out,
                    )
                    stage[resamples].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        interval = improvement_interval(
            "roc_auc",
            "binary",
            split.y_test.to_numpy(),
            out,
            out,
            classes=training.meta.classes,
            positive=training.meta.positive_label,
            higher_is_better=True,
            relative=False,
            resamples=1000,
            confidence=0.95,
            seed=42,
        )
        alone = time.perf_counter() - t0
        holdout = len(split.y_test)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()[0]
    with_b, without = min(times[1000]), min(times[0])
    gate_with, gate_without = median(stage[1000]), median(stage[0])
    added = gate_with - gate_without
    lines = [
        "# The paired-bootstrap champion gate",
        "",
        "Command:",
        "",
        f"    .venv/bin/python -m benchmarks.bench_gate --rows {args.rows} --rounds {args.rounds}",
        "",
        f"`mlgate run` (validate, train, gate against the promoted champion; no registration) on "
        f"the demo, {args.rows:,} rows, holdout {holdout:,} rows; best of {args.rounds} runs "
        f"each, alternating, 2 cores, same run; load average {load_before:.1f} before, "
        f"{load_after:.1f} after (the machine is shared: the difference of two best times is "
        "noisy, the interval timed alone is the cost itself).",
        "",
        "| | seconds |",
        "| --- | ---: |",
        f"| gate stage of `mlgate run` with the champion, bootstrap_resamples 1000 (median of "
        f"{GATE_REPEATS}) | {gate_with:.3f} |",
        f"| gate stage, bootstrap_resamples 0 (point estimates) | {gate_without:.3f} |",
        f"| **added by the bootstrap** | **{added:+.3f}** |",
        f"| whole `mlgate run`, bootstrap 1000 (best of {args.rounds}) | {with_b:.2f} |",
        f"| whole `mlgate run`, bootstrap 0 (best of {args.rounds}) | {without:.2f} |",
        f"| one ROC-AUC interval alone (1000 paired resamples of {holdout:,} rows) | {alone:.3f} |",
        "",
        f"Target: adds under 1 s: **{'met' if added < 1.0 else 'NOT met'}**. "
        f"(Self-comparison interval: [{interval.low:+.4f}, {interval.high:+.4f}].)",
        "",
        "All runs: "
        + ", ".join(f"{k}: " + " ".join(f"{t:.2f}" for t in v) for k, v in times.items()),
        "",
    ]
    detail = detail_path("gate", args.quick)
    detail.parent.mkdir(parents=True, exist_ok=True)
    detail.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {detail}", file=sys.stderr)
    write_summary(
        [
            Row(
                what=f"paired-bootstrap champion gate added to `mlgate run` (demo, "
                f"{args.rows:,} rows)",
                target="< 1 s (12,000 rows)",
                measured=f"{added:+.3f} s (gate stage, median of {GATE_REPEATS}); one "
                f"interval alone {alone:.3f} s",
                met=None if args.quick else added < 1.0,
            )
        ],
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
