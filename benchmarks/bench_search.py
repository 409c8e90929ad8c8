"""Hyperparameter search on this machine: a 16-trial `model.search` on the demo, its trials one
at a time (`n_jobs: 1`) and two at a time (`n_jobs: 2`, worker processes), same split, same
folds. Measures the wall time of each and their ratio, and checks both give the same trial table
and winner (the search is deterministic whatever runs it).

Run: `.venv/bin/python -m benchmarks.bench_search [--quick]` (results:
benchmarks/RESULTS_search.md). `--quick`: 4 trials on 1,200 rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.summary import Row, add_quick_flag, detail_path, this_command, write_summary
from mlgate.app.scaffold import init_demo
from mlgate.core.records.lineage import SearchRecord
from mlgate.model.search import LocalRunner, search
from mlgate.model.target import labelled_rows, positive_class
from mlgate.model.train import feature_specs, resolve_task, split_data
from mlgate.store.files import read_schema
from mlgate.store.project import load_project
from mlgate.store.tables import load_table

TIMEOUT_S = 1800
GRID = {"max_depth": [4, 8, 12, 16], "min_samples_leaf": [1, 2, 5, 10]}


def _config_text(text: str, trials: int) -> str:
    values = "".join(f"      {k}: {v}\n" for k, v in GRID.items())
    search_block = f"  search:\n    params:\n{values}    trials: {trials}\n"
    text = text.replace("    n_estimators: 100\n", "    n_estimators: 50\n")
    return text.replace("    n_jobs: -1\n", f"    n_jobs: 1\n{search_block}")


def _timed(root: Path, runner: LocalRunner) -> tuple[float, SearchRecord]:
    project = load_project(root)
    config, frame = project.config, load_table(project.data_path)
    features = feature_specs(config, read_schema(project.schema_path), frame)
    labelled, _ = labelled_rows(config, frame)
    task = resolve_task(config, labelled[config.data.target])
    split = split_data(config, task, labelled, features)
    positive = positive_class(config, task, split.y_train)
    started = time.perf_counter()
    _won, record = search(config, task, features, split, positive, runner)
    return time.perf_counter() - started, record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_quick_flag(parser, "4 trials on 1,200 rows")
    args = parser.parse_args(argv)
    rows, trials = (1200, 4) if args.quick else (3000, 16)
    load = os.getloadavg()[0]  # other work on the machine takes cores from the parallel run
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        init_demo(root, rows=rows)
        path = root / "mlgate.yaml"
        path.write_text(_config_text(path.read_text(), trials))
        sequential, one = _timed(root, LocalRunner(1))
        parallel, two = _timed(root, LocalRunner(2))
        threaded, three = _timed(root, LocalRunner(2, processes=False))
    same = one == two == three
    ratio = sequential / parallel
    winner = one.trials[one.winner]
    lines = [
        "# Hyperparameter search: trials one at a time vs two at a time",
        "",
        "Command:",
        "",
        f"    {this_command()}",
        "",
        f"The demo ({rows} rows, default `model.imbalance: auto`, so every fold fit tunes a "
        f"decision threshold), a forest of 50 trees, a {trials}-trial search over "
        f"{', '.join(f'{k} {v}' for k, v in GRID.items())}, {one.folds} folds of the training "
        f"rows, ranked by {one.metric}. Wall time of the search alone (`LocalRunner`), on "
        f"{os.cpu_count()} cores (load average {load:.1f} when it started: a machine whose "
        "cores are busy with other work shows less of a speed-up).",
        "",
        "| n_jobs | runs in | seconds | per trial |",
        "| ---: | --- | ---: | ---: |",
        f"| 1 | this process | {sequential:.1f} | {sequential / trials:.2f} |",
        f"| 2 | worker processes | {parallel:.1f} | {parallel / trials:.2f} |",
        f"| 2 | threads (the project's own code) | {threaded:.1f} | {threaded / trials:.2f} |",
        "",
        f"Speed-up: {ratio:.2f}x in processes, {sequential / threaded:.2f}x in threads. "
        f"Same trial table and winner: {'yes' if same else 'NO'} "
        f"(winner: {winner.params}, {one.metric} {winner.mean:.4f} ± {winner.std:.4f}).",
        "",
    ]
    detail = detail_path("search", args.quick)
    detail.parent.mkdir(parents=True, exist_ok=True)
    old = detail.read_text(encoding="utf-8") if detail.is_file() else ""
    analysis = old[old.find("\n## ") :] if "\n## " in old else ""  # written by hand, kept
    detail.write_text("\n".join(lines) + analysis, encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {detail}", file=sys.stderr)
    write_summary(
        [
            Row(
                what=f"{trials}-trial search, n_jobs 2 vs 1 (speed-up)",
                target="> 1.3x on 2 cores",
                measured=f"{ratio:.2f}x ({sequential:.1f} s / {parallel:.1f} s)",
                met=ratio > 1.3,
            ),
            Row(
                what="the same trial table and winner with 1 and 2 jobs",
                target="identical",
                measured="identical" if same else "different",
                met=same,
            ),
        ],
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
