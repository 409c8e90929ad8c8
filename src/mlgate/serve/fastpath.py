"""A pure-ASGI front for `POST /predict`: the hot route skips the router.

The route is answered by a plain ASGI app (predict.py: `PredictEndpoint`), which the router
reaches too; this middleware hands it `POST /predict` before the exception middleware and the
route matching run, and passes every other request on to FastAPI.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class PredictFastPath:
    """ASGI middleware: `POST <path>` goes straight to `endpoint`; the rest to `app`."""

    def __init__(self, app: ASGIApp, *, path: str, endpoint: ASGIApp) -> None:
        self.app = app
        self.path = path
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one ASGI call."""
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        await self.endpoint(scope, receive, send)
