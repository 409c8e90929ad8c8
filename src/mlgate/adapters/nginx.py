"""The traffic splitter of a local release: two nginx processes, rendered from a `Route`.

    clients -> edge (the release's address; never reloaded) -> router -> stable / canary

The router holds the split and is reloaded (`nginx -s reload`) at every step: weighted
upstreams for a canary, a sticky split keyed by a header or cookie for A/B (nginx
`split_clients`: the same key always lands on the same variant), `mirror` for shadow (the
candidate gets a copy, the client only the incumbent's answer). A reload lets old workers finish
their requests, but closes their idle keep-alive connections, and a request a client sends on
one at that instant is lost: that is why clients talk to the edge, whose keep-alive connections
never close on a reload, and the edge resends a request whose router connection closed under
it (`proxy_next_upstream error non_idempotent`; a prediction has no side effect to repeat).

The router logs every upstream attempt (address, status, time) as JSON lines; the exporter
(`mlgate.app.rollout.exporter`) turns them into per-variant request and latency series, so a
candidate that refuses connections or answers 5xx is measured as its clients saw it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlgate.errors import InfraError, UsageError
from mlgate.store import atomic, procfs

Mode = Literal["stable", "canary", "ab", "shadow"]
_HEADER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_COOKIE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# Header prefixes nginx (or mlgate) gives a meaning of their own.
_RESERVED = ("host", "content-", "connection", "x-request-id", "x-mlgate-")


@dataclass(frozen=True)
class AbKey:
    """What keys an A/B split: a request header or a cookie (e.g. a user id)."""

    kind: Literal["header", "cookie"]
    name: str

    @classmethod
    def parse(cls, text: str) -> AbKey:
        """`header:X-User-ID` or `cookie:user`; a UsageError names the fix."""
        kind, _, name = text.partition(":")
        if kind == "header" and _HEADER.match(name) and not name.lower().startswith(_RESERVED):
            return cls("header", name)
        if kind == "cookie" and _COOKIE.match(name):
            return cls("cookie", name)
        raise UsageError(
            f"--ab-key {text!r}: expected header:NAME (letters, digits, -) or cookie:NAME "
            "(letters, digits, _)",
            hint="e.g. --ab-key header:X-User-ID, or --ab-key cookie:session",
        )

    @property
    def variable(self) -> str:
        """The nginx variable holding the key."""
        if self.kind == "header":
            return "$http_" + self.name.lower().replace("-", "_")
        return "$cookie_" + self.name

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Route:
    """Where the router sends requests: `canary` is None outside a rollout."""

    stable: str
    canary: str | None = None
    mode: Mode = "stable"
    weight: int = 0
    ab_key: AbKey | None = None

    def __post_init__(self) -> None:
        if self.mode != "stable" and self.canary is None:
            raise ValueError(f"route mode {self.mode} needs a canary address")
        if self.mode == "ab" and self.ab_key is None:
            raise ValueError("an A/B route needs a key")
        if not 0 <= self.weight <= 100:
            raise ValueError(f"weight {self.weight} is not a percentage")


_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# What the variants behind the splitter (`mlgate serve` with its defaults) accept: a body over
# --max-body-mb is refused at the edge with the server's own answer, before nginx buffers it.
SERVER_MAX_BODY_BYTES = 16 * 1024 * 1024
SERVER_HEADER_TIMEOUT_S = 10  # --header-timeout
SERVER_BODY_TIMEOUT_S = 10  # --body-timeout (between two reads)


def _common(workdir: Path, name: str, max_body_bytes: int) -> str:
    temps = "\n".join(f"    {kind}_temp_path {workdir / 'tmp' / kind};" for kind in _TEMP_PATHS)
    return f"""{_worker_user()}worker_processes 1;
daemon off;
pid {workdir / (name + ".pid")};
error_log {workdir / (name + "-error.log")} warn;
events {{ worker_connections 4096; }}
http {{
{temps}
    # The model server's body limit: a body over it is refused here (413) before it is
    # buffered. Bodies are buffered whole before they are proxied (the edge resends a request
    # whose router connection closed, the router hands a failed candidate's request to the
    # incumbent: both need the body): 64 KiB in memory, the rest in a temporary file.
    client_max_body_size {max_body_bytes};
    client_body_buffer_size 64k;
    proxy_request_buffering on;
    # A slow client is nginx's to hold, never the model server's: the same timeouts.
    client_header_timeout {SERVER_HEADER_TIMEOUT_S}s;
    client_body_timeout {SERVER_BODY_TIMEOUT_S}s;
    send_timeout 30s;
    proxy_connect_timeout 5s;
    proxy_send_timeout 30s;
    proxy_read_timeout 60s;
    server_tokens off;
    # Keep-alive to the upstreams. nginx inherits proxy_set_header only into levels that set
    # none of their own, so every level below that sets a header repeats this one.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
"""


def _worker_user() -> str:
    """As root, nginx runs its workers as `nobody`, who cannot reach a work directory inside
    a private one (a body over the memory buffer would fail, 500): run them as root too."""
    return "user root;\n" if os.geteuid() == 0 else ""


def _too_large(max_body_bytes: int) -> str:
    """A server's 413 for a body over the limit, in the model server's JSON error form."""
    body = (
        '{"error":{"kind":"body_too_large","message":"the body is over '
        f'{max_body_bytes} bytes","field":"body","row":null}}}}'
    )
    return f"""        error_page 413 = @mlgate_too_large;
        location @mlgate_too_large {{
            default_type application/json;
            return 413 '{body}';
        }}
"""


def render_edge(
    workdir: Path,
    host: str,
    port: int,
    router_port: int,
    *,
    max_body_bytes: int = SERVER_MAX_BODY_BYTES,
) -> str:
    """The edge: clients' address, proxying everything to the router; never reloaded. A body
    over `max_body_bytes` (the variants' --max-body-mb) is answered 413 here."""
    return (
        _common(workdir, "edge", max_body_bytes)
        + f"""    access_log off;
    upstream mlgate_router {{
        server 127.0.0.1:{router_port} max_fails=0;
        keepalive 64;
    }}
    server {{
        listen {host}:{port};
{_too_large(max_body_bytes)}        location / {{
            proxy_pass http://mlgate_router;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # A keep-alive connection the router closed on a reload fails before an answer:
            # send the request again on a new one (tries 3: the router is one server).
            proxy_next_upstream error non_idempotent;
            proxy_next_upstream_tries 3;
        }}
    }}
}}
"""
    )


def _variant_map(route: Route) -> str:
    lines = [f"        ~{re.escape(route.stable)}$ stable;"]
    if route.canary is not None:
        lines.append(f"        ~{re.escape(route.canary)}$ canary;")
    return "\n".join(lines)


def _upstreams(route: Route) -> str:
    s, c = route.stable, route.canary
    blocks = [f"    upstream mlgate_stable {{ server {s} max_fails=0; keepalive 32; }}"]
    if c is not None:
        # A candidate that refuses a connection hands the request to the incumbent.
        blocks.append(
            f"    upstream mlgate_canary {{ server {c} max_fails=0; server {s} backup; "
            "keepalive 32; }"
        )
        blocks.append(f"    upstream mlgate_shadow {{ server {c} max_fails=0; keepalive 16; }}")
        if route.mode == "canary" and 0 < route.weight < 100:
            blocks.append(
                f"    upstream mlgate_split {{ server {s} weight={100 - route.weight} "
                f"max_fails=0; server {c} weight={route.weight} max_fails=0; keepalive 32; }}"
            )
    return "\n".join(blocks)


def _target(route: Route) -> str:
    if route.mode == "canary":
        if route.weight == 0:
            return "mlgate_stable"
        return "mlgate_canary" if route.weight == 100 else "mlgate_split"
    if route.mode == "ab":
        return "$mlgate_ab_upstream"
    return "mlgate_stable"


def _ab_maps(route: Route, share: int) -> str:
    if route.mode != "ab" or route.ab_key is None:
        return ""
    return f"""    # A/B: one {route.ab_key} always reaches one variant; no key: the incumbent.
    split_clients "{route.ab_key.variable}" $mlgate_ab_bucket {{
        {share}% mlgate_canary;
        * mlgate_stable;
    }}
    map {route.ab_key.variable} $mlgate_ab_upstream {{
        "" mlgate_stable;
        default $mlgate_ab_bucket;
    }}
"""


_SHADOW_MIRROR = """            mirror /__mlgate_shadow;
            mirror_request_body on;
"""
_FEEDBACK_MIRROR = "            mirror /__mlgate_feedback;\n            mirror_request_body on;\n"
_CANDIDATE_COPIES = """        # Copies for the candidate: its answers are dropped unseen.
        location = /__mlgate_shadow {
            internal;
            log_subrequest on;
            set $mlgate_route "/predict";
            proxy_pass http://mlgate_shadow$request_uri;
            proxy_connect_timeout 1s;
            proxy_read_timeout 10s;
        }
        location = /__mlgate_feedback {
            internal;
            proxy_pass http://mlgate_shadow$request_uri;
            proxy_connect_timeout 1s;
            proxy_read_timeout 10s;
        }
"""


def render_router(
    workdir: Path, port: int, route: Route, *, max_body_bytes: int = SERVER_MAX_BODY_BYTES
) -> str:
    """The router for `route`: the split, per-attempt JSON access log, variant header; the
    same body limit as the edge."""
    target = _target(route)
    mirror = _SHADOW_MIRROR if route.mode == "shadow" else ""
    feedback_copy = _FEEDBACK_MIRROR if route.canary is not None else ""
    internal = _CANDIDATE_COPIES if route.canary is not None else ""
    ab = _ab_maps(route, route.weight)
    return (
        _common(workdir, "router", max_body_bytes)
        + f"""    log_format mlgate escape=json '{{"ts":$msec,"route":"$mlgate_route",'
        '"status":"$status","addr":"$upstream_addr","ustatus":"$upstream_status",'
        '"utime":"$upstream_response_time"}}';
    access_log {workdir / "access.log"} mlgate buffer=64k flush=200ms;
    # Both variants see the client's request id (or nginx's), so answers and fed-back
    # labels join across them.
    map $http_x_request_id $mlgate_request_id {{
        "" $request_id;
        default $http_x_request_id;
    }}
    map $upstream_addr $mlgate_variant {{
        default "";
{_variant_map(route)}
    }}
{ab}{_upstreams(route)}
    server {{
        listen 127.0.0.1:{port};
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Request-ID $mlgate_request_id;
        add_header X-Mlgate-Variant $mlgate_variant always;
        set $mlgate_route "other";
{_too_large(max_body_bytes)}        location = /predict {{
            set $mlgate_route "/predict";
{mirror}            proxy_pass http://{target};
            # A prediction has no side effect: a variant that fails before answering is
            # replaced by the next one (the incumbent) instead of failing the client.
            proxy_next_upstream error non_idempotent;
        }}
        location = /feedback {{
            # Labels go to both variants; each counts those of its own predictions.
{feedback_copy}            proxy_pass http://mlgate_stable;
        }}
{internal}        location / {{
            proxy_pass http://{target};
        }}
    }}
}}
"""
    )


# --- the nginx processes -----------------------------------------------------------------------


def nginx_binary() -> str:
    """nginx on PATH (or Debian's /usr/sbin), else an InfraError saying how to install it."""

    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )
    if found is None:
        raise InfraError(
            "nginx is not installed: the local release needs it as its traffic splitter",
            hint="apt-get install -y nginx (or see scripts/setup-system.sh)",
        )
    return found


def write_config(path: Path, text: str) -> Path:
    """Write a config and check it with `nginx -t`; a bad one never replaces the running one."""
    (path.parent / "tmp").mkdir(parents=True, exist_ok=True)
    candidate = path.with_name(f".{path.name}.new")
    candidate.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [nginx_binary(), "-t", "-q", "-c", str(candidate), "-e", str(path.parent / "nginx-t.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        candidate.unlink(missing_ok=True)
        raise InfraError(f"nginx rejected the generated {path.name}: {proc.stderr.strip()}")
    atomic.write_text(path, text)
    candidate.unlink(missing_ok=True)
    return path


def children(pid: int) -> set[int]:
    """The live child processes of `pid` (nginx workers of a master)."""
    return procfs.children(pid)


def reload(master_pid: int, config: Path, *, timeout: float = 30.0) -> set[int]:
    """`nginx -s reload`; returns once new workers run the new config (new requests follow
    it), with the old workers' PIDs, which are still finishing their requests."""
    old = children(master_pid)
    proc = subprocess.run(
        [
            nginx_binary(),
            "-s",
            "reload",
            "-c",
            str(config),
            "-e",
            str(config.parent / "signal.log"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise InfraError(f"nginx -s reload ({config.name}) failed: {proc.stderr.strip()}")
    _wait_workers(master_pid, lambda now: bool(now - old), timeout, config, "start new workers")
    return old


def wait_drained(master_pid: int, old: set[int], config: Path, *, timeout: float = 60.0) -> None:
    """Wait until the old workers finished their requests and exited: nothing is routed by
    the old split any more."""
    _wait_workers(master_pid, lambda now: not (now & old), timeout, config, "drain old workers")


def _wait_workers(
    master_pid: int, done: Callable[[set[int]], bool], timeout: float, config: Path, what: str
) -> None:
    deadline = time.monotonic() + timeout
    while not done(now := children(master_pid)):
        if time.monotonic() > deadline:
            raise InfraError(
                f"nginx ({config.name}, pid {master_pid}) did not {what} in {timeout:.0f}s "
                f"(workers {sorted(now)})"
            )
        time.sleep(0.02)


def stop_signal() -> signal.Signals:
    """nginx's graceful shutdown: finish requests, then exit."""
    return signal.SIGQUIT
