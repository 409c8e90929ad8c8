"""Serving a LightGBM model of 500 trees: `mlgate serve` (ONNX Runtime) against the article's app
serving the same model with joblib, one core each.

The model is trained once by mlgate (`lightgbm.LGBMClassifier` as `model.estimator`, 500 rounds,
`model.early_stopping: never`, 20 numeric features) and exported to ONNX, checked for parity;
the naive app (`benchmarks/serve/naive_server.py`: FastAPI, `joblib.load`, one `predict` per
request) loads the very LGBMClassifier inside the bundle's Pipeline, pickled with joblib. Both
servers run pinned to core 0 with one worker and one thread, the load generator (wrk, else a
bounded Python client) to core 1, exactly as `benchmarks.serve.run` measures the forest.

Run: `.venv/bin/python -m benchmarks.bench_serve_lightgbm [--seconds 5] [--quick]` (results:
benchmarks/RESULTS_serve_lightgbm.md). `--quick`: 1 s per load run instead of 5.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.serve.run import (
    ROOT,
    Load,
    free_port,
    python_load,
    rss_mib,
    start,
    stop,
    wrk,
)
from benchmarks.summary import Row, add_quick_flag, detail_path, this_command, write_summary

FEATURES = 20
TREES = 500
TARGET = 20.0  # the target: single rows at 8 connections, mlgate / naive


def make_model(work: Path) -> tuple[Path, Path, list[list[float]]]:
    """The bundle (with model.onnx) and the same LightGBM model pickled with joblib."""
    import joblib
    import pandas as pd
    from sklearn.datasets import make_classification

    from mlgate.app.scaffold import init_from_data
    from mlgate.app.train import train
    from mlgate.store.project import load_project

    x, y = make_classification(
        n_samples=5000, n_features=FEATURES, n_informative=10, random_state=0
    )
    frame = pd.DataFrame(x.round(4), columns=[f"f{i}" for i in range(FEATURES)])
    frame["target"] = y
    data = work / "data.csv"
    frame.to_csv(data, index=False)
    root = work / "project"
    init_from_data(root, data=data, target="target", name="bench-lightgbm")
    config_path = root / "mlgate.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["model"] = {
        "estimator": "lightgbm.LGBMClassifier",
        "params": {"n_estimators": TREES},
        "early_stopping": "never",
        "imbalance": "none",
    }
    config_path.write_text(yaml.safe_dump(config))
    result = train(load_project(root))
    if not (result.bundle_dir / "model.onnx").exists():
        raise RuntimeError("the LightGBM bundle kept no model.onnx")
    estimator = result.model.named_steps["estimator"]
    trees = estimator.booster_.num_trees()
    if trees != TREES:
        raise RuntimeError(f"the model has {trees} trees, not {TREES}")
    naive_path = work / "model.pkl"
    joblib.dump(estimator, naive_path)
    rows = result.split.x_test.to_numpy().tolist()
    return result.bundle_dir, naive_path, rows


def per_call_us(call: Any, seconds: float = 2.0) -> float:
    """Microseconds per call of `call`, over `seconds` of calls after one to warm up."""
    call()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        call()
        n += 1
    return (time.perf_counter() - t0) / n * 1e6


def in_process_us(bundle_dir: Path, naive_path: Path, row: list[float]) -> dict[str, float]:
    """One row predicted in this process (one core, one thread): the joblib-loaded LightGBM
    estimator on a numpy row (what the naive app calls per request), and ONNX Runtime on an
    already validated batch (what mlgate's server calls per request)."""
    import joblib
    import numpy as np

    from mlgate.serve.runtime import OnnxPredictor
    from mlgate.serve.validate import Validator
    from mlgate.store.bundle import load_bundle

    bundle = load_bundle(bundle_dir)
    onnx = OnnxPredictor(bundle)
    batch = Validator(bundle.schema.features, 1).from_lists([row])
    model = joblib.load(naive_path)
    model.set_params(n_jobs=1)
    x = np.array(row).reshape(1, -1)
    return {
        "lightgbm": per_call_us(lambda: model.predict(x)),
        "onnx": per_call_us(lambda: onnx.predict(batch, False)),
    }


def main() -> None:
    """Train, serve with both, load each, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    add_quick_flag(parser, "1 s per load run instead of 5")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    use_wrk = shutil.which("wrk") is not None and shutil.which("taskset") is not None
    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-lightgbm-"))
    try:
        bundle_dir, naive_path, rows = make_model(work)
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {1})
        inproc = in_process_us(bundle_dir, naive_path, rows[0])
        env = {**os.environ, "NAIVE_MODEL": str(naive_path), "PYTHONPATH": str(ROOT)}
        env["OMP_NUM_THREADS"] = "1"  # LightGBM's own threads: one core for each server
        single = json.dumps({"features": rows[0]}).encode()

        def load(url: str, conns: int) -> Load:
            if use_wrk:
                return wrk(url, single, conns, seconds, work)
            return python_load(url, single, conns, seconds)

        servers = {
            "naive (article, joblib)": [
                sys.executable, "-m", "uvicorn", "benchmarks.serve.naive_server:app",
                "--workers", "1", "--no-access-log", "--log-level", "warning",
            ],
            "mlgate serve (ONNX Runtime)": [
                sys.executable, "-c",
                "import sys; from mlgate.cli import main; sys.exit(main(sys.argv[1:]))",
                "serve", str(bundle_dir), "--workers", "1", "--runtime", "onnx",
            ],
        }  # fmt: skip
        results: dict[str, dict[str, Any]] = {}
        for name, cmd in servers.items():
            port = free_port()
            proc, ready = start([*cmd, "--port", str(port)], port, env)
            url = f"http://127.0.0.1:{port}/predict"
            try:
                results[name] = {"ready_s": ready, "c1": load(url, 1), "c8": load(url, 8)}
                results[name]["rss_mib"] = rss_mib(proc.pid)
            finally:
                stop(proc)
        text = render(results, inproc, use_wrk, seconds)
        print(text)
        detail = detail_path("serve_lightgbm", args.quick)
        detail.parent.mkdir(parents=True, exist_ok=True)
        old = detail.read_text(encoding="utf-8") if detail.is_file() else ""
        analysis = old[old.find("\n## ") :] if "\n## " in old else ""  # written by hand
        detail.write_text(text + "\n" + analysis, encoding="utf-8")
        write_summary(summary_rows(results), quick=args.quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def summary_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    """The headline row against the issue's target."""
    naive, ours = results["naive (article, joblib)"], results["mlgate serve (ONNX Runtime)"]
    speedup = ours["c8"].rps / naive["c8"].rps
    return [
        Row(
            f"serving LightGBM ({TREES} trees), single rows at 8 connections, vs the article's "
            "app with joblib",
            f">= {TARGET:g}x",
            f"{speedup:.1f}x ({ours['c8'].rps:,.0f} vs {naive['c8'].rps:,.0f} req/s)",
            speedup >= TARGET,
        )
    ]


def render(
    results: dict[str, dict[str, Any]], inproc: dict[str, float], used_wrk: bool, seconds: float
) -> str:
    """The Markdown detail: command, setup, table."""
    naive = results["naive (article, joblib)"]
    lines = [
        f"# Serving a LightGBM model of {TREES} trees",
        "",
        "Command:",
        "",
        f"    {this_command()}",
        "",
        f"One LGBMClassifier ({TREES} trees, {FEATURES} numeric features, 5,000 rows of "
        "`make_classification`) trained by `mlgate train`, served by `mlgate serve --runtime "
        "onnx` (ONNX Runtime, one worker, one thread) and by the article's app "
        "(`benchmarks/serve/naive_server.py`: FastAPI, the same estimator loaded with joblib, "
        "`OMP_NUM_THREADS=1`). Each server pinned to core 0, the load generator "
        f"({'wrk -t1' if used_wrk else 'a Python client'}, {seconds:g} s per run) to core 1; "
        'single-row `POST /predict` bodies `{"features": [...]}`.',
        "",
        "| server | req/s @1 | p50/p99 ms @1 | req/s @8 | p50/p99 ms @8 | x naive @8 "
        "| ready s | RSS MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        c1, c8 = r["c1"], r["c8"]
        lines.append(
            f"| {name} | {c1.rps:,.0f} | {c1.p50_ms:.2f} / {c1.p99_ms:.2f} | {c8.rps:,.0f} | "
            f"{c8.p50_ms:.2f} / {c8.p99_ms:.2f} | {c8.rps / naive['c8'].rps:.1f} | "
            f"{r['ready_s']:.2f} | {r['rss_mib']:.0f} |"
        )
    per_request = {name: 1e6 / r["c8"].rps for name, r in results.items()}
    lines += [
        "",
        "One row in process, one core: LightGBM's own `predict` (the joblib-loaded estimator, "
        f"numpy input) {inproc['lightgbm']:,.0f} us; ONNX Runtime on a validated batch "
        f"{inproc['onnx']:,.0f} us. Server time per request at 8 connections (1 / req/s): "
        + "; ".join(f"{name} {us:,.0f} us" for name, us in per_request.items())
        + ".",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
