"""Micro-batcher properties: bounded batches, FIFO without starvation, isolated errors."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgate.serve.batcher import BatcherClosed, MicroBatcher

pytestmark = pytest.mark.unit


class Recorder:
    """A batch function that records the batches it was given and doubles each item."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(0)  # let more submissions arrive while "predicting"
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [2 * i for i in items]


async def _run(n: int, max_batch: int, max_wait: float, rec: Recorder) -> list[int | BaseException]:
    batcher: MicroBatcher[int, int] = MicroBatcher(rec, max_batch=max_batch, max_wait=max_wait)
    batcher.start()
    results = await asyncio.gather(*(batcher.submit(i) for i in range(n)), return_exceptions=True)
    await batcher.close()
    return results


@given(n=st.integers(1, 200), max_batch=st.integers(1, 40), wait=st.sampled_from([0.0, 0.001]))
@settings(max_examples=60, deadline=None)
def test_batches_never_exceed_max_and_every_item_is_answered_in_order(
    n: int, max_batch: int, wait: float
) -> None:
    """Each item gets its own result; batches are bounded and taken first-in first-out."""
    rec = Recorder()
    results = asyncio.run(_run(n, max_batch, wait, rec))
    assert results == [2 * i for i in range(n)]
    assert all(1 <= len(b) <= max_batch for b in rec.batches)
    assert [i for b in rec.batches for i in b] == list(range(n))  # FIFO: no item overtaken


def test_errors_reach_only_the_item_that_caused_them() -> None:
    """A failing batch is retried item by item; only the culprit fails."""
    rec = Recorder(fail_on=5)
    results = asyncio.run(_run(12, 8, 0.0, rec))
    assert isinstance(results[5], ValueError)
    assert [r for i, r in enumerate(results) if i != 5] == [2 * i for i in range(12) if i != 5]


def test_a_lone_item_waits_at_most_max_wait() -> None:
    """With max_wait, a single request is not held until the batch fills."""

    async def main() -> float:
        rec = Recorder()
        batcher: MicroBatcher[int, int] = MicroBatcher(rec, max_batch=64, max_wait=0.02)
        batcher.start()
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await asyncio.wait_for(batcher.submit(1), timeout=5) == 2
        elapsed = loop.time() - start
        await batcher.close()
        return elapsed

    assert asyncio.run(main()) < 5


def test_a_full_batch_does_not_wait() -> None:
    """Once max_batch items are queued they go at once, however long max_wait is."""

    async def main() -> list[int]:
        rec = Recorder()
        batcher: MicroBatcher[int, int] = MicroBatcher(rec, max_batch=4, max_wait=60.0)
        batcher.start()
        out = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(4))), 5)
        await batcher.close()
        return list(out)

    assert asyncio.run(main()) == [0, 2, 4, 6]


def test_closed_batcher_refuses_and_drains() -> None:
    """close() answers what was queued, then refuses new items."""

    async def main() -> None:
        rec = Recorder()
        batcher: MicroBatcher[int, int] = MicroBatcher(rec, max_batch=2)
        batcher.start()
        pending = [asyncio.ensure_future(batcher.submit(i)) for i in range(5)]
        await asyncio.sleep(0)
        await batcher.close()
        assert [await p for p in pending] == [0, 2, 4, 6, 8]
        with pytest.raises(BatcherClosed):
            await batcher.submit(9)

    asyncio.run(main())


def test_cancelled_request_is_skipped() -> None:
    """A request whose client went away is not sent to the model."""

    async def main() -> list[list[int]]:
        rec = Recorder()
        batcher: MicroBatcher[int, int] = MicroBatcher(rec, max_batch=8, max_wait=0.05)
        batcher.start()
        gone = asyncio.ensure_future(batcher.submit(1))
        kept = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0)
        gone.cancel()
        assert await kept == 4
        await batcher.close()
        return rec.batches

    assert asyncio.run(main()) == [[2]]
