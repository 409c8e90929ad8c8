"""What the server's limits cost, how fast the scikit-learn runtime serves a large forest, and
whether exporting such a forest to ONNX at training time pays.

Run: `.venv/bin/python -m benchmarks.bench_limits [--rows 50000] [--seconds 5] [--rounds 7]`
(results and the command: benchmarks/RESULTS_limits.md). `--quick`: 3,000 rows, 1 s per load,
one round. `--base REV [--instructions-only]`: also count, under callgrind, the ONNX server with
the limits' files as they were at REV (the rest of the tree as it is), and record the ratio.

One model, as in the issue: RandomForest(100 trees, unlimited depth) on 20 numeric features.
Every server runs one worker pinned to core 0; wrk -t1 loads it from core 1 with single-row
bodies at 1 and 8 connections. Servers, in one run:
- the article's naive app (`benchmarks/serve/naive_server.py`) on the same forest;
- `mlgate serve --runtime sklearn` with its limits, and the same app without them
  (`benchmarks/serve/unguarded.py`: uvicorn's stock protocol, no ServeGuard);
- `mlgate serve --runtime onnx` with and without the limits (the bundle exported afterwards).
Plus, in process: time per single-row call of the Pipeline, of the direct forest path and of
the naive model, and the one-time cost of the ONNX export (conversion + parity check).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.serve.run import (
    CLIENT_CORE,
    FEATURES,
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

TIMEOUT_S = 2400


def make_project(work: Path, rows: int) -> tuple[Path, Path, list[list[float]], float]:
    """Train the forest with mlgate (no ONNX) and the naive one; returns bundle, naive model,
    holdout rows and mlgate's training seconds."""
    import joblib
    import pandas as pd
    import yaml
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    from mlgate.app.scaffold import init_from_data
    from mlgate.app.train import train
    from mlgate.store.project import load_project

    x, y = make_classification(
        n_samples=rows, n_features=FEATURES, n_informative=10, flip_y=0.05, random_state=0
    )
    frame = pd.DataFrame(x.round(4), columns=[f"f{i}" for i in range(FEATURES)])
    frame["target"] = y
    data = work / "data.csv"
    frame.to_csv(data, index=False)
    root = work / "project"
    init_from_data(root, data=data, target="target", name="bench")
    config = yaml.safe_load((root / "mlgate.yaml").read_text())
    config["model"] = {
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 100, "n_jobs": -1},
        "onnx": "never",
    }
    (root / "mlgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    t0 = time.perf_counter()
    result = train(load_project(root))
    train_s = time.perf_counter() - t0
    naive = RandomForestClassifier(n_estimators=100, random_state=42, n_jobs=-1).fit(x, y)
    naive.set_params(n_jobs=1)
    naive_path = work / "naive.joblib"
    joblib.dump(naive, naive_path)
    rows_out = result.split.x_test.to_numpy().tolist()
    return result.bundle_dir, naive_path, rows_out, train_s


def in_process(bundle_dir: Path, naive_path: Path, rows: list[list[float]]) -> dict[str, Any]:
    """Microseconds per single-row call: the Pipeline, the direct forest, the naive model."""
    import joblib
    import numpy as np
    import pandas as pd

    from mlgate.model.features import to_frame
    from mlgate.model.onnx import tree_nodes
    from mlgate.serve.forest import direct_forest
    from mlgate.store.bundle import load_bundle

    bundle = load_bundle(bundle_dir)
    model = bundle.load_model()
    model.steps[-1][1].set_params(n_jobs=1)
    features = bundle.schema.features
    names = [f.name for f in features]
    direct = direct_forest(model, features)
    assert direct is not None, "the benchmark model must take the direct path"
    naive = joblib.load(naive_path)
    one = np.asarray(rows[:1], dtype=np.float64)
    frame = to_frame(pd.DataFrame(rows[:1], columns=names), features)

    def per_call(fn: Any) -> float:
        fn()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 2.0:
            fn()
            n += 1
        return (time.perf_counter() - t0) / n * 1e6

    return {
        "nodes": tree_nodes(model),
        "pipeline_us": per_call(lambda: model.predict_proba(frame)),
        "direct_us": per_call(lambda: direct.predict(one)),
        "naive_us": per_call(lambda: naive.predict(one)),
        "skops_mb": (bundle_dir / "model.skops").stat().st_size / 1e6,
    }


def export_onnx_cost(bundle_dir: Path) -> dict[str, float]:
    """Export the bundle's model to ONNX as training would (conversion + parity), timed."""
    from mlgate.model.onnx import export_onnx
    from mlgate.model.train import split_data
    from mlgate.store import bundle as bundle_mod
    from mlgate.store.project import load_project

    b = bundle_mod.load_bundle(bundle_dir)
    model = b.load_model()
    project = load_project(bundle_dir.parent.parent)
    from mlgate.store.tables import load_table

    split = split_data(
        project.config, b.meta.task, load_table(project.data_path), b.schema.features
    )
    t0 = time.perf_counter()
    exported = export_onnx(model, split.x_test, b.schema.features, b.meta.task)
    seconds = time.perf_counter() - t0
    kept = exported is not None
    if exported is not None:
        (bundle_dir / bundle_mod.ONNX_FILE).write_bytes(exported)
    if not kept:
        raise RuntimeError("the ONNX export was not kept (parity): see the log")
    bundle_mod.seal(bundle_dir)
    return {"seconds": seconds, "onnx_mb": (bundle_dir / "model.onnx").stat().st_size / 1e6}


def serve_cmd(bundle_dir: Path, runtime: str, guarded: bool) -> list[str]:
    if guarded:
        code = "import sys; from mlgate.cli import main; sys.exit(main(sys.argv[1:]))"
        return [sys.executable, "-c", code, "serve", str(bundle_dir), "--runtime", runtime]
    return [sys.executable, "-m", "benchmarks.serve.unguarded", str(bundle_dir)]


def measure_group(
    servers: dict[str, tuple[list[str], list[str]]],
    env: dict[str, str],
    args: Any,
    work: Path,
) -> dict[str, dict[str, Any]]:
    """Start every server of the group (all pinned to the server core, idle unless loaded),
    then load them in turn, `--rounds` times, and keep each one's median: loads of the servers
    compared interleave in time, so the machine's other work spreads over all of them."""
    use_wrk = shutil.which("wrk") is not None and shutil.which("taskset") is not None
    body = json.dumps({"features": args.row}).encode()
    running: dict[str, tuple[Any, float, str]] = {}
    try:
        for name, (cmd, port_arg) in servers.items():
            port = free_port()
            proc, ready = start(
                [*cmd, *[a.replace("PORT", str(port)) for a in port_arg]], port, env
            )
            running[name] = (proc, ready, f"http://127.0.0.1:{port}/predict")
        loads: dict[str, dict[int, list[Load]]] = {n: {1: [], 8: []} for n in servers}
        cpu: dict[str, list[float]] = {n: [] for n in servers}
        for _ in range(args.rounds):
            for conns in (1, 8):
                for name, (proc, _, url) in running.items():
                    before = cpu_seconds(proc.pid)
                    if use_wrk:
                        load = wrk(url, body, conns, args.seconds, work)
                    else:
                        load = python_load(url, body, conns, args.seconds)
                    loads[name][conns].append(load)
                    if conns == 8:
                        served = load.rps * args.seconds
                        cpu[name].append((cpu_seconds(proc.pid) - before) / served * 1e6)
        out: dict[str, dict[str, Any]] = {}
        for name, (proc, ready, _) in running.items():
            c1 = median_load(loads[name][1])
            c8 = median_load(loads[name][8])
            out[name] = {
                "ready_s": ready,
                "c1": c1,
                "c8": c8,
                "rss_mib": rss_mib(proc.pid),
                "cpu_us": sorted(cpu[name])[len(cpu[name]) // 2],
                # Per round, for ratios paired in time (`paired_cost`).
                "rounds_rps8": [load.rps for load in loads[name][8]],
                "rounds_cpu": list(cpu[name]),
            }
            print(f"{name}: {c1.rps:,.0f} req/s @1, {c8.rps:,.0f} @8", file=sys.stderr)
        return out
    finally:
        for proc, _, _ in running.values():
            stop(proc)


def instructions_per_request(
    servers: dict[str, list[str]],
    env: dict[str, str],
    body: bytes,
    work: Path,
    requests: int,
    extra_env: dict[str, dict[str, str]] | None = None,
) -> dict[str, float] | None:
    """Instructions each server executes per request, counted by callgrind: a count the VM's
    swings do not move, unlike req/s and CPU time. The servers run under valgrind at once, one
    per core (`PORT` in a command is replaced by its port); each answers 200 requests to warm
    up, has its counters zeroed, answers `requests` more from 8 client threads (keep-alive),
    and dumps its counters. None when valgrind is not installed."""
    import threading

    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        return None
    out: dict[str, float] = {}
    errors: list[BaseException] = []

    def post(url: str, n: int) -> None:
        def client(k: int) -> None:
            with httpx.Client(headers={"content-type": "application/json"}, timeout=600) as c:
                for _ in range(k):
                    c.post(url, content=body).raise_for_status()

        threads = [threading.Thread(target=client, args=(n // 8,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def one(core: int, name: str, cmd: list[str]) -> None:
        port = free_port()
        dump = work / f"callgrind-{core}.out"
        full = [
            "taskset", "-c", str(core), "valgrind", "--tool=callgrind",
            f"--callgrind-out-file={dump}", *[a.replace("PORT", str(port)) for a in cmd],
        ]  # fmt: skip
        own = {**env, **(extra_env or {}).get(name, {})}
        proc = subprocess.Popen(full, env=own, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 900
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: not ready under valgrind")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(1)
            url = f"http://127.0.0.1:{port}/predict"
            post(url, 200)
            subprocess.run(
                ["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True
            )
            post(url, requests)
            subprocess.run(
                ["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True
            )
            text = Path(f"{dump}.1").read_text(errors="replace")
            match = re.search(r"^summary: (\d+)", text, re.M)
            if match is None:
                raise RuntimeError(f"{name}: no summary in the callgrind dump")
            out[name] = int(match.group(1)) / (requests // 8 * 8)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            stop(proc)

    workers = [
        threading.Thread(target=one, args=(core % 2, name, cmd))
        for core, (name, cmd) in enumerate(servers.items())
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if errors:
        raise errors[0]
    return out


# The files of the limits: `--base REV` serves the tree as it is with these as they were at REV,
# so the count compares the limits alone (not whatever else the work tree holds).
LIMITS_FILES = (
    "src/mlgate/serve/limits.py",
    "src/mlgate/serve/refusals.py",
    "src/mlgate/serve/settings.py",
    "src/mlgate/serve/server.py",
)
BASE_HEADING = "## The limits against a previous revision"


def base_tree(rev: str, work: Path) -> Path:
    """A copy of `src/` with LIMITS_FILES as they were at `rev` (no git state changes)."""
    base = work / "base-src"
    shutil.copytree(ROOT / "src", base, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in LIMITS_FILES:
        shown = subprocess.run(
            ["git", "show", f"{rev}:{rel}"], cwd=ROOT, capture_output=True, check=False
        )
        target = base / Path(rel).relative_to("src")
        if shown.returncode == 0:
            target.write_bytes(shown.stdout)
        else:  # a file the change added
            target.unlink(missing_ok=True)
    return base


def compare_base(
    bundle_dir: Path, env: dict[str, str], args: Any, work: Path
) -> dict[str, float] | None:
    """Instructions per ONNX request of `mlgate serve` as it is and at `--base`."""
    base = base_tree(args.base, work)
    cmd = [*serve_cmd(bundle_dir, "onnx", True), "--port", "PORT"]
    return instructions_per_request(
        {"current": cmd, "base": cmd},
        env,
        json.dumps({"features": args.row}).encode(),
        work,
        args.instructions,
        extra_env={"base": {"PYTHONPATH": f"{base}:{ROOT}"}},
    )


def base_section(command: str, rev: str, counted: dict[str, float], requests: int) -> str:
    """The Markdown section of a `--base` count."""
    now, then = counted["current"], counted["base"]
    cost = now / then - 1.0
    shown = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=False
    )
    rev = shown.stdout.strip() or rev  # the commit, not a name that moves (HEAD)
    files = ", ".join(f"`{f.removeprefix('src/mlgate/')}`" for f in LIMITS_FILES)
    return "\n".join(
        [
            BASE_HEADING,
            "",
            f"Command: `{command}`",
            "",
            f"The guarded ONNX server (`mlgate serve --runtime onnx`) as the tree is, and the "
            f"same tree with {files} as they were at `{rev}`, each under callgrind, "
            f"{requests:,} single-row requests from 8 connections after 200 to warm up.",
            "",
            "| server | instructions per request |",
            "| --- | ---: |",
            f"| the limits as they are | {now:,.0f} |",
            f"| the limits at `{rev}` | {then:,.0f} |",
            f"| ratio | {now / then:.4f} ({cost:+.2%}; target <= +2%: "
            f"{'met' if cost <= 0.02 else 'not met'}) |",
            "",
        ]
    )


def put_section(path: Path, section: str) -> None:
    """Replace (or append) the `--base` section, the last of a results file; keep the rest."""
    text = path.read_text() if path.exists() else ""
    head = text.partition(BASE_HEADING)[0].rstrip("\n")
    path.write_text((head + "\n\n" if head else "") + section)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median_load(loads: list[Load]) -> Load:
    """The run with the median req/s (its latencies come with it)."""
    ordered = sorted(loads, key=lambda x: x.rps)
    return ordered[len(ordered) // 2]


def main() -> None:
    """Run every measurement, write RESULTS_limits.md."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=7, help="loads per server (median kept)")
    parser.add_argument(
        "--instructions",
        type=int,
        default=1000,
        help="requests counted under callgrind per ONNX server (0: skip)",
    )
    parser.add_argument(
        "--base",
        metavar="REV",
        help="also count the ONNX server with the limits' files as they were at this git "
        "revision (callgrind) and record the ratio",
    )
    parser.add_argument(
        "--instructions-only",
        action="store_true",
        help="with --base: only that count (no req/s loads); updates its section alone",
    )
    add_quick_flag(parser, "3,000 rows, 1 s per load run, one round, no callgrind count")
    args = parser.parse_args()
    if args.instructions_only and not args.base:
        parser.error("--instructions-only needs --base REV")
    if args.quick:
        args.rows, args.seconds, args.rounds, args.instructions = 3000, 1.0, 1, 0
    command = this_command()
    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-limits-"))
    try:
        bundle_dir, naive_path, rows, train_s = make_project(work, args.rows)
        args.row = rows[0]
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {int(CLIENT_CORE)})
        env = {**os.environ, "NAIVE_MODEL": str(naive_path), "PYTHONPATH": str(ROOT)}
        env["OMP_NUM_THREADS"] = "1"
        if args.instructions_only:
            export_onnx_cost(bundle_dir)
            base_only(command, bundle_dir, env, args, work)
            return
        inproc = in_process(bundle_dir, naive_path, rows)
        naive_cmd = [
            sys.executable, "-m", "uvicorn", "benchmarks.serve.naive_server:app",
            "--workers", "1", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        results = measure_group(
            {
                "naive (article)": (naive_cmd, ["--port", "PORT"]),
                "mlgate sklearn": (serve_cmd(bundle_dir, "sklearn", True), ["--port", "PORT"]),
                "mlgate sklearn, no limits": (
                    serve_cmd(bundle_dir, "sklearn", False),
                    ["PORT", "sklearn"],
                ),
            },
            env,
            args,
            work,
        )
        onnx = export_onnx_cost(bundle_dir)
        results |= measure_group(
            {
                "mlgate onnx": (serve_cmd(bundle_dir, "onnx", True), ["--port", "PORT"]),
                "mlgate onnx, no limits": (serve_cmd(bundle_dir, "onnx", False), ["PORT", "onnx"]),
            },
            env,
            args,
            work,
        )
        counted = (
            instructions_per_request(
                {
                    "guarded": [*serve_cmd(bundle_dir, "onnx", True), "--port", "PORT"],
                    "unguarded": [*serve_cmd(bundle_dir, "onnx", False), "PORT", "onnx"],
                },
                env,
                json.dumps({"features": args.row}).encode(),
                work,
                args.instructions,
            )
            if args.instructions
            else None
        )
        text = render(command, args, results, inproc, onnx, train_s, counted)
        if args.base:
            compared = compare_base(bundle_dir, env, args, work)
            if compared:
                text += "\n" + base_section(command, args.base, compared, args.instructions)
        detail_path("limits", args.quick).write_text(text)
        print(text)
        write_summary(summary_rows(args, results, inproc, onnx, counted), quick=args.quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def base_only(command: str, bundle_dir: Path, env: dict[str, str], args: Any, work: Path) -> None:
    """`--instructions-only`: the count against `--base`, written into its section alone."""
    counted = compare_base(bundle_dir, env, args, work)
    if counted is None:
        raise SystemExit("valgrind (callgrind_control) is not installed")
    section = base_section(command, args.base, counted, args.instructions)
    put_section(detail_path("limits", args.quick), section)
    print(section)


def render(
    command: str,
    args: Any,
    results: dict[str, dict[str, Any]],
    inproc: dict[str, Any],
    onnx: dict[str, float],
    train_s: float,
    counted: dict[str, float] | None,
) -> str:
    """The Markdown results."""
    naive = results["naive (article)"]
    sk, sk_off = results["mlgate sklearn"], results["mlgate sklearn, no limits"]
    ox, ox_off = results["mlgate onnx"], results["mlgate onnx, no limits"]
    lines = [
        "# Limits, the scikit-learn runtime, and the ONNX export of a large forest",
        "",
        f"Command: `{command}` (one run; servers one worker each on core 0, wrk -t1 on core 1, "
        f"{args.seconds:g} s per load, the servers of a group loaded in turn, {args.rounds} "
        "round(s), median kept).",
        "",
        f"Model: RandomForest(100 trees, unlimited depth), 20 numeric features, {args.rows:,} "
        f"rows; {inproc['nodes']:,} tree nodes; model.skops {inproc['skops_mb']:.1f} MB; "
        f"mlgate training (fit + bundle, no ONNX) {train_s:.1f} s.",
        "",
        "| server | req/s @1 | p50/p99 ms @1 | req/s @8 | p50/p99 ms @8 | CPU µs/req @8 "
        "| ready s | RSS MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        c1, c8 = r["c1"], r["c8"]
        lines.append(
            f"| {name} | {c1.rps:,.0f} | {c1.p50_ms:.2f} / {c1.p99_ms:.2f} | {c8.rps:,.0f} | "
            f"{c8.p50_ms:.2f} / {c8.p99_ms:.2f} | {r['cpu_us']:,.0f} | {r['ready_s']:.2f} | "
            f"{r['rss_mib']:.0f} |"
        )
    lines += [
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
        _row(
            "sklearn runtime @1 >= naive @1",
            sk["c1"].rps / naive["c1"].rps,
            1.0,
        ),
        _row("sklearn runtime @8 >= 3x naive @8", sk["c8"].rps / naive["c8"].rps, 3.0),
        _cost("limits cost, sklearn, @8 (<= 5%), req/s", sk, sk_off),
        _cost("limits cost, onnx, @8 (<= 5%), req/s", ox, ox_off),
        _cpu("limits cost, sklearn, @8 (<= 5%), server CPU per request", sk, sk_off),
        _cpu("limits cost, onnx, @8 (<= 5%), server CPU per request", ox, ox_off),
        *([_instructions(counted, args.instructions)] if counted else []),
        "",
        f"Limits cost: the median over the {args.rounds} rounds of the ratio between the guarded "
        "and the unguarded server loaded back to back in that round (the medians of each in the "
        "table above are taken separately, so their ratio carries the machine's swings).",
        *(
            [
                "",
                "Instructions per request: each ONNX server under callgrind (valgrind), counted "
                f"over {args.instructions:,} single-row requests from 8 connections after 200 to "
                "warm up; unlike time, the count does not move with the machine's load.",
            ]
            if counted
            else []
        ),
        "",
        "In process, one row per call (microseconds): "
        f"the Pipeline's predict_proba on a DataFrame {inproc['pipeline_us']:,.0f}; "
        f"the direct forest path {inproc['direct_us']:,.0f}; "
        f"the naive model's predict on a numpy row {inproc['naive_us']:,.0f}.",
        "",
        f"ONNX export of this forest (conversion + parity on the holdout): "
        f"{onnx['seconds']:.1f} s, model.onnx {onnx['onnx_mb']:.1f} MB; it then serves "
        f"{ox['c1'].rps / sk['c1'].rps:.1f}x the scikit-learn runtime's req/s at 1 connection "
        f"and {ox['c8'].rps / sk['c8'].rps:.1f}x at 8.",
        "",
    ]
    return "\n".join(lines)


def summary_rows(
    args: Any,
    results: dict[str, dict[str, Any]],
    inproc: dict[str, Any],
    onnx: dict[str, float],
    counted: dict[str, float] | None,
) -> list[Row]:
    """The headline rows for RESULTS.md (targets hold for the full size only)."""
    naive = results["naive (article)"]
    sk, sk_off = results["mlgate sklearn"], results["mlgate sklearn, no limits"]
    ox, ox_off = results["mlgate onnx"], results["mlgate onnx, no limits"]
    size = f"RF(100) unlimited depth, {args.rows:,} rows x 20"

    def met(ok: bool) -> bool | None:
        return None if args.quick else ok

    r1 = sk["c1"].rps / naive["c1"].rps
    r8 = sk["c8"].rps / naive["c8"].rps
    # The server's CPU per request, as the median of ratios paired in time (`paired_cost`).
    cost_sk, rps_sk = paired_cost(sk, sk_off)
    cost_ox, rps_ox = paired_cost(ox, ox_off)
    extra = []
    if counted:
        cost = counted["guarded"] / counted["unguarded"] - 1.0
        extra.append(
            Row("limits cost, ONNX runtime, instructions per request (callgrind)", "<= 5%",
                f"{cost:+.1%} ({counted['guarded']:,.0f} vs {counted['unguarded']:,.0f})",
                met(cost <= 0.05))
        )  # fmt: skip
    return [
        Row(f"scikit-learn runtime vs naive app, 1 conn ({size})", ">= 1x", f"{r1:.2f}x",
            met(r1 >= 1.0)),
        Row(f"scikit-learn runtime vs naive app, 8 conns ({size})", ">= 3x", f"{r8:.2f}x",
            met(r8 >= 3.0)),
        Row("limits cost, single rows at 8 conns, scikit-learn runtime (server CPU/request)",
            "<= 5%", f"{cost_sk:+.1%} (req/s {rps_sk:+.1%}; paired, median of {args.rounds})",
            met(cost_sk <= 0.05)),
        Row("limits cost, single rows at 8 conns, ONNX runtime (server CPU/request)", "<= 5%",
            f"{cost_ox:+.1%} (req/s {rps_ox:+.1%}; paired, median of {args.rounds})",
            met(cost_ox <= 0.05)),
        Row(f"ONNX export of the forest ({inproc['nodes']:,} nodes), one-time", "n/a",
            f"{onnx['seconds']:.1f} s; then {ox['c8'].rps / sk['c8'].rps:.1f}x the req/s "
            "of scikit-learn at 8 conns", None),
        *extra,
    ]  # fmt: skip


def paired_cost(guarded: dict[str, Any], unguarded: dict[str, Any]) -> tuple[float, float]:
    """What the limits cost: the median over rounds of the guarded server's CPU per request
    against the unguarded one's in the same round (and of the req/s lost), since the two are
    loaded back to back. This VM's throughput swings by a third from one load to the next;
    a ratio of two separately taken medians mixes those swings into the cost."""
    cpu = [g / u - 1.0 for g, u in zip(guarded["rounds_cpu"], unguarded["rounds_cpu"], strict=True)]
    rps = [
        1.0 - g / u
        for g, u in zip(guarded["rounds_rps8"], unguarded["rounds_rps8"], strict=True)
        if u > 0
    ]
    return statistics.median(cpu), statistics.median(rps) if rps else 0.0


def _cpu(what: str, guarded: dict[str, Any], unguarded: dict[str, Any]) -> str:
    cost, _ = paired_cost(guarded, unguarded)
    return (
        f"| {what} | {cost:+.1%} paired (medians {guarded['cpu_us']:,.0f} vs "
        f"{unguarded['cpu_us']:,.0f} µs) | {'yes' if cost <= 0.05 else 'no'} |"
    )


def _instructions(counted: dict[str, float], requests: int) -> str:
    g, u = counted["guarded"], counted["unguarded"]
    cost = g / u - 1.0
    return (
        f"| limits cost, onnx, instructions per request (<= 5%) | {cost:+.1%} ({g:,.0f} vs "
        f"{u:,.0f}, callgrind, {requests:,} requests each) | {'yes' if cost <= 0.05 else 'no'} |"
    )


def _row(what: str, ratio: float, target: float) -> str:
    return f"| {what} | {ratio:.2f}x | {'yes' if ratio >= target else 'no'} |"


def _cost(what: str, guarded: dict[str, Any], unguarded: dict[str, Any]) -> str:
    _, cost = paired_cost(guarded, unguarded)
    g, u = guarded["c8"].rps, unguarded["c8"].rps
    return (
        f"| {what} | {cost:+.1%} paired (medians {g:,.0f} vs {u:,.0f} req/s) | "
        f"{'yes' if cost <= 0.05 else 'no'} |"
    )


if __name__ == "__main__":
    main()
