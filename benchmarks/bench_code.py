"""Time the project-code check (`mlgate.store.code`) that loading a `model.pipeline` bundle adds.

Run: `.venv/bin/python -m benchmarks.bench_code [--quick]` (results: benchmarks/RESULTS_code.md).
`--quick`: 5 rounds instead of 30.

The project is `mlgate init --demo --code` (1,500 rows, the scaffolded package of three files,
histogram gradient boosting with 30 iterations), trained once in benchmarks/.work/code. Each
round times, in one process on one core: the check alone (`check_code`: find the package
without importing it, hash every file, compare with mlgate.json), and the bundle's whole model
load (`Bundle.load_model`: the check, the import, the skops audit and build). The same check
also runs on a synthetic package of 300 files of 4 KiB, a large team package, to show how it
grows with the code.
"""

from __future__ import annotations

import os

# One core: set before numpy is imported so its thread pools obey.
os.environ["OMP_NUM_THREADS"] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse
import gc
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.summary import BENCH_DIR, Row, add_quick_flag, detail_path, write_summary

TIMEOUT_S = 900
TARGET_MS = 50.0
ROUNDS = 30
QUICK_ROUNDS = 5
WORK = BENCH_DIR / ".work" / "code"
LARGE_FILES = 300


def trained_project() -> Path:
    """The scaffolded project, trained once; returns its root."""
    from mlgate.app.scaffold import InitRequest, init_project
    from mlgate.app.train import train
    from mlgate.store.project import load_project

    root = WORK / "team"
    if not (root / "models" / "model" / "mlgate.json").is_file():
        shutil.rmtree(root, ignore_errors=True)
        init_project(InitRequest(root=root, demo=True, rows=1500, dvc=False, code=True))
        config = root / "mlgate.yaml"
        config.write_text(config.read_text().replace("max_iter: 200", "max_iter: 30"))
        train(load_project(root))
    return root


def large_package() -> Path:
    """A project root holding `src/bigpkg/` of LARGE_FILES modules of 4 KiB."""
    root = WORK / "large"
    pkg = root / "src" / "bigpkg"
    if not pkg.is_dir():
        for i in range(LARGE_FILES // 10):
            sub = pkg / f"part{i:02d}"
            sub.mkdir(parents=True)
            for j in range(10):
                (sub / f"m{j}.py").write_text(f"# module {i}.{j}\n" + "x = 1\n" * 682)
        (pkg / "__init__.py").write_text("")
    return root


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    """Time the check and the load; report medians and the check's share."""
    from mlgate.store.bundle import load_bundle
    from mlgate.store.code import check_code, record_code
    from mlgate.store.trust import Trust

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_quick_flag(parser, f"{QUICK_ROUNDS} rounds instead of {ROUNDS}")
    args = parser.parse_args()
    rounds = QUICK_ROUNDS if args.quick else ROUNDS
    root = trained_project()
    bundle = load_bundle(root / "models" / "model", trust=Trust(code_root=root))
    record = bundle.meta.code
    assert record is not None
    big_root = large_package()
    big, _ = record_code("bigpkg", big_root)
    bundle.load_model()  # warm: imports, file cache
    check_s = [timed(lambda: check_code(record, root)) for _ in range(rounds)]
    load_s = [timed(bundle.load_model) for _ in range(rounds)]
    big_s = [timed(lambda: check_code(big, big_root)) for _ in range(rounds)]
    check_ms = statistics.median(check_s) * 1000
    load_ms = statistics.median(load_s) * 1000
    big_ms = statistics.median(big_s) * 1000
    size = sum((root / "src" / rel).stat().st_size for rel in record.files)
    lines = [
        "# Project-code check benchmark (`mlgate.store.code`)",
        "",
        "Command (from the repository root):",
        "",
        "```",
        ".venv/bin/python -m benchmarks.bench_code" + (" --quick" if args.quick else ""),
        "```",
        "",
        f"{rounds} rounds on one core. The scaffolded package: {len(record.files)} files, "
        f"{size / 1024:.1f} KiB; the large one: {len(big.files)} files, "
        f"{len(big.files) * 4} KiB.",
        "",
        "| what | median ms | min ms |",
        "| --- | ---: | ---: |",
        f"| the check, scaffolded package (`check_code`) | {check_ms:.2f} | "
        f"{min(check_s) * 1000:.2f} |",
        f"| the whole model load (`Bundle.load_model`, check included) | {load_ms:.1f} | "
        f"{min(load_s) * 1000:.1f} |",
        f"| the check, {len(big.files)}-file package | {big_ms:.2f} | {min(big_s) * 1000:.2f} |",
        "",
        f"The check adds **{check_ms:.2f} ms** to a load of {load_ms:.1f} ms "
        f"({check_ms / load_ms:.1%} of it); target: under {TARGET_MS:.0f} ms. On the "
        f"{len(big.files)}-file package it takes {big_ms:.1f} ms "
        f"({big_ms / check_ms:.0f}x the small one: it grows with the bytes hashed and the "
        "files walked). Load average during the run: "
        f"{os.getloadavg()[0]:.1f} on 2 cores shared with other jobs.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    path: Path = detail_path("code", args.quick)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    row = Row(
        what="project-code check added to loading a model.pipeline bundle",
        target=f"< {TARGET_MS:.0f} ms",
        measured=f"{check_ms:.2f} ms of a {load_ms:.0f} ms load; {big_ms:.1f} ms for "
        f"{len(big.files)} files",
        met=check_ms < TARGET_MS if not args.quick else None,
    )
    write_summary([row], quick=args.quick)


if __name__ == "__main__":
    main()
