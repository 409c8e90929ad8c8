"""The fit and a 16-trial search of the demo on a local Ray cluster (a head with two worker
slots) against the same work sequentially in one process, and Ray's fixed cost for one fit.

Both sides run in the same process, one after the other, through the use case's own choice
(`app.compute.fit_where`): local with `compute.engine: local` (the search `n_jobs: 1`), then on
the cluster; the Ray side includes connecting (`ray.init`), the version check, shipping the
data, and disconnecting. Checks that both give the same trial table and the same holdout
predictions. From the measured per-trial time and overhead it writes, on paper, trials per
hour against the number of workers.

The cluster runs in a network namespace of its own (tests/raycluster.py), so this needs root;
the benchmark re-runs itself inside the namespace to measure.

Run: `.venv/bin/python -m benchmarks.bench_cluster [--quick]` (results:
benchmarks/RESULTS_cluster.md). `--quick`: 4 trials on 1,200 rows.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tests import raycluster

from benchmarks.summary import Row, add_quick_flag, detail_path, this_command, write_summary
from mlgate.app.compute import fit_where
from mlgate.app.scaffold import init_demo
from mlgate.core.compute import ComputeConfig
from mlgate.core.config import Config
from mlgate.store.files import read_schema
from mlgate.store.project import load_project
from mlgate.store.tables import load_table

GRID = {"max_depth": [4, 8, 12, 16], "min_samples_leaf": [1, 2, 5, 10]}
REPEATS = 3


def _config_text(text: str, trials: int) -> str:
    values = "".join(f"      {k}: {v}\n" for k, v in GRID.items())
    search_block = f"  search:\n    params:\n{values}    trials: {trials}\n"
    return text.replace("    n_jobs: -1\n", f"    n_jobs: 1\n{search_block}")


def _timed(config: Config, schema: Any, frame: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    fitted, _record = fit_where(config, schema, frame)
    return time.perf_counter() - started, fitted


def _measure(rows: int, trials: int, address: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        init_demo(root, rows=rows)
        path = root / "mlgate.yaml"
        path.write_text(_config_text(path.read_text(), trials))
        project = load_project(root)
        schema, frame = read_schema(project.schema_path), load_table(project.data_path)
    searching = project.config
    one_fit = searching.model_copy(
        update={"model": searching.model.model_copy(update={"search": None})}
    )
    on_ray = ComputeConfig(engine="ray", address=address)

    def ray(config: Config) -> Config:
        return config.model_copy(update={"compute": on_ray})

    results: dict[str, Any] = {}
    for name, config in (
        ("fit_local", one_fit),
        ("fit_ray", ray(one_fit)),
        ("search_local", searching),
        ("search_ray", ray(searching)),
    ):
        repeats = REPEATS if name.startswith("fit") else 1  # a search takes minutes
        runs = [_timed(config, schema, frame) for _ in range(repeats)]
        results[name] = statistics.median(t for t, _ in runs)
        results[f"{name}_fitted"] = runs[0][1]
    return results


def _same(a: Any, b: Any) -> bool:
    return bool(
        a.search == b.search
        and np.array_equal(np.asarray(a.predictions), np.asarray(b.predictions))
        and np.array_equal(np.asarray(a.probabilities), np.asarray(b.probabilities))
    )


def _outer_command() -> str:
    """The command that ran this benchmark (this process is its re-run inside the namespace)."""
    words = this_command().split(" ")
    at = words.index("--inside")
    return " ".join(words[:at] + words[at + 2 :])


def _report(rows: int, trials: int, r: dict[str, Any], quick: bool) -> None:
    overhead = r["fit_ray"] - r["fit_local"]
    speedup = r["search_local"] / r["search_ray"]
    same = _same(r["search_local_fitted"], r["search_ray_fitted"]) and _same(
        r["fit_local_fitted"], r["fit_ray_fitted"]
    )
    # One trial's time on one worker, from the sequential search (trials + the final fit).
    per_trial = (r["search_local"] - r["fit_local"]) / trials
    folds = r["search_local_fitted"].search.folds
    lines = [
        "# Ray: the fit and a search on a local 2-worker cluster vs one process",
        "",
        "Command:",
        "",
        f"    {_outer_command()}",
        "",
        f"The demo ({rows:,} rows), its forest of 100 trees, a {trials}-trial search over "
        f"{', '.join(f'{k} {v}' for k, v in GRID.items())} ({folds} folds each), "
        f"on {os.cpu_count()} cores shared by the Ray head, its two workers and the driver "
        f"(load average {os.getloadavg()[0]:.1f} at the end). Wall seconds of `fit_where` "
        f"(connect, version check, data, tasks, disconnect): one fit the median of {REPEATS} "
        "runs, the search one run.",
        "",
        "| work | one process | Ray, 2 workers | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| one fit | {r['fit_local']:.2f} | {r['fit_ray']:.2f} | "
        f"{r['fit_local'] / r['fit_ray']:.2f}x |",
        f"| {trials}-trial search + fit | {r['search_local']:.2f} | {r['search_ray']:.2f} | "
        f"{speedup:.2f}x |",
        "",
        f"Ray's fixed cost for one fit: {overhead:.2f} s. Same trial table and holdout "
        f"predictions, bit for bit: {'yes' if same else 'NO'}.",
        "",
        "## Trials per hour against workers, on paper",
        "",
        f"From the measured {per_trial:.2f} s per trial on one worker and the {overhead:.2f} s "
        "fixed cost; a run of N trials on W workers takes about overhead + ceil(N / W) x "
        "per-trial + the final fit (assuming each worker has a core of its own and the data "
        "fits each node's object store).",
        "",
        "| workers | trials per hour | a 256-trial search |",
        "| ---: | ---: | ---: |",
    ]
    for workers in (1, 2, 4, 8, 16, 32, 64):
        hour = 3600 / per_trial * workers
        run = overhead + math.ceil(256 / workers) * per_trial + r["fit_local"]
        lines.append(f"| {workers} | {hour:,.0f} | {run / 60:.1f} min |")
    lines.append("")
    detail = detail_path("cluster", quick)
    detail.parent.mkdir(parents=True, exist_ok=True)
    detail.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    write_summary(
        [
            Row(
                what=f"{trials}-trial search, Ray 2 workers vs one process",
                target=">= 1.6x on 2 cores",
                measured=f"{speedup:.2f}x ({r['search_local']:.1f} s / {r['search_ray']:.1f} s)",
                met=speedup >= 1.6,
            ),
            Row(
                what="Ray's fixed cost for one fit",
                target="<= 3 s",
                measured=f"{overhead:.2f} s",
                met=overhead <= 3.0,
            ),
            Row(
                what="the same trial table and predictions on Ray",
                target="identical",
                measured="identical" if same else "different",
                met=same,
            ),
        ],
        quick=quick,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_quick_flag(parser, "4 trials on 1,200 rows")
    parser.add_argument("--inside", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rows, trials = (1200, 4) if args.quick else (12_000, 16)
    if args.inside:
        _report(rows, trials, _measure(rows, trials, args.inside), args.quick)
        return
    why = raycluster.unavailable()
    if why is not None:
        sys.exit(f"bench_cluster: {why}")
    cluster = raycluster.start(cpus=2)
    try:
        argv_inside = ["-m", "benchmarks.bench_cluster", "--inside", cluster.address]
        done = cluster.run(
            sys.executable, *argv_inside, *(["--quick"] if args.quick else []), env=dict(os.environ)
        )
    finally:
        cluster.stop()
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr[-4000:])
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
