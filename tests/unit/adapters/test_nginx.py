"""The splitter's nginx configs bound what a client can send: the model server's body limit
(413 in its JSON form, from the edge), bounded buffering, and the server's timeouts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from mlgate.adapters import nginx as splitter
from mlgate.adapters.nginx import Route
from mlgate.serve.settings import ServeSettings

pytestmark = pytest.mark.unit

ROUTES = [
    Route("127.0.0.1:1"),
    Route("127.0.0.1:1", "127.0.0.1:2", "canary", 30),
    Route("127.0.0.1:1", "127.0.0.1:2", "shadow"),
]


def configs(tmp_path: Path, **kwargs: int) -> list[str]:
    edge = splitter.render_edge(tmp_path, "127.0.0.1", 8, 9, **kwargs)
    return [edge, *(splitter.render_router(tmp_path, 9, r, **kwargs) for r in ROUTES)]


def directive(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name} ([^;]+);", text, re.M)


def test_the_body_limit_is_the_servers(tmp_path: Path) -> None:
    assert ServeSettings().max_body_bytes == splitter.SERVER_MAX_BODY_BYTES
    for text in configs(tmp_path):
        assert directive(text, "client_max_body_size") == [str(ServeSettings().max_body_bytes)]
    for text in configs(tmp_path, max_body_bytes=1024):
        assert directive(text, "client_max_body_size") == ["1024"]


def test_a_body_over_the_limit_gets_the_servers_413(tmp_path: Path) -> None:
    for text in configs(tmp_path, max_body_bytes=2048):
        assert directive(text, "error_page") == ["413 = @mlgate_too_large"]
        (answer,) = re.findall(r"return 413 '([^']+)';", text)
        assert json.loads(answer) == {
            "error": {
                "kind": "body_too_large",
                "message": "the body is over 2048 bytes",
                "field": "body",
                "row": None,
            }
        }


def test_buffering_is_bounded_and_the_timeouts_are_the_servers(tmp_path: Path) -> None:
    settings = ServeSettings()
    for text in configs(tmp_path):
        assert directive(text, "client_body_buffer_size") == ["64k"]
        assert directive(text, "proxy_request_buffering") == ["on"]
        assert directive(text, "client_header_timeout") == [f"{settings.header_timeout:g}s"]
        assert directive(text, "client_body_timeout") == [f"{settings.body_timeout:g}s"]
        for name in ("send_timeout", "proxy_connect_timeout", "proxy_send_timeout"):
            assert directive(text, name), name  # set for the whole http block
        # Buffered bodies stay in the release's own directory.
        assert directive(text, "client_body_temp_path") == [str(tmp_path / "tmp" / "client_body")]


def test_workers_run_as_root_only_when_nginx_is_started_as_root(tmp_path: Path) -> None:
    for text in configs(tmp_path):
        assert (directive(text, "user") == ["root"]) == (os.geteuid() == 0)
