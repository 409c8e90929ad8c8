"""Micro-batching: concurrent single-row requests share one model call.

Guarantees (tested in tests/unit/serve/test_batcher.py):
- a batch never holds more than `max_batch` items;
- first in, first out: every batch takes the oldest waiting items, so none starves, and an item
  waits at most `max_wait` plus the batches queued before it;
- a failing batch is retried item by item, so an error reaches only the request that caused it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class BatcherClosed(RuntimeError):
    """The batcher is stopping and takes no new items."""


class MicroBatcher(Generic[T, R]):
    """Collects submitted items into batches for `run`, which returns one result per item."""

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[list[R]]],
        *,
        max_batch: int,
        max_wait: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run = run
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._on_batch = on_batch
        self._pending: collections.deque[tuple[T, asyncio.Future[R]]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result (or its own exception)."""
        if self._closing or self._task is None:
            raise BatcherClosed("the batcher is not running")
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._wakeup.set()
        if len(self._pending) >= self.max_batch:
            self._full.set()
        return await fut

    async def close(self) -> None:
        """Stop taking items, finish every queued one, then stop the loop."""
        self._closing = True
        self._wakeup.set()
        self._full.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while True:
            await self._wakeup.wait()
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                continue
            if self.max_wait > 0 and len(self._pending) < self.max_batch and not self._closing:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.max_wait)
            take = min(self.max_batch, len(self._pending))
            batch = [self._pending.popleft() for _ in range(take)]
            if not self._pending and not self._closing:
                self._wakeup.clear()
            await self._execute(batch)

    async def _execute(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        # A request whose client went away was cancelled; do not spend the model on it.
        live = [(item, fut) for item, fut in batch if not fut.done()]
        if not live:
            return
        if self._on_batch is not None:
            self._on_batch(len(live))
        try:
            results = await self._run([item for item, _ in live])
            if len(results) != len(live):
                raise RuntimeError(f"batch of {len(live)} items gave {len(results)} results")
        except Exception as exc:
            if len(live) == 1:
                _set(live[0][1], exc)
                return
            # Isolate the failure: run each item alone so only the culprit gets the error.
            for item, fut in live:
                try:
                    (result,) = await self._run([item])
                except Exception as exc:
                    _set(fut, exc)
                else:
                    _set(fut, result)
            return
        for (_, fut), result in zip(live, results, strict=True):
            _set(fut, result)


def _set(fut: asyncio.Future[R], outcome: R | BaseException) -> None:
    if fut.done():
        return
    if isinstance(outcome, BaseException):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)
