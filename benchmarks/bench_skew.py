"""`mlgate monitor --skew` over 1,000,000 logged rows x 20 features, on one core, side by side
with the same monitor run without the skew check.

The log is the monitor's columnar form (Parquet segments of the normalised columns, what its
cache holds for rotated files: benchmarks/bench_monitor.py writes the same); the offline file is
Parquet of the same rows keyed by request id and row, with one feature computed in other units
(x100), which the check must name, and only it.

Run: `.venv/bin/python -m benchmarks.bench_skew [--quick]` (results:
benchmarks/RESULTS_skew.md). `--quick`: 100,000 rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_monitor import (
    CATEGORICAL,
    INTEGER,
    NUMERIC,
    _current,
    _one_core,
    make_bundle,
    write_parquet,
)
from benchmarks.summary import Row, add_quick_flag, detail_path, this_command, write_summary

TARGET_S = 5.0
SKEWED = NUMERIC[1]


def write_offline(path: Path, rows: int) -> None:
    """The logged rows as an offline pipeline computes them, one feature in other units."""
    frame, _p1 = _current(rows, seed=7)
    frame = frame[NUMERIC + INTEGER + CATEGORICAL].copy()
    frame[SKEWED] = frame[SKEWED] * 100
    frame.insert(0, "row", 0)
    frame.insert(0, "request_id", [f"{i:032x}" for i in range(rows)])
    frame.to_parquet(path, index=False)


def _timed(bundle: Path, logs: Path, skew: Path | None) -> tuple[float, Any]:
    from mlgate.app.monitor.run import MonitorRequest, run_monitor

    request = MonitorRequest(bundle_dir=bundle, logs=(logs,), since="all", skew=skew)
    started = time.perf_counter()
    result = run_monitor(request)
    return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_quick_flag(parser, "100,000 rows")
    args = parser.parse_args(argv)
    rows = 100_000 if args.quick else 1_000_000
    _one_core()
    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-skew-"))
    try:
        bundle, version = make_bundle(work)
        write_parquet(work / "logs", rows, version)
        write_offline(work / "offline.parquet", rows)
        _timed(bundle, work / "logs", None)  # warm: imports, the OS's file cache
        plain, _ = _timed(bundle, work / "logs", None)
        skewed, result = _timed(bundle, work / "logs", work / "offline.parquet")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    named = sorted(f.subject or "" for f in result.verdict.alerts if f.check == "skew")
    joined = {s.name: s.rows for s in result.observations.skew}
    right = named == [SKEWED] and set(joined.values()) == {rows}
    lines = [
        "# Training/serving skew: `monitor --skew` over the prediction log",
        "",
        "Command:",
        "",
        f"    {this_command()}",
        "",
        f"{rows:,} logged rows x 20 features (columnar log), an offline Parquet file of the same "
        f"rows with `{SKEWED}` in other units; one core (load average {os.getloadavg()[0]:.1f}). "
        "Wall seconds of `run_monitor`, after a warm-up run.",
        "",
        "| run | seconds |",
        "| --- | ---: |",
        f"| monitor | {plain:.2f} |",
        f"| monitor --skew | {skewed:.2f} |",
        "",
        f"The skew check adds {skewed - plain:.2f} s ({skewed / plain:.2f}x the monitor alone). "
        f"Alerts named: {', '.join(named) or 'none'} (expected: {SKEWED}); rows joined per "
        f"feature: {sorted(set(joined.values()))}.",
        "",
    ]
    detail = detail_path("skew", args.quick)
    detail.parent.mkdir(parents=True, exist_ok=True)
    detail.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    write_summary(
        [
            Row(
                what=f"monitor --skew over {rows:,} logged rows, one core",
                target=f"<= {TARGET_S:g} s",
                measured=f"{skewed:.2f} s ({skewed / plain:.2f}x monitor alone, {plain:.2f} s)",
                met=skewed <= TARGET_S,
            ),
            Row(
                what="the skewed feature named, and only it",
                target=SKEWED,
                measured=", ".join(named) or "none",
                met=right,
            ),
        ],
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
