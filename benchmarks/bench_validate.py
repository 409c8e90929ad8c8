"""Time the data gate on 1,000,000 rows x 20 columns on one core.

Run: `.venv/bin/python -m benchmarks.bench_validate [--quick]` (results:
benchmarks/RESULTS_validate.md). `--quick`: 100,000 rows and a 20,000-row reference sample.
"""

from __future__ import annotations

import os

# One core, one BLAS thread: set before numpy is imported so its thread pools obey.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from benchmarks.summary import Row, add_quick_flag, write_summary
from mlgate.core.config import DriftConfig
from mlgate.core.drift import detect_drift
from mlgate.core.infer import infer_schema
from mlgate.core.profile import build_profile
from mlgate.core.schemacheck import check_schema
from mlgate.core.validate import validate_data

TIMEOUT_S = 900
TARGET_S = 3.0
ROWS = 1_000_000
REFERENCE_ROWS = 200_000
QUICK_ROWS = 100_000
QUICK_REFERENCE_ROWS = 20_000
REPEATS = 3
CATEGORIES = np.array(["north", "south", "east", "west", "a1", "b2", "c3", "d4", "e5", "f6"])


def make_frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """8 float (half with 1% nulls), 4 int, 7 categorical (10 levels, some nulls), 1 target."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(8):
        values = np.clip(rng.normal(shift, 1.0, rows), -3, 3)
        if i % 2:
            values[rng.random(rows) < 0.01] = np.nan
        columns[f"num_{i}"] = values
    for i in range(4):
        columns[f"int_{i}"] = rng.integers(0, 100, rows)
    for i in range(7):
        labels = pd.Series(CATEGORIES[rng.integers(0, CATEGORIES.size, rows)], dtype="str")
        if i % 2:
            labels[rng.random(rows) < 0.01] = None
        columns[f"cat_{i}"] = labels
    columns["target"] = rng.integers(0, 2, rows)
    return pd.DataFrame(columns)


def make_dirty(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    """A copy with `share` of the rows out of range, unseen or null in four columns."""
    dirty = frame.copy()
    bad = np.random.default_rng(4).random(len(frame)) < share
    dirty.loc[bad, "num_0"] = 99.0
    dirty.loc[bad, "int_0"] = -1
    dirty.loc[bad, "cat_0"] = "unseen"
    dirty.loc[bad, "num_2"] = np.nan
    return dirty


def best_of(fn: Callable[[], object]) -> float:
    """Best wall time of REPEATS runs, in seconds."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Build schema and profile from a reference sample, then time the gate on fresh data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_quick_flag(parser, f"{QUICK_ROWS:,} rows (the target is for {ROWS:,})")
    args = parser.parse_args()
    rows_n = QUICK_ROWS if args.quick else ROWS
    reference = make_frame(QUICK_REFERENCE_ROWS if args.quick else REFERENCE_ROWS, seed=1)
    schema = infer_schema(reference, target="target")
    profile = build_profile(reference, schema)
    current = make_frame(rows_n, seed=2)
    shifted = make_frame(rows_n, seed=3, shift=0.5)
    dirty = make_dirty(current, 0.01)
    very_dirty = make_dirty(current, 0.3)
    config = DriftConfig()
    # Warm up lazy imports (pandera, scipy) so the timings measure the work.
    validate_data(current.head(1000), schema, profile, config)

    rows = [
        ("check_schema (clean)", best_of(lambda: check_schema(current, schema))),
        ("check_schema (1% bad in 4 columns)", best_of(lambda: check_schema(dirty, schema))),
        ("check_schema (30% bad in 4 columns)", best_of(lambda: check_schema(very_dirty, schema))),
        ("detect_drift (clean)", best_of(lambda: detect_drift(profile, current, config))),
        ("validate_data (clean)", best_of(lambda: validate_data(current, schema, profile, config))),
        (
            "validate_data (shifted +0.5 std)",
            best_of(lambda: validate_data(shifted, schema, profile, config)),
        ),
    ]
    clean = validate_data(current, schema, profile, config)
    drifted = validate_data(shifted, schema, profile, config)
    print(f"{rows_n:,} rows x {current.shape[1]} columns, one core, best of {REPEATS}")
    print(f"{'step':<36} {'seconds':>8}")
    for name, seconds in rows:
        print(f"{name:<36} {seconds:>8.3f}")
    print(f"dirty frames: {len(check_schema(dirty, schema))} violations each")
    print(f"clean: passed={clean.passed}, violations={len(clean.violations)}")
    print(
        f"shifted (8 float features of 19): passed={drifted.passed}, "
        f"violations={len(drifted.violations)}, drifted={len(drifted.drift.drifted_columns)}"
    )
    seconds = dict(rows)["validate_data (clean)"]
    row = Row(
        what=f"validation of {rows_n:,} x {current.shape[1]} (schema + drift), one core",
        target=f"< {TARGET_S:g} s at {ROWS:,} rows",
        measured=f"{seconds:.2f} s (best of {REPEATS})",
        met=seconds < TARGET_S if rows_n == ROWS else None,
    )
    write_summary([row], quick=args.quick)


if __name__ == "__main__":
    main()
