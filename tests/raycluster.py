"""A real Ray cluster for the tests, in a network namespace of its own.

Ray listens on every interface and its processes reach each other through the host's own
address, so the head, its workers and every client the tests run live in a namespace where only
loopback exists (`unshare --net`, root only): a holder process keeps the namespace, `nsenter`
runs commands in it, and stopping the cluster SIGKILLs every process whose network namespace is
that one, then the holder. Nothing of it outlives the fixture, and nothing listens on the host.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
GCS_PORT = 6379
DASHBOARD = "http://127.0.0.1:8265"


def unavailable() -> str | None:
    """Why a namespaced cluster cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "a Ray cluster in a network namespace of its own needs root (unshare --net)"
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (util-linux, iproute2)"
    if not (BIN / "ray").exists():
        return "ray is not installed (the `ray` extra)"
    return None


@dataclass
class RayCluster:
    """A head with `cpus` worker slots, reachable at `address` from commands run by `run`."""

    holder: subprocess.Popen[str]
    temp_dir: Path
    address: str = f"127.0.0.1:{GCS_PORT}"

    @property
    def netns(self) -> str:
        return f"/proc/{self.holder.pid}/ns/net"

    def argv(self, *argv: str) -> list[str]:
        return ["nsenter", f"--net={self.netns}", *argv]

    def run(
        self, *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the cluster's namespace; its output captured."""
        return subprocess.run(
            self.argv(*argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=900
        )

    def popen(self, *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
        return subprocess.Popen(
            self.argv(*argv),
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def state(self, what: str, **filters: str) -> list[dict[str, Any]]:
        """Ray's state API (`jobs`, `tasks`, `nodes`), asked from inside the namespace."""
        script = (
            "import json, sys\n"
            "from ray.util import state\n"
            f"filters = [(k, '=', v) for k, v in {filters!r}.items()]\n"
            f"rows = state.list_{what}(address={DASHBOARD!r}, filters=filters or None, "
            "limit=10000, raise_on_missing_output=False)\n"
            "print(json.dumps([r if isinstance(r, dict) else r.__dict__ for r in rows], "
            "default=str))\n"
        )
        done = self.run(str(BIN / "python"), "-c", script)
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
        return rows

    def pids(self) -> list[int]:
        """Every process in the cluster's network namespace, the holder aside."""
        mine = os.readlink(self.netns)
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.holder.pid:
                continue
            try:
                if os.readlink(entry / "ns" / "net") == mine:
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def stop(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        self.holder.kill()
        self.holder.wait()
        if self.holder.stdout is not None:
            self.holder.stdout.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start(cpus: int = 2) -> RayCluster:
    """A head node with `cpus` CPUs (one worker process per trial slot), up and answering."""
    holder = subprocess.Popen(
        ["unshare", "--net", "sh", "-c", "ip link set lo up && echo up && exec sleep infinity"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    if holder.stdout.readline().strip() != "up":
        holder.kill()
        holder.wait()
        holder.stdout.close()
        raise RuntimeError("the network namespace for Ray did not come up")
    # A short path: Ray's Unix sockets live under it (108 bytes at most).
    cluster = RayCluster(holder, Path(tempfile.mkdtemp(prefix="ray", dir="/tmp")))
    started = cluster.run(
        str(BIN / "ray"),
        "start",
        "--head",
        f"--num-cpus={cpus}",
        f"--port={GCS_PORT}",
        f"--temp-dir={cluster.temp_dir}",
        "--disable-usage-stats",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    if started.returncode != 0:
        cluster.stop()
        raise RuntimeError(f"ray start failed:\n{started.stdout}\n{started.stderr}")
    deadline = time.monotonic() + 60
    while True:  # the dashboard (the state API and the job list) answers a little later
        probe = cluster.run(
            str(BIN / "python"),
            "-c",
            f"import urllib.request; urllib.request.urlopen('{DASHBOARD}/api/version', timeout=2)",
        )
        if probe.returncode == 0:
            return cluster
        if time.monotonic() > deadline:
            cluster.stop()
            raise RuntimeError(f"Ray's dashboard did not answer: {probe.stderr[-2000:]}")
        time.sleep(1)
