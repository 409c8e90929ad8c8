"""This tree against an earlier revision, side by side in one run: CLI start-up and `mlgate run`.

    .venv/bin/python -m benchmarks.bench_baseline [--rev REV] [--runs 15] [--pipeline-runs 3]
        [--quick]

The earlier revision (default: `BASELINE_REV`, the commit before the layered redesign) is
exported with `git archive` into a temporary directory and imported from there with
`PYTHONPATH`, by the same interpreter and the same installed dependencies as this tree. Every
round runs each case once for both trees, alternating which goes first, so background noise
falls on both alike; each ratio is the median of the per-round ratios (this/baseline).

Cases: `mlgate --help`, a usage error (`mlgate run --bogus`), and `mlgate run` on a fresh demo
project (init outside the timing). Targets: --help and usage errors < 0.3 s, and `mlgate run`
within 5% of the baseline. Writes benchmarks/RESULTS_baseline.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from benchmarks.summary import ROOT, Row, add_quick_flag, detail_path, this_command, write_summary

TIMEOUT_S = 3600
BASELINE_REV = "2a02b05"
CLI_TARGET_S = 0.3
RUN_TOLERANCE = 0.05
ENTRY = "import sys; from mlgate.cli import main; sys.exit(main(sys.argv[1:]))"


def export(rev: str, dest: Path) -> Path:
    """The `src/` of `rev`, exported from git."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def timed(src: Path, args: list[str], cwd: Path) -> float:
    """Seconds for one fresh `mlgate ARGS` process importing mlgate from `src`."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
        timeout=600,
    )
    return time.perf_counter() - start


def demo(src: Path, root: Path) -> Path:
    """A fresh demo project made by the tree at `src` (not timed)."""
    shutil.rmtree(root, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run(
        [sys.executable, "-c", ENTRY, "init", "--demo", str(root), "--force", "--no-dvc"],
        env=env,
        capture_output=True,
        check=True,
        timeout=600,
    )
    return root


def paired(rounds: int, measure: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Per tree, the times of `rounds` alternating rounds of `measure[name]()`."""
    times: dict[str, list[float]] = {name: [] for name in measure}
    names = list(measure)
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            times[name].append(measure[name]())
    return times


def ratio(times: dict[str, list[float]]) -> float:
    """Median of the per-round ratios this/baseline."""
    return statistics.median(a / b for a, b in zip(times["this"], times["baseline"], strict=True))


def main() -> None:
    """Measure, print, write the summary and RESULTS_baseline.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default=BASELINE_REV, help=f"baseline (default {BASELINE_REV})")
    parser.add_argument("--runs", type=int, default=15, help="CLI rounds (default 15)")
    parser.add_argument("--pipeline-runs", type=int, default=3, help="`mlgate run` rounds")
    add_quick_flag(parser, "5 CLI rounds and 1 pipeline round")
    args = parser.parse_args()
    cli_rounds = 5 if args.quick else args.runs
    run_rounds = 1 if args.quick else args.pipeline_runs
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-baseline-") as tmp:
        work = Path(tmp)
        base = work / "baseline"
        base.mkdir()
        trees = {"this": ROOT / "src", "baseline": export(args.rev, base)}
        results: dict[str, dict[str, list[float]]] = {}
        for label, argv in (("--help", ["--help"]), ("run --bogus", ["run", "--bogus"])):
            for src in trees.values():
                timed(src, argv, work)  # warm the page cache
            results[label] = paired(
                cli_rounds, {n: partial(timed, s, argv, work) for n, s in trees.items()}
            )

        def pipeline(name: str) -> float:
            root = demo(trees[name], work / f"demo-{name}")
            return timed(trees[name], ["run"], root)

        results["run (demo)"] = paired(run_rounds, {n: partial(pipeline, n) for n in trees})
    load = (load_before, os.getloadavg()[0])
    rows = summary_rows(results)
    for row in rows:
        print(f"{row.what}: {row.measured} (target {row.target}, met {row.met})")
    detail = detail_path("baseline", args.quick)
    detail.parent.mkdir(parents=True, exist_ok=True)
    detail.write_text(render(results, args.rev, load), encoding="utf-8")
    write_summary(rows, quick=args.quick)


def summary_rows(results: dict[str, dict[str, list[float]]]) -> list[Row]:
    """One row per case: this tree's median, and the paired ratio to the baseline."""
    rows = []
    for label, times in results.items():
        med = statistics.median(times["this"])
        r = ratio(times)
        measured = f"{med:.3f} s median ({r:.3f}x the baseline, paired)"
        if label == "run (demo)":
            rows.append(Row(f"`mlgate {label}`", "<= 1.05x baseline", measured, r <= 1.05))
        else:
            target = f"< {CLI_TARGET_S} s median"
            rows.append(Row(f"`mlgate {label}`", target, measured, med < CLI_TARGET_S))
    return rows


def render(results: dict[str, dict[str, list[float]]], rev: str, load: tuple[float, ...]) -> str:
    """benchmarks/RESULTS_baseline.md."""
    lines = [
        f"# This tree against {rev}: CLI start-up and `mlgate run` on the demo",
        "",
        "Command (from the repository root):",
        "",
        f"    {this_command()}",
        "",
        f"Baseline: `git archive {rev} src`, imported with PYTHONPATH by the same interpreter and",
        "dependencies. Rounds alternate which tree goes first; the ratio is the median of the",
        f"per-round ratios. Load average {load[0]:.2f} before, {load[1]:.2f} after.",
        "",
        "| case | this (median s) | baseline (median s) | ratio this/baseline | rounds |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, times in results.items():
        lines.append(
            f"| `mlgate {label}` | {statistics.median(times['this']):.3f} "
            f"| {statistics.median(times['baseline']):.3f} | {ratio(times):.3f} "
            f"| {len(times['this'])} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
