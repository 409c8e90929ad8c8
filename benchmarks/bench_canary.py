"""The local release's costs: what the splitter adds to a request, and how long a canary takes.

Run: `.venv/bin/python -m benchmarks.bench_canary [--quick]` (results:
benchmarks/RESULTS_canary.md). `--quick`: 3 s wrk runs and a 2 s canary interval (the targets
are for 10 s runs and a 5 s interval).

1. Latency added by the splitter (nginx edge + router), same run: wrk against the model
   server directly, then through the splitter, at 1 and 8 connections. The server is pinned to
   core 0, wrk and nginx to core 1. Then the split is reloaded every 0.5 s under load, through
   the edge (what clients use) and against the router alone (a single reloaded nginx): wrk's
   socket errors count the requests a reload drops.
2. A full canary on the demo model: 5 steps (step_weight 20 to 100) with a 5 s interval, from
   `run_rollout` being called (the candidate server starting) to the candidate serving all
   traffic, under steady load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.summary import Row, add_quick_flag, detail_path, this_command, write_summary
from mlgate.adapters import nginx as splitter
from mlgate.adapters import procs
from mlgate.app.rollout import local, variants
from mlgate.app.rollout.controller import RolloutRequest, run_rollout
from mlgate.core.policy import CanaryConfig
from mlgate.core.records.rollout import EnvironmentRef, VariantRef

SERVER_CORE, CLIENT_CORE = "0", "1"
TIMEOUT_S = 900
SECONDS, QUICK_SECONDS = 10.0, 3.0
INTERVAL_S, QUICK_INTERVAL_S = 5.0, 2.0
ADDED_P50_TARGET_MS = 1.0
CANARY_TARGET_S = 60.0


@dataclass(frozen=True)
class Wrk:
    rps: float
    p50_ms: float
    p99_ms: float
    socket_errors: int
    non2xx: int


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(url: str, body_file: Path, connections: int, seconds: float) -> Wrk:
    """One wrk run (pinned to the client core) posting `body_file` to `url`."""
    script = body_file.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
    )
    cmd = ["taskset", "-c", CLIENT_CORE, "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s",
           "--latency", "-s", str(script), url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def find(pattern: str) -> str:
        m = re.search(pattern, out, re.M)
        if m is None:
            raise RuntimeError(f"unexpected wrk output: {out}")
        return m.group(1)

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Wrk(
        rps=float(find(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(find(r"^\s*50%\s+(\S+)")),
        p99_ms=_ms(find(r"^\s*99%\s+(\S+)")),
        socket_errors=sum(int(x) for x in errors.groups()) if errors else 0,
        non2xx=int(non2xx.group(1)) if non2xx else 0,
    )


def pin(pid: int, core: str) -> None:
    """Pin a process and its children (nginx workers) to `core`."""
    for p in {pid, *splitter.children(pid)}:
        subprocess.run(["taskset", "-p", "-c", core, str(p)], capture_output=True, check=False)


def train_demo(root: Path, seed: int) -> Path:
    """The demo project (its default model: 100 trees, ONNX), trained with split seed `seed`."""
    from mlgate.app.scaffold import init_demo
    from mlgate.app.train import train
    from mlgate.store.project import load_project

    init_demo(root, rows=3000)
    config = root / "mlgate.yaml"
    config.write_text(config.read_text().replace("seed: 42", f"seed: {seed}"))
    return train(load_project(root)).bundle_dir


def serve_pinned(bundle: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`mlgate serve` pinned to the server core; returns it once ready, with its URL."""
    port = procs.free_port()
    cmd = ["taskset", "-c", SERVER_CORE,
           *procs.python_module("mlgate", "serve", str(bundle), "--port", str(port))]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    procs.wait_for(lambda: procs.http_ok(f"{url}/ready"), timeout=120, what="model server")
    return proc, url


@dataclass
class Overhead:
    """The latency table and reload rows, and the headline numbers."""

    rows: list[str]
    added_p50_ms: float = 0.0
    ratio: float = 0.0
    edge_errors: int = 0
    router_errors: int = 0


def splitter_overhead(bundle: Path, work: Path, seconds: float) -> Overhead:
    """wrk directly and through the splitter; then reloads under load, edge vs router."""
    work.mkdir(parents=True, exist_ok=True)
    body = work / "body.json"
    server, url = serve_pinned(bundle, work)
    rows: list[str] = []
    found = Overhead(rows)
    try:
        schema = httpx.get(f"{url}/metadata").json()["schema"]
        body.write_text(json.dumps({"instances": [{f["name"]: _value(f) for f in schema}]}))
        answer = httpx.post(
            f"{url}/predict",
            content=body.read_bytes(),
            headers={"content-type": "application/json"},
        )
        answer.raise_for_status()
        stable = variants.external_variant(url, source=url, label="demo")
        env = local.start_environment(work / "env", host="127.0.0.1", port=0, stable=stable,
                                      scrape_s=5.0)  # fmt: skip
        try:
            pin(env.edge.pid, CLIENT_CORE)
            pin(env.router.pid, CLIENT_CORE)
            router_url = f"http://127.0.0.1:{env.router_port}/predict"
            for conns in (1, 8):
                direct = wrk(f"{url}/predict", body, conns, seconds)
                split = wrk(f"{env.url}/predict", body, conns, seconds)
                found.added_p50_ms = split.p50_ms - direct.p50_ms
                found.ratio = split.p50_ms / direct.p50_ms
                rows.append(
                    f"| {conns} | {direct.p50_ms:.3f} | {split.p50_ms:.3f} | "
                    f"{split.p50_ms - direct.p50_ms:+.3f} | {split.p50_ms / direct.p50_ms:.2f} | "
                    f"{direct.p99_ms:.2f} / {split.p99_ms:.2f} | "
                    f"{direct.rps:,.0f} / {split.rps:,.0f} |"
                )
            rows.append("")
            rows.append("| under reloads every 0.5 s, 8 connections | requests | socket errors | "
                        "non-2xx | p99 ms |")  # fmt: skip
            rows.append("| --- | ---: | ---: | ---: | ---: |")
            for name, target in (("edge + router (mlgate)", f"{env.url}/predict"),
                                 ("router alone", router_url)):  # fmt: skip
                result, reloads = _under_reloads(env, work / "env", stable, target, body, seconds)
                errors = result.socket_errors + result.non2xx
                if name.startswith("edge"):
                    found.edge_errors = errors
                else:
                    found.router_errors = errors
                rows.append(
                    f"| {name}, {reloads} reloads | {result.rps * seconds:,.0f} | "
                    f"{result.socket_errors} | {result.non2xx} | {result.p99_ms:.2f} |"
                )
        finally:
            local.stop_environment(env)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return found


def _value(feature: dict[str, object]) -> object:
    if feature.get("kind") == "categorical":
        cats = feature.get("categories") or [""]
        return cats[0]  # type: ignore[index]
    return feature.get("min") or 1.0


def _under_reloads(
    env: EnvironmentRef,
    workdir: Path,
    stable: VariantRef,
    url: str,
    body: Path,
    seconds: float,
) -> tuple[Wrk, int]:
    """wrk at 8 connections while the router is reloaded every 0.5 s."""
    stop = threading.Event()
    count = 0
    route = splitter.Route(stable.address)

    def reloader() -> None:
        nonlocal count
        while not stop.wait(0.5):
            local.set_route(workdir, env, route)
            pin(env.router.pid, CLIENT_CORE)
            count += 1

    thread = threading.Thread(target=reloader)
    thread.start()
    try:
        result = wrk(url, body, 8, seconds)
    finally:
        stop.set()
        thread.join()
    return result, count


def full_canary(
    stable: Path, candidate: Path, work: Path, interval: float
) -> tuple[list[str], float, bool]:
    """Time a 5-step canary under load; the timeline as table rows, seconds, promoted."""
    state_dir = work / "release"
    policy = CanaryConfig(interval=interval, step_weight=20, max_weight=100)
    direct = run_rollout(RolloutRequest(state_dir, "direct", str(stable), policy), registry=None)
    marks: list[tuple[float, str]] = []
    stop = threading.Event()
    failed = 0

    # Real demo rows, not one row repeated: the candidate's input-drift check would (rightly)
    # see a single repeated row as drifted inputs.
    rows = demo_rows(stable)

    def load(n: int) -> None:
        nonlocal failed
        with httpx.Client(timeout=30) as client:
            i = n
            while not stop.is_set():
                i += 4
                body = {"instances": [rows[i % len(rows)]]}
                if client.post(f"{direct.url}/predict", json=body).status_code != 200:
                    failed += 1

    loaders = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for t in loaders:
        t.start()
    start = time.monotonic()
    try:
        outcome = run_rollout(
            RolloutRequest(state_dir, "canary", str(candidate), policy),
            registry=None,
            say=lambda m: marks.append((time.monotonic() - start, m)),
        )
    finally:
        took = time.monotonic() - start
        stop.set()
        for t in loaders:
            t.join()
        from mlgate.app.rollout.stop import stop_rollout

        stop_rollout(state_dir, registry=None)
    table = [f"| {t:5.1f} s | {m[:110]} |" for t, m in marks]
    table.append(f"| {took:5.1f} s | {outcome.phase}: {outcome.reason} |")
    table.append("")
    table.append(f"Total: **{took:.1f} s** (target: under 60 s); failed client requests: {failed}.")
    return table, took, outcome.phase == "succeeded" and failed == 0


def demo_rows(bundle: Path) -> list[dict[str, object]]:
    """The demo project's rows (features only, JSON-ready) beside `bundle`."""
    import csv

    data = bundle.parents[1] / "data" / "churn.csv"
    with data.open(encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))
    numeric = {"tenure_months", "monthly_charges", "total_charges", "age", "support_calls"}
    return [
        {
            k: (float(v) if v else None) if k in numeric else (v or None)
            for k, v in r.items()
            if k not in ("customer_id", "churned")
        }
        for r in records[:2000]
    ]


def main() -> None:
    """Measure the splitter's latency and a full canary; write the summary and detail."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_quick_flag(parser, "3 s wrk runs and a 2 s canary interval")
    args = parser.parse_args()
    seconds = QUICK_SECONDS if args.quick else SECONDS
    interval = QUICK_INTERVAL_S if args.quick else INTERVAL_S
    for tool in ("wrk", "taskset", "prometheus"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed (see scripts/setup-system.sh)")
    splitter.nginx_binary()
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-canary-") as tmp:
        work = Path(tmp)
        stable = train_demo(work / "stable", seed=42)
        candidate = train_demo(work / "candidate", seed=43)
        overhead = splitter_overhead(stable, work / "overhead", seconds)
        timeline, took, promoted = full_canary(stable, candidate, work / "canary", interval)
    text = detail(overhead.rows, timeline, seconds, interval)
    detail_path("canary", args.quick).write_text(text)
    sys.stdout.write(text)
    full = not args.quick
    write_summary(
        [
            Row(
                what="p50 the splitter (nginx edge + router) adds, 8 connections, wrk",
                target=f"< {ADDED_P50_TARGET_MS:g} ms",
                measured=f"{overhead.added_p50_ms:+.3f} ms (x{overhead.ratio:.2f} of direct)",
                met=overhead.added_p50_ms < ADDED_P50_TARGET_MS if full else None,
            ),
            Row(
                what="failed requests while the split reloads every 0.5 s (edge; router alone)",
                target="0 through the edge",
                measured=f"{overhead.edge_errors} ({overhead.router_errors} on the router alone)",
                met=overhead.edge_errors == 0,
            ),
            Row(
                what=f"full canary, 5 steps, {interval:g} s interval, demo model, under load",
                target=f"< {CANARY_TARGET_S:g} s with a {INTERVAL_S:g} s interval",
                measured=f"{took:.1f} s{'' if promoted else ' (not promoted!)'}",
                met=(took < CANARY_TARGET_S and promoted) if full else None,
            ),
        ],
        quick=args.quick,
    )


def detail(overhead: list[str], timeline: list[str], seconds: float, interval: float) -> str:
    """The Markdown detail file."""
    load = os.getloadavg()
    return "\n".join(
        [
            "# Canary benchmark: the splitter's latency, and a full canary's duration",
            "",
            "Command (from the repository root):",
            "",
            "```",
            this_command(),
            "```",
            "",
            f"Machine: {os.cpu_count()} cores shared with other jobs (load average "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end of the run), "
            f"Python {sys.version.split()[0]}, nginx {_nginx_version()}, wrk. Timings are "
            "single runs on a shared machine: read the differences and ratios.",
            "",
            "## 1. Latency the splitter adds",
            "",
            "The demo model (random forest, 100 trees, served by ONNX Runtime), one "
            "`mlgate serve` worker pinned to core 0; wrk (`-t1`) and both nginx processes pinned "
            f"to core 1; {seconds:g} s per run. Each row is one run against the server directly, "
            "then one through the splitter (client -> edge -> router -> server), back to back.",
            "",
            "| connections | direct p50 ms | split p50 ms | added ms | ratio "
            "| p99 ms direct / split | req/s direct / split |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *overhead,
            "",
            "## 2. A full canary on the demo model",
            "",
            "Incumbent and candidate: the demo model trained on two splits (seeds 42 and 43). "
            f"Policy: interval {interval:g} s, step_weight 20, max_weight 100 (5 steps), "
            "threshold 1; four keep-alive clients the whole time. Time from the call (candidate "
            "server starting) to each step:",
            "",
            "| at | step |",
            "| ---: | --- |",
            *timeline,
            "",
        ]
    )


def _nginx_version() -> str:
    out = subprocess.run([splitter.nginx_binary(), "-v"], capture_output=True, text=True)
    return out.stderr.strip().rsplit("/", 1)[-1]


if __name__ == "__main__":
    main()
