"""A synchronous client for an ASGI app in this process, lifespan included.

Starlette's TestClient now warns that it wants `httpx2`; this is the same idea in a few lines:
httpx's ASGITransport for requests, an anyio blocking portal for the event loop.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

import anyio.from_thread
import httpx
from fastapi import FastAPI


class AppClient:
    """`with AppClient(app) as c: c.get("/ready")`: runs the app's lifespan around the block."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> AppClient:
        portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())
        self._portal = portal
        self._stack.enter_context(
            portal.wrap_async_context_manager(self.app.router.lifespan_context(self.app))
        )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://app"
        )
        self._client = client
        self._stack.callback(portal.call, client.aclose)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request through the app."""

        async def send() -> httpx.Response:
            return await self._client.request(method, url, **kwargs)

        return self._portal.call(send)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET `url`."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST to `url`."""
        return self.request("POST", url, **kwargs)
