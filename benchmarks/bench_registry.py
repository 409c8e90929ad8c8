"""Time `mlgate models`, `promote`, `rollback` and `mlgate run`'s champion lookup on a registry of
50 versions: MLflow's client against the light clients (sqlite3, REST), in the same run.

    .venv/bin/python -m benchmarks.bench_registry [--rounds 7] [--versions 50] [--quick]
    bash scripts/with-mlflow.sh .venv/bin/python -m benchmarks.bench_registry

The registry is the demo project's embedded SQLite file and, when MLGATE_TEST_TRACKING_URI names
a tracking server (scripts/with-mlflow.sh starts one on PostgreSQL), that server too. It is
written once by MLflow's client: 50 versions with mlgate's tags, `champion` and `challenger`.
Each case is a fresh process, as a user runs it; each round runs every case once with MLflow's
client (`MLGATE_REGISTRY_CLIENT=mlflow`, what every command did before the light clients) and
once with the default client, so background load falls on both alike. The champion lookup is
what `mlgate run` does before training (`fail_abandoned_runs`, then the `champion` alias),
timed inside a process that has already imported `mlgate.app.run`. `--quick`: 3 rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from benchmarks.summary import Row, add_quick_flag, detail_path, this_command, write_summary

# Deferred imports: MLflow and the demo scaffold load only to seed the registry, in this process;
# the processes timed import what they import.

TIMEOUT_S = 1800
TARGET_S = 1.0
ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "registry"
SERVER_ENV = "MLGATE_TEST_TRACKING_URI"
CLIENT_ENV = "MLGATE_REGISTRY_CLIENT"
MLGATE = str(Path(sys.executable).parent / "mlgate")
LOOKUP = """
import sys, time
import mlgate.app.run  # what `mlgate run` has loaded when it looks the champion up
from mlgate.adapters.mlflow import open_registry
from mlgate.app.champion import champion_info
registry = open_registry()
t0 = time.perf_counter()
registry.check_reachable()
registry.fail_abandoned_runs(sys.argv[1])
info = champion_info(registry, sys.argv[1])
assert info is not None
print(time.perf_counter() - t0)
"""


def seed(uri: str, name: str, versions: int) -> None:
    """`versions` versions of `name` with mlgate's tags, written by MLflow's client."""
    from mlflow.tracking import MlflowClient

    from mlgate.adapters.mlflow.integrity import DIGEST_TAG

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment(name)
    run = client.create_run(exp).info.run_id
    client.set_terminated(run, "FINISHED")
    client.create_registered_model(name)
    for i in range(1, versions + 1):
        tags = {
            DIGEST_TAG: f"sha256:{i:064x}",
            "mlgate.metrics": json.dumps({"f1": 0.6 + i / 1000, "roc_auc": 0.8 + i / 1000}),
            "mlgate.registered_by": "bench",
            "mlgate.registered_at": "2026-01-01T00:00:00+00:00",
            **{f"mlgate.lineage.{k}": f"{k}-{i}" for k in ("git_commit", "data_fingerprint")},
        }
        client.create_model_version(name, source=f"runs:/{run}/model", run_id=run, tags=tags)
    client.set_registered_model_alias(name, "challenger", str(versions))
    client.set_registered_model_alias(name, "champion", str(versions - 1))


def project(where: str, versions: int) -> tuple[Path, dict[str, str], str]:
    """A demo project with a seeded registry: its root, the environment to run in, its URI."""
    from mlgate.app.scaffold import init_demo

    root = WORK / where
    init_demo(root, rows=500)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    config = root / "mlgate.yaml"
    config.write_text(config.read_text().replace("name: churn\n", f"name: {name}\n"))
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", CLIENT_ENV)}
    env["GITHUB_ACTOR"] = "bench"
    if where == "server":
        uri = os.environ[SERVER_ENV]
        env["MLFLOW_TRACKING_URI"] = uri
    else:
        uri = f"sqlite:///{(root / 'mlruns' / 'mlflow.db').resolve()}"
    seed(uri, name, versions)
    return root, env, name


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of one process; it must succeed."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    if argv[1] == "-c":  # the lookup reports its own time
        return float(proc.stdout.strip().splitlines()[-1])
    return seconds


def cases(name: str, versions: int) -> dict[str, list[list[str]]]:
    """Each case's processes, run one after the other: promote moves `champion` and rollback
    moves it back, so every round finds the registry as the last left it."""
    return {
        "`mlgate models`": [[MLGATE, "models"]],
        "`mlgate promote`": [[MLGATE, "promote", str(versions), "--reason", "bench"]],
        "`mlgate rollback`": [[MLGATE, "rollback", "--reason", "bench"]],
        "champion lookup in `mlgate run`": [[sys.executable, "-c", LOOKUP, name]],
    }


def measure(where: str, rounds: int, versions: int) -> dict[str, dict[str, list[float]]]:
    """{case: {client: [seconds per round]}} for one registry backend."""
    root, env, name = project(where, versions)
    clients = {"mlflow": {**env, CLIENT_ENV: "mlflow"}, "light": env}
    times: dict[str, dict[str, list[float]]] = {}
    for r in range(rounds + 1):  # round 0 warms the caches and is not counted
        for client, client_env in clients.items():  # each client: promote, then roll back
            for case, argvs in cases(name, versions).items():
                for argv in argvs:
                    seconds = timed(argv, root, client_env)
                    if r:
                        times.setdefault(case, {}).setdefault(client, []).append(seconds)
        print(f"{where}: round {r}/{rounds} done", flush=True)
    return times


def main() -> None:
    """Measure, write benchmarks/RESULTS_registry.md and the summary rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--versions", type=int, default=50)
    add_quick_flag(parser, "3 rounds instead of 7")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 3
    shutil.rmtree(WORK, ignore_errors=True)
    backends = ["sqlite"] + (["server"] if os.environ.get(SERVER_ENV) else [])
    load_before = os.getloadavg()[0]
    results = {b: measure(b, args.rounds, args.versions) for b in backends}
    load_after = os.getloadavg()[0]

    shown = {"sqlite": "SQLite file", "server": "tracking server (PostgreSQL)"}
    lines = [
        "# Registry commands: MLflow's client vs the light clients",
        "",
        "Command (from the repository root):",
        "",
        f"    {this_command()}",
        "",
        f"with the tracking server {SERVER_ENV} names (`bash scripts/with-mlflow.sh` around the "
        "command starts one on PostgreSQL and sets it).",
        "",
        f"Registry: {args.versions} versions written by MLflow's client; {args.rounds} rounds, "
        "each case a fresh process, run once with `MLGATE_REGISTRY_CLIENT=mlflow` (MLflow's "
        "client, the path before) and once with the default (sqlite3 for the SQLite file, REST "
        "for the server), in turn. Median seconds; ratio = MLflow's / light.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs (load "
        f"average {load_before:.1f} before, {load_after:.1f} after), Python "
        f"{platform.python_version()}.",
        "",
        "| registry | case | MLflow's client s | light client s | ratio | target ≤ 1 s |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    rows: list[Row] = []
    for backend, times in results.items():
        for case, by_client in times.items():
            old = statistics.median(by_client["mlflow"])
            new = statistics.median(by_client["light"])
            met = new <= TARGET_S
            lines.append(
                f"| {shown[backend]} | {case} | {old:.2f} | {new:.2f} | {old / new:.1f}x | "
                f"{'yes' if met else '**no**'} |"
            )
            rows.append(
                Row(
                    what=f"{case} on the {shown[backend]}, {args.versions} versions",
                    target=f"≤ {TARGET_S:g} s median",
                    measured=f"{new:.2f} s (MLflow's client {old:.2f} s, {old / new:.1f}x), "
                    f"median of {args.rounds}",
                    met=met,
                )
            )
    if "server" not in results:
        lines += ["", f"No tracking server: {SERVER_ENV} was not set (scripts/with-mlflow.sh)."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = detail_path("registry", args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    write_summary(rows, quick=args.quick)


if __name__ == "__main__":
    main()
