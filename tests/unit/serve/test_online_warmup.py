"""The online store's warm-up before a server is ready (serve/online.py, `OnlineJoin.warm` and
`warm_soon`): one bounded lookup of a placeholder entity, a warning and a usable join when the
store is down or slow, and the kept-alive connection it opens reused by the first request."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc
import orjson
import pytest

from mlgate.serve.errors import RequestError
from mlgate.serve.online import (
    WARM_SECONDS,
    FeatureServer,
    OnlineJoin,
    StoreUnavailable,
    warm_soon,
)

pytestmark = pytest.mark.unit

REFS = ("orders:spend_30d", "visits:visits_7d")
KEYS = ("customer_id", "region")
URL = "http://feast.test:6566"


class RecordingStore:
    """Answers every entity as unknown (an empty answer), down or hanging when asked."""

    url = URL

    def __init__(self, down: bool = False, hang: bool = False) -> None:
        self.down = down
        self.hang = hang
        self.calls: list[tuple[tuple[str, ...], dict[str, list[Any]], float | None]] = []

    async def lookup(
        self, refs: Sequence[str], entities: dict[str, list[Any]], *, timeout: float | None = None
    ) -> dict[str, list[Any]]:
        self.calls.append((tuple(refs), entities, timeout))
        if self.hang and len(self.calls) == 1:
            await anyio.sleep_forever()
        if self.down:
            raise StoreUnavailable(
                f"the online feature store ({URL}) is unreachable (ConnectError)"
            )
        return {"spend_30d": [1.0] * len(entities["customer_id"]), "visits_7d": [2]}

    async def close(self) -> None:
        pass


def _join(store: RecordingStore) -> OnlineJoin:
    nullable = {ref.partition(":")[2]: False for ref in REFS}
    return OnlineJoin(store, REFS, KEYS, nullable, max_rows=10, retry_after=2)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_the_warm_up_looks_up_one_placeholder_entity_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RecordingStore()
    assert anyio.run(_join(store).warm, 12.0) is True
    assert store.calls == [(REFS, {"customer_id": [0], "region": [0]}, 12.0)]
    assert _warnings(caplog) == []


def test_the_store_down_is_one_warning_and_the_join_still_serves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RecordingStore(down=True)
    join = _join(store)
    assert anyio.run(join.warm, 5.0) is False
    (warning,) = _warnings(caplog)
    assert URL in warning
    assert "unreachable (ConnectError)" in warning
    full = {"customer_id": 1, "region": 2, "spend_30d": 3.0, "visits_7d": 4}
    assert anyio.run(join.complete, {"instances": [full]}) == {"instances": [full]}
    with pytest.raises(RequestError) as caught:
        anyio.run(join.complete, {"instances": [{"customer_id": 1, "region": 2}]})
    assert (caught.value.status, caught.value.kind) == (503, "online_store_unavailable")


def test_a_store_that_hangs_is_given_up_on_at_the_bound(caplog: pytest.LogCaptureFixture) -> None:
    store = RecordingStore(hang=True)
    join = _join(store)

    async def bounded() -> bool | None:
        with anyio.move_on_after(3):
            return await join.warm(0.05)
        return None  # still waiting: the warm-up would hold readiness

    started = time.monotonic()
    assert anyio.run(bounded) is False
    assert time.monotonic() - started < 2
    (warning,) = _warnings(caplog)
    assert f"the online feature store ({URL}) did not answer within 0.05 s" in warning
    # The next request is not held up by what the warm-up left.
    assert anyio.run(join.complete, {"instances": [{"customer_id": 1, "region": 2}]})


def test_warm_soon_runs_the_warm_up_on_the_servers_loop_from_a_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    up, down = RecordingStore(), RecordingStore(down=True)

    async def main() -> None:
        token = anyio.lowlevel.current_token()
        for store in (up, down):
            wait = warm_soon(_join(store), 0.5, token)
            await anyio.to_thread.run_sync(wait)

    anyio.run(main)
    assert [call[2] for call in up.calls + down.calls] == [WARM_SECONDS, WARM_SECONDS]
    assert len(_warnings(caplog)) == 1
    warm_soon(None, 1.0, None)()  # without --online-features: nothing to wait for


async def _feast(stream: anyio.abc.ByteStream) -> None:
    """A feature server answering every request on one connection until the client closes."""
    async with stream:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                try:
                    buffer += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            while len(buffer) < length:
                buffer += await stream.receive()
            entities = orjson.loads(buffer[:length])["entities"]
            buffer = buffer[length:]
            n = len(entities["customer_id"])
            body = orjson.dumps(
                {
                    "metadata": {"feature_names": ["spend_30d"]},
                    "results": [{"values": [1.5] * n, "statuses": ["PRESENT"] * n}],
                }
            )
            await stream.send(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )


def test_the_warm_up_opens_the_connection_the_first_request_reuses() -> None:
    connections: list[int] = []

    async def serve(stream: anyio.abc.ByteStream) -> None:
        connections.append(1)
        await _feast(stream)

    async def main() -> Any:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, serve)
            store = FeatureServer(f"http://127.0.0.1:{port}", timeout=1.0)
            join = OnlineJoin(
                store,
                ("orders:spend_30d",),
                ("customer_id",),
                {"spend_30d": True},
                max_rows=10,
                retry_after=2,
            )
            assert await join.warm(5.0) is True
            assert connections == [1]
            done = await join.complete({"instances": [{"customer_id": 7}]})
            await store.close()
            tg.cancel_scope.cancel()
        return done

    done = anyio.run(main)
    assert done == {"instances": [{"customer_id": 7, "spend_30d": 1.5}]}
    assert connections == [1]  # the request went over the warm-up's connection
