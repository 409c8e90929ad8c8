"""A fault-injecting HTTP proxy in front of a real model server: a test harness, not a fake.

The candidate behind it is a real `mlgate serve`; the proxy only adds what a broken release
would do to its answers: a share of 5xx, or extra latency, on /predict. Everything else
(/ready, /metrics) passes through untouched, so the canary analysis sees the real server's
model metrics and, through the splitter, what clients saw.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fault:
    """What to do to /predict: answer 500 to `error_share` of requests, add `delay_s`."""

    error_share: float = 0.0
    delay_s: float = 0.0


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


class FaultProxy:
    """Serve on a free 127.0.0.1 port, forwarding to `upstream` (host:port) with `fault`."""

    def __init__(self, upstream: str, fault: Fault) -> None:
        self.upstream = upstream
        self.fault = fault
        self.injected = 0
        self._due = 0.0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self, body: bytes | None) -> None:
                host, port = proxy.upstream.rsplit(":", 1)
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.path.startswith("/predict"):
                    if proxy.fault.delay_s:
                        time.sleep(proxy.fault.delay_s)
                    if proxy.roll():
                        data = b'{"error":{"kind":"internal","message":"injected fault"}}'
                        self.send_response(500)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                self._forward(body)

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def roll(self) -> bool:
        """Whether this request gets the injected error: exactly `error_share` of them, evenly
        spread (every fifth for 0.2), so a short window sees its share."""
        with self._lock:
            self._due += self.fault.error_share
            hit = self._due >= 1.0
            if hit:
                self._due -= 1.0
                self.injected += 1
            return hit

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
