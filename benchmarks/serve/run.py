"""Serving benchmark: the article's naive server against `mlgate serve`, same model, one core each.

Run: `.venv/bin/python -m benchmarks.serve.run [--seconds 5] [--quick]` (results:
benchmarks/RESULTS.md). `--quick`: 1 s per load run instead of 5.

Each server runs pinned to core 0 with one worker; the load generator (wrk when installed, else a
bounded Python client) runs pinned to core 1. Model: RandomForest, 100 trees, 20 numeric features.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.summary import Row, add_quick_flag, write_summary

TIMEOUT_S = 900
ROOT = Path(__file__).resolve().parents[2]
SERVER_CORE = "0"
CLIENT_CORE = "1"
FEATURES = 20


@dataclass(frozen=True)
class Load:
    """One load run's numbers."""

    rps: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    """A port free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_model(work: Path) -> tuple[Path, Path, list[list[float]]]:
    """Train once with mlgate (bundle + ONNX) and once as the article does (joblib pickle)."""
    import joblib
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    from mlgate.app.scaffold import init_from_data
    from mlgate.app.train import train
    from mlgate.model.onnx import export_onnx
    from mlgate.store import bundle
    from mlgate.store.project import load_project

    x, y = make_classification(
        n_samples=5000, n_features=FEATURES, n_informative=10, random_state=0
    )
    frame = pd.DataFrame(x.round(4), columns=[f"f{i}" for i in range(FEATURES)])
    frame["target"] = y
    data = work / "data.csv"
    frame.to_csv(data, index=False)
    init_from_data(work / "project", data=data, target="target", name="bench")
    result = train(load_project(work / "project"))
    meta = bundle.load_bundle(result.bundle_dir)
    if not (result.bundle_dir / bundle.ONNX_FILE).exists():
        exported = export_onnx(
            result.model, result.split.x_test, meta.schema.features, meta.meta.task
        )
        if exported is not None:
            (result.bundle_dir / bundle.ONNX_FILE).write_bytes(exported)
        bundle.seal(result.bundle_dir)
    naive = RandomForestClassifier(
        n_estimators=100, max_depth=12, min_samples_leaf=2, random_state=42
    ).fit(x, y)
    naive_path = work / "model.pkl"
    joblib.dump(naive, naive_path)
    rows = result.split.x_test.to_numpy().tolist()
    return result.bundle_dir, naive_path, rows


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(cmd: list[str], port: int, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server pinned to the server core; return it and seconds until /ready is 200."""
    full = ["taskset", "-c", SERVER_CORE, *cmd] if shutil.which("taskset") else cmd
    t0 = time.monotonic()
    proc = subprocess.Popen(full, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = t0 + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {cmd}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc, time.monotonic() - t0
        except httpx.TransportError:
            pass
        time.sleep(0.01)
    proc.kill()
    raise RuntimeError(f"server not ready in 120 s: {cmd}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM and wait."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(url: str, body: bytes, connections: int, seconds: float, work: Path) -> Load:
    """Load with wrk, pinned to the client core."""
    body_file = work / f"body-{len(body)}.json"
    body_file.write_bytes(body)
    script = work / f"post-{len(body)}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
    )
    cmd = [
        "taskset", "-c", CLIENT_CORE, "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s",
        "--latency", "-s", str(script), url,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} failed responses from {url}")
    return Load(rps, p50, p99)


def python_load(url: str, body: bytes, connections: int, seconds: float) -> Load:
    """A bounded Python client when wrk is missing: `connections` threads, keep-alive."""
    import threading

    latencies: list[float] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker() -> None:
        with httpx.Client(headers={"content-type": "application/json"}) as c:
            while time.monotonic() < end:
                t = time.perf_counter()
                c.post(url, content=body).raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    n = len(latencies)
    return Load(n / seconds, latencies[n // 2] * 1e3, latencies[int(n * 0.99)] * 1e3)


def _rows_per_s(predict: Any) -> float:
    predict()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        predict()
        n += 1
    return n * 1000 / (time.perf_counter() - t0)


def in_process_rows_per_s(bundle_dir: Path, rows: list[list[float]]) -> dict[str, float]:
    """Rows/s of in-process predict on 1000-row batches, one core: the bundle's scikit-learn
    Pipeline on a DataFrame (what the article's user calls), and the ONNX runtime on an
    already validated batch (the server's own engine, the stricter baseline)."""
    import pandas as pd

    from mlgate.model.features import to_frame
    from mlgate.serve.runtime import OnnxPredictor
    from mlgate.serve.validate import Validator
    from mlgate.store.bundle import load_bundle

    b = load_bundle(bundle_dir)
    predictor = OnnxPredictor(b)
    batch = Validator(b.schema.features, 10_000).from_lists(rows[:1000])
    model = b.load_model()
    names = [f.name for f in b.schema.features]
    frame = to_frame(pd.DataFrame(rows[:1000], columns=names), b.schema.features)
    return {
        "sklearn": _rows_per_s(lambda: model.predict(frame)),
        "onnx": _rows_per_s(lambda: predictor.predict(batch, False)),
    }


def main() -> None:
    """Run every measurement and print the Markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-batch", default=None, help="passed to mlgate serve")
    add_quick_flag(parser, "1 s per load run instead of 5")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 1.0
    use_wrk = shutil.which("wrk") is not None and shutil.which("taskset") is not None
    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-serve-"))
    try:
        bundle_dir, naive_path, rows = make_model(work)
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {int(CLIENT_CORE)})
        inproc = in_process_rows_per_s(bundle_dir, rows)
        env = {**os.environ, "NAIVE_MODEL": str(naive_path), "PYTHONPATH": str(ROOT)}
        env["OMP_NUM_THREADS"] = "1"
        single = json.dumps({"features": rows[0]}).encode()
        batch = json.dumps({"features": rows[:1000]}).encode()

        def load(url: str, body: bytes, conns: int) -> Load:
            if use_wrk:
                return wrk(url, body, conns, args.seconds, work)
            return python_load(url, body, conns, args.seconds)

        results: dict[str, dict[str, Any]] = {}
        servers = {
            "naive (article)": [
                sys.executable, "-m", "uvicorn", "benchmarks.serve.naive_server:app",
                "--workers", "1", "--no-access-log", "--log-level", "warning",
            ],
            "mlgate serve": [
                sys.executable, "-c",
                "import sys; from mlgate.cli import main; sys.exit(main(sys.argv[1:]))",
                "serve", str(bundle_dir), "--workers", "1",
                *(["--max-batch", args.max_batch] if args.max_batch else []),
            ],
        }  # fmt: skip
        for name, cmd in servers.items():
            port = free_port()
            proc, ready = start([*cmd, "--port", str(port)], port, env)
            url = f"http://127.0.0.1:{port}/predict"
            try:
                r: dict[str, Any] = {"ready_s": ready, "rss_mib": rss_mib(proc.pid)}
                r["c1"] = load(url, single, 1)
                r["c8"] = load(url, single, 8)
                if name == "mlgate serve":
                    r["batch"] = load(url, batch, 1)
                r["rss_after_mib"] = rss_mib(proc.pid)
            finally:
                stop(proc)
            results[name] = r
        print(render(results, inproc, use_wrk, args.seconds))
        write_summary(summary_rows(results, inproc), quick=args.quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def summary_rows(results: dict[str, dict[str, Any]], inproc: dict[str, float]) -> list[Row]:
    """The headline rows against the serving targets."""
    ours, naive = results["mlgate serve"], results["naive (article)"]
    speedup = ours["c8"].rps / naive["c8"].rps
    rows_s = ours["batch"].rps * 1000
    sk, ox = rows_s / inproc["sklearn"], rows_s / inproc["onnx"]
    return [
        Row(
            "serving, single rows at 8 connections, vs the article's server",
            ">= 20x",
            f"{speedup:.1f}x ({ours['c8'].rps:,.0f} vs {naive['c8'].rps:,.0f} req/s)",
            speedup >= 20,
        ),
        Row(
            "serving p99 at 8 connections",
            "< 10 ms",
            f"{ours['c8'].p99_ms:.1f} ms",
            ours["c8"].p99_ms < 10,
        ),
        Row(
            "serving 1000-row batches vs in-process scikit-learn `predict`",
            ">= 80%",
            f"{sk:.0%} ({rows_s:,.0f} vs {inproc['sklearn']:,.0f} rows/s)",
            sk >= 0.8,
        ),
        Row(
            "serving 1000-row batches vs in-process ONNX Runtime on a validated batch",
            ">= 80%",
            f"{ox:.0%} ({rows_s:,.0f} vs {inproc['onnx']:,.0f} rows/s)",
            ox >= 0.8,
        ),
        Row("server ready after start", "< 1 s", f"{ours['ready_s']:.2f} s", ours["ready_s"] < 1),
        Row(
            "server resident memory",
            "< 200 MiB",
            f"{ours['rss_after_mib']:.0f} MiB",
            ours["rss_after_mib"] < 200,
        ),
    ]


def render(
    results: dict[str, dict[str, Any]], inproc: dict[str, float], used_wrk: bool, seconds: float
) -> str:
    """The Markdown table."""
    naive = results["naive (article)"]
    lines = [
        f"Load generator: {'wrk -t1' if used_wrk else 'Python client'}, {seconds:g} s per run.",
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
            f"{r['ready_s']:.2f} | {r['rss_after_mib']:.0f} |"
        )
    b = results["mlgate serve"]["batch"]
    rows_s = b.rps * 1000
    lines += [
        "",
        f"1000-row batches (mlgate, 1 connection): {b.rps:,.1f} req/s = {rows_s:,.0f} rows/s, "
        f"p50 {b.p50_ms:.1f} ms; in-process scikit-learn `predict`: {inproc['sklearn']:,.0f} "
        f"rows/s -> {rows_s / inproc['sklearn']:.0%}; in-process ONNX Runtime on a validated "
        f"batch: {inproc['onnx']:,.0f} rows/s -> {rows_s / inproc['onnx']:.0%}. "
        "The naive server takes one row per request.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
