"""Time `mlgate init --data` on 1,000,000 rows x 30 columns against pandas reading the CSV.

The table mixes what real exports hold: an id, a date, a free-text column, floats with gaps,
integers, low- and high-cardinality categories, a flag and a binary target. `init` reads it,
infers roles, kinds, ranges and categories, profiles it, checks it for leaks and writes the
project. The baseline is `pandas.read_csv` on the same file in the same run (the default C
parser; pandas' pyarrow engine, which `init` itself uses, is shown too). Target: init within
3x the time of the read.

Run: `.venv/bin/python -m benchmarks.bench_init [--quick]` (results:
benchmarks/RESULTS_init.md). `--quick`: 100,000 rows, one repeat.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.summary import Row, add_quick_flag, detail_path, write_summary

TIMEOUT_S = 1500
QUICK_ROWS = 100_000
WORDS = np.array(
    [
        *("the", "a", "late", "early", "order", "parcel", "damaged", "arrived", "refund"),
        *("please", "thanks", "box", "blue", "item", "never", "again", "great", "service"),
        *("slow", "fast", "customer", "called", "twice", "wrong", "size", "colour"),
    ]
)


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Write the 30-column table: id, date, text, 12 floats, 8 ints, 6 categories, flag, y."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {
        "order_id": np.char.add("O", np.arange(rows).astype(str)),
        "ordered_at": (
            np.datetime64("2022-01-01") + rng.integers(0, 900, rows).astype("timedelta64[D]")
        ).astype(str),
        "comment": [
            " ".join(WORDS[rng.integers(0, WORDS.size, 6)]) + f" #{i}" for i in range(rows)
        ],
    }
    for i in range(12):
        values = rng.normal(50.0 * i, 10.0 + i, rows).round(3)
        if i % 3 == 0:
            values[rng.random(rows) < 0.02] = np.nan
        columns[f"x{i}"] = values
    for i in range(8):
        columns[f"n{i}"] = rng.poisson(3 + i, rows)
    for i in range(5):
        levels = np.array([f"L{i}_{k}" for k in range(4 + 3 * i)])
        columns[f"c{i}"] = levels[rng.integers(0, levels.size, rows)]
    zips = np.array([f"{k:05d}" for k in rng.integers(0, 99999, 800)])
    columns["zip"] = zips[rng.zipf(1.3, rows) % zips.size]
    columns["member"] = rng.random(rows) < 0.4
    logit = 0.02 * (columns["x1"] - 50) + 0.3 * (columns["member"]) - 1.0  # type: ignore[operator]
    columns["y"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    pd.DataFrame(columns).to_csv(path, index=False)


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    add_quick_flag(parser, f"{QUICK_ROWS:,} rows, one repeat (the target is for 1,000,000)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.repeats = QUICK_ROWS, 1
    load_before = os.getloadavg()[0]

    from mlgate.app.scaffold import init_from_data

    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-init-"))
    try:
        csv = work / "orders.csv"
        make_csv(csv, args.rows)
        mb = csv.stat().st_size / 1e6
        read_c = best_of(args.repeats, lambda: pd.read_csv(csv))
        read_arrow = best_of(args.repeats, lambda: pd.read_csv(csv, engine="pyarrow"))
        counter = iter(range(1000))

        def init() -> object:
            return init_from_data(work / f"p{next(counter)}", data=csv, target="y")

        result = init_from_data(work / "shown", data=csv, target="y")
        seconds = best_of(args.repeats, init)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()[0]
    assert result.schema is not None
    roles = {c.name: c.role for c in result.schema.columns if c.role != "feature"}
    kinds = {c.name: c.kind for c in result.schema.columns if c.kind == "datetime"}
    ratio = seconds / read_c
    lines = [
        "# `mlgate init --data` on a large table",
        "",
        "Command:",
        "",
        f"    .venv/bin/python -m benchmarks.bench_init --rows {args.rows} "
        f"--repeats {args.repeats}",
        "",
        f"{args.rows:,} rows x 30 columns ({mb:.0f} MB CSV: an id, a date, free text, 12 floats "
        "with gaps, 8 counts, 5 categories, a zip code with 800 values, a flag, a binary "
        f"target), best of {args.repeats}, 2 cores, same run; load average "
        f"{load_before:.1f} before, {load_after:.1f} after (the machine is shared).",
        "",
        "| step | seconds | vs pandas.read_csv |",
        "| --- | ---: | ---: |",
        f"| `pandas.read_csv` (C parser, the baseline) | {read_c:.2f} | 1.00x |",
        f'| `pandas.read_csv(engine="pyarrow")` | {read_arrow:.2f} | {read_arrow / read_c:.2f}x |',
        f"| `init_from_data` (read, roles, schema, profile, leak check, files) | {seconds:.2f} "
        f"| **{ratio:.2f}x** |",
        "",
        f"Target: within 3x of the read: **{'met' if ratio <= 3 else 'NOT met'}** ({ratio:.2f}x).",
        "",
        f"Roles inferred: {roles}; dates: {kinds}.",
        "",
    ]
    detail = detail_path("init", args.quick)
    detail.parent.mkdir(parents=True, exist_ok=True)
    detail.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {detail}", file=sys.stderr)
    write_summary(
        [
            Row(
                what=f"`init --data` on {args.rows:,} x 30 (id, date, text, mixed) vs "
                "`pandas.read_csv` of the same file",
                target="<= 3x (1,000,000 rows)",
                measured=f"{ratio:.2f}x ({seconds:.1f} s vs {read_c:.1f} s)",
                met=None if args.quick else ratio <= 3,
            )
        ],
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
