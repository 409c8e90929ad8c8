"""Answers to bad requests: each carries the HTTP status, a kind for metrics, and the field."""

from __future__ import annotations

from typing import Any


class RequestError(Exception):
    """A request the server refuses, answered 4xx (or 503 when not ready) with a JSON body."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        field: str | None = None,
        row: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.field = field
        self.row = row
        self.headers = headers

    def body(self) -> dict[str, Any]:
        """The JSON error body: {"error": {kind, message, field, row}}."""
        return {
            "error": {
                "kind": self.kind,
                "message": self.message,
                "field": self.field,
                "row": self.row,
            }
        }


def invalid(message: str, *, field: str | None = None, row: int | None = None) -> RequestError:
    """A 422: the JSON is well formed but does not fit the model's schema."""
    return RequestError(422, "validation", message, field=field, row=row)


class ClientDisconnected(Exception):
    """The client went away before its request body was complete (nothing to answer)."""
