"""The environment of a release on one machine, around its variants (`variants.py`): the
splitter (nginx edge + router), its exporter, and Prometheus.

    edge        nginx on the release's address; router: nginx holding the split
    exporter    the router's access log as per-upstream Prometheus series
    prometheus  scrapes every variant's /metrics and the exporter, for the analysis

Everything binds 127.0.0.1 (the edge: the host asked for), is recorded by PID and start time
(containers by name) and stopped that way; nothing is found or killed by name.
"""

from __future__ import annotations

import json
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from mlgate.adapters import nginx as splitter
from mlgate.adapters import procs
from mlgate.core.records.rollout import EnvironmentRef, ProcRef, VariantRef
from mlgate.errors import InfraError, UsageError
from mlgate.store import atomic

UPSTREAMS = "upstreams.json"


# --- the splitter, exporter and Prometheus -----------------------------------------------------


def metrics_lag(env: EnvironmentRef) -> float:
    """How far Prometheus trails the traffic: the router's log buffer (0.2 s), the exporter's
    poll (0.1 s) and one scrape."""
    return env.scrape_interval + 0.3


def scrape_interval(interval_s: float) -> float:
    """Prometheus' scrape interval for an analysis interval: at least 4 samples a window."""
    return round(min(5.0, max(0.25, interval_s / 5.0)), 3)


def prometheus_config(exporter_port: int, scrape_s: float, variants: dict[str, VariantRef]) -> str:
    """prometheus.yml: the variants (`job="mlgate"`, labelled by role) and the exporter."""
    interval = f"{round(scrape_s * 1000)}ms"
    targets = [
        {
            "targets": [v.metrics_address],
            "labels": {"variant": role, "model_version": v.label},
        }
        for role, v in variants.items()
    ]
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "scrape_configs": [
            {"job_name": "mlgate", "static_configs": targets},
            {
                "job_name": "mlgate-splitter",
                "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
            },
        ],
    }
    header = "# Written by `mlgate deploy --target local`; rewritten at every release step.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def start_environment(
    workdir: Path, *, host: str, port: int, stable: VariantRef, scrape_s: float
) -> EnvironmentRef:
    """Start router, edge, exporter and Prometheus with every request going to `stable`."""
    if port and not _port_free(host, port):
        raise UsageError(
            f"{host}:{port} is in use: the release's address must be free",
            hint="choose another --port, or stop what listens there",
        )
    port = port or procs.free_port(host)
    router_port, exporter_port, prom_port = (procs.free_port() for _ in range(3))
    started: list[ProcRef] = []
    try:
        router, edge = _start_splitter(workdir, host, port, router_port, stable, started)
        exporter = procs.spawn(
            procs.python_module(
                "mlgate.app.rollout.exporter", "--log", str(workdir / "access.log"),
                "--upstreams", str(workdir / UPSTREAMS), "--port", str(exporter_port),
            ),
            what="splitter exporter",
            log=workdir / "exporter.log",
        )  # fmt: skip
        started.append(exporter)
        prometheus = _start_prometheus(workdir, prom_port, exporter_port, scrape_s, stable)
        started.append(prometheus)
        env = EnvironmentRef(
            host=host,
            port=port,
            router_port=router_port,
            exporter_port=exporter_port,
            prometheus_port=prom_port,
            scrape_interval=scrape_s,
            edge=edge,
            router=router,
            exporter=exporter,
            prometheus=prometheus,
        )
        _wait_ready(env)
    except BaseException:
        for ref in reversed(started):
            procs.stop(ref, timeout=10)
        raise
    return env


def _start_splitter(
    workdir: Path,
    host: str,
    port: int,
    router_port: int,
    stable: VariantRef,
    started: list[ProcRef],
) -> tuple[ProcRef, ProcRef]:
    """The router (holding the split, all to `stable`), then the edge in front of it."""
    route = splitter.Route(stable=stable.address)
    router_conf = splitter.write_config(
        workdir / "router.conf", splitter.render_router(workdir, router_port, route)
    )
    (workdir / "access.log").touch()
    atomic.write_text(workdir / UPSTREAMS, json.dumps([stable.address]))
    router = _nginx(router_conf, "router", workdir)
    started.append(router)
    edge_conf = splitter.write_config(
        workdir / "edge.conf", splitter.render_edge(workdir, host, port, router_port)
    )
    edge = _nginx(edge_conf, "edge", workdir)
    started.append(edge)
    return router, edge


def _start_prometheus(
    workdir: Path, port: int, exporter_port: int, scrape_s: float, stable: VariantRef
) -> ProcRef:
    prom_dir = workdir / "prometheus"
    atomic.write_text(
        prom_dir / "prometheus.yml",
        prometheus_config(exporter_port, scrape_s, {"stable": stable}),
    )
    return procs.spawn(
        [
            _prometheus_binary(),
            f"--config.file={prom_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={prom_dir / 'data'}",
            "--storage.tsdb.retention.time=2d",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ],
        what="prometheus",
        log=prom_dir / "prometheus.log",
    )


def _wait_ready(env: EnvironmentRef) -> None:
    procs.wait_for(
        lambda: procs.http_ok(f"{env.prometheus_url}/-/ready"),
        timeout=60,
        what="prometheus ready",
        ref=env.prometheus,
    )
    procs.wait_for(
        lambda: procs.http_ok(f"http://127.0.0.1:{env.exporter_port}/metrics"),
        timeout=30,
        what="splitter exporter ready",
        ref=env.exporter,
    )
    procs.wait_for(
        lambda: procs.http_ok(f"{env.url}/ready"), timeout=30, what="splitter ready", ref=env.edge
    )


def _port_free(host: str, port: int) -> bool:

    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise InfraError(
            "prometheus is not installed: the local release analyses canaries with it",
            hint="apt-get install -y prometheus (or see scripts/setup-system.sh)",
        )
    return found


def _nginx(config: Path, what: str, workdir: Path) -> ProcRef:
    ref = procs.spawn(
        [splitter.nginx_binary(), "-c", str(config), "-e", str(workdir / f"{what}-error.log")],
        what=f"nginx {what}",
        log=workdir / f"{what}.out",
    )
    procs.wait_for(
        lambda: bool(splitter.children(ref.pid)), timeout=30, what=f"nginx {what}", ref=ref
    )
    return ref


def environment_running(env: EnvironmentRef) -> bool:
    """Every process of the environment still runs."""
    return all(procs.alive(p) for p in env.processes())


def set_route(
    workdir: Path,
    env: EnvironmentRef,
    route: splitter.Route,
    active: Callable[[], None] | None = None,
) -> None:
    """Render the router for `route` and reload it; `active` is called as soon as new
    requests follow the new split; returns once the old split has finished its requests."""
    conf = splitter.write_config(
        workdir / "router.conf", splitter.render_router(workdir, env.router_port, route)
    )
    old = splitter.reload(env.router.pid, conf)
    if active is not None:
        active()
    splitter.wait_drained(env.router.pid, old, conf)


def set_targets(workdir: Path, env: EnvironmentRef, variants: dict[str, VariantRef]) -> None:
    """Point Prometheus at these variants (by role) and reload it; have the exporter create
    their splitter series."""
    atomic.write_text(workdir / UPSTREAMS, json.dumps(sorted(v.address for v in variants.values())))
    prom_dir = workdir / "prometheus"
    atomic.write_text(
        prom_dir / "prometheus.yml",
        prometheus_config(env.exporter_port, env.scrape_interval, variants),
    )
    request = urllib.request.Request(f"{env.prometheus_url}/-/reload", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            resp.read()
    except (urllib.error.URLError, OSError) as exc:
        raise InfraError(f"prometheus ({env.prometheus_url}) did not reload: {exc}") from None


def stop_environment(env: EnvironmentRef) -> None:
    """Stop the edge first (no new requests), then the router, exporter and Prometheus."""
    procs.stop(env.edge, sig=splitter.stop_signal(), timeout=30)
    procs.stop(env.router, sig=splitter.stop_signal(), timeout=30)
    procs.stop(env.exporter, timeout=10)
    procs.stop(env.prometheus, timeout=30)


class LocalSplitter:
    """The environment above as the controller's `Splitter`, its files in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def start(self, *, host: str, port: int, stable: VariantRef, scrape_s: float) -> EnvironmentRef:
        """Start router, edge, exporter and Prometheus on `stable`."""
        return start_environment(
            self.workdir, host=host, port=port, stable=stable, scrape_s=scrape_s
        )

    def running(self, env: EnvironmentRef) -> bool:
        """Every process of the environment still runs."""
        return environment_running(env)

    def route(
        self, env: EnvironmentRef, route: splitter.Route, active: Callable[[], None] | None = None
    ) -> None:
        """Reload the router for `route`."""
        set_route(self.workdir, env, route, active)

    def targets(self, env: EnvironmentRef, variants: Mapping[str, VariantRef]) -> None:
        """Point Prometheus and the exporter at these variants."""
        set_targets(self.workdir, env, dict(variants))

    def lag(self, env: EnvironmentRef) -> float:
        """How far Prometheus trails the traffic."""
        return metrics_lag(env)

    def stop(self, env: EnvironmentRef) -> None:
        """Stop the edge, the router, the exporter and Prometheus."""
        stop_environment(env)
