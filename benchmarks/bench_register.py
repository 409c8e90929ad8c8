"""Time what registration adds to `mlgate run` for the demo model on the embedded SQLite registry.

    .venv/bin/python -m benchmarks.bench_register [--rows 2000] [--repeat 7] [--uri URI] [--quick]

Trains and gates the demo once, then measures, in one process:
- store creation: the first client on a new SQLite file (MLflow's schema migrations; paid once
  per project, on its first `mlgate run`);
- register: one run + params/metrics + the bundle as artifacts + model version + alias, repeated
  on the warm store (what every later `mlgate run` pays);
- champion download: fetch + SHA256SUMS verification of a registered bundle (paid by every run
  once a champion exists);
- the pipeline itself (validate -> train -> gate), for the ratio.
`--uri` measures against a tracking server instead (e.g. the one scripts/start-mlflow-server.sh
starts). `--quick` registers 3 times instead of 7.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.summary import Row, add_quick_flag, write_summary

TIMEOUT_S = 600
TARGET_S = 1.0
ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "register"


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--uri", default=None, help="tracking URI (default: embedded SQLite)")
    add_quick_flag(parser, "3 registrations instead of 7")
    args = parser.parse_args()
    if args.quick:
        args.repeat = 3

    from mlflow.tracking import MlflowClient

    from mlgate.adapters.mlflow import RunContext, open_registry
    from mlgate.app import pipeline
    from mlgate.app.scaffold import init_demo
    from mlgate.store.project import load_project

    shutil.rmtree(WORK, ignore_errors=True)
    root = WORK / "demo"
    init_demo(root, rows=args.rows)
    project = load_project(root)
    t0 = time.perf_counter()
    result = pipeline.run(project)
    pipeline_s = time.perf_counter() - t0
    assert result.passed
    assert result.gate is not None
    gate = result.gate

    registry = open_registry(root, uri=args.uri)
    t0 = time.perf_counter()
    # MLflow's client creates (migrates) a new SQLite store; mlgate's lookups never create one.
    MlflowClient(tracking_uri=registry.tracking_uri).search_registered_models()
    store_s = time.perf_counter() - t0

    context = RunContext("bench", "benchmark")
    times: list[float] = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        info = registry.register(project.bundle_dir, gate, context)
        times.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        registry.download(project.config.name, info.version, Path(tmp))
        download_s = time.perf_counter() - t0

    median = statistics.median(times)
    print(f"registry: {registry.uri}; demo rows: {args.rows}; repeats: {args.repeat}\n")
    print("| step | seconds |")
    print("| --- | ---: |")
    print(f"| pipeline (validate -> train -> gate) | {pipeline_s:.2f} |")
    print(f"| store creation (first use of a new registry) | {store_s:.2f} |")
    print(f"| register, first on the store | {times[0]:.3f} |")
    print(f"| register, median of {args.repeat} | {median:.3f} |")
    print(f"| register, min / max | {min(times):.3f} / {max(times):.3f} |")
    print(f"| champion download + verify | {download_s:.3f} |")
    print(f"\nregister / pipeline = {median / pipeline_s:.2f}")
    where = "SQLite" if args.uri is None else "a tracking server"
    row = Row(
        what=f"`register` on {where}, demo model ({args.rows:,} rows)",
        target=f"< {TARGET_S:g} s",
        measured=f"{median:.2f} s, median of {args.repeat} "
        f"(first use of a new registry: {store_s:.1f} s, once)",
        met=median < TARGET_S,
    )
    write_summary([row], quick=args.quick)


if __name__ == "__main__":
    main()
