"""Rows completed from the online store (serve/online.py), against a fake of the store's small
protocol; the Feast feature server itself is tested in tests/feature_store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from mlgate.serve.errors import RequestError
from mlgate.serve.online import MISSING, OnlineJoin, StoreUnavailable

pytestmark = pytest.mark.unit

REFS = ("orders:spend_30d", "orders:orders_30d", "visits:visits_7d")
STORE = {1: (120.5, 3, 7), 2: (8.0, 0, None)}  # customer 2 has no visits_7d online


class FakeStore:
    """The online store as a dict: customer_id -> values of REFS; None = never materialized."""

    url = "http://127.0.0.1:1"

    def __init__(self, rows: dict[int, tuple[Any, ...]], down: bool = False) -> None:
        self.rows = rows
        self.down = down
        self.calls: list[dict[str, list[Any]]] = []

    async def lookup(
        self, refs: Sequence[str], entities: dict[str, list[Any]], *, timeout: float | None = None
    ) -> dict[str, list[Any]]:
        self.calls.append(entities)
        if self.down:
            raise StoreUnavailable("the online feature store (http://127.0.0.1:1) is unreachable")
        out: dict[str, list[Any]] = {}
        for j, ref in enumerate(refs):
            values = []
            for key in entities["customer_id"]:
                row = self.rows.get(key)
                value = MISSING if row is None else row[j]
                values.append(MISSING if value is None else value)
            out[ref.partition(":")[2]] = values
        return out

    async def close(self) -> None:
        pass


def _join(store: FakeStore, nullable: bool = False) -> OnlineJoin:
    names = {ref.partition(":")[2]: nullable for ref in REFS}
    return OnlineJoin(store, REFS, ["customer_id"], names, max_rows=100, retry_after=2)


def _complete(join: OnlineJoin, payload: Any) -> Any:
    async def go() -> Any:
        return await join.complete(payload)

    return anyio.run(go)


def test_rows_with_entity_keys_only_get_the_stores_values_in_one_lookup() -> None:
    store = FakeStore(STORE)
    body = {"instances": [{"customer_id": 1, "tenure": 4}, {"customer_id": 1}]}
    done = _complete(_join(store), body)
    assert done["instances"][0] == {
        "customer_id": 1,
        "tenure": 4,
        "spend_30d": 120.5,
        "orders_30d": 3,
        "visits_7d": 7,
    }
    assert store.calls == [{"customer_id": [1, 1]}]
    assert body["instances"][0] == {"customer_id": 1, "tenure": 4}  # the request is not changed


def test_a_row_with_every_feature_is_not_looked_up_and_a_given_value_wins() -> None:
    store = FakeStore(STORE)
    full = {"customer_id": 1, "spend_30d": 1.0, "orders_30d": 1, "visits_7d": 1}
    body = {"instances": [full, {"customer_id": 1, "spend_30d": 99.0}]}
    done = _complete(_join(store), body)
    assert done["instances"][0] is full
    assert done["instances"][1]["spend_30d"] == 99.0
    assert done["instances"][1]["orders_30d"] == 3
    assert store.calls == [{"customer_id": [1]}]
    assert _complete(_join(store), {"instances": [full]}) == {"instances": [full]}
    assert len(store.calls) == 1


def test_an_unknown_entity_is_a_422_naming_it_and_the_feature() -> None:
    body = {"instances": [{"customer_id": 1}, {"customer_id": 999}]}
    with pytest.raises(RequestError) as caught:
        _complete(_join(FakeStore(STORE)), body)
    err = caught.value
    assert (err.status, err.kind, err.field, err.row) == (422, "unknown_entity", "customer_id", 1)
    assert "customer_id=999" in err.message
    assert "no online features" in err.message
    # Never imputed, whatever the schema says of the features.
    with pytest.raises(RequestError, match="customer_id=999"):
        _complete(_join(FakeStore(STORE), nullable=True), {"instances": [{"customer_id": 999}]})
    # A feature the store lacks for a known entity is named when the schema requires it.
    with pytest.raises(RequestError, match=r"'visits_7d'.*customer_id=2"):
        _complete(_join(FakeStore(STORE)), {"instances": [{"customer_id": 2}]})


def test_a_nullable_feature_the_store_lacks_is_missing_for_the_model_to_impute() -> None:
    done = _complete(_join(FakeStore(STORE), nullable=True), {"instances": [{"customer_id": 2}]})
    assert done["instances"][0]["visits_7d"] is None
    assert done["instances"][0]["spend_30d"] == 8.0


def test_the_store_down_is_a_503_with_retry_after() -> None:
    with pytest.raises(RequestError) as caught:
        _complete(_join(FakeStore(STORE, down=True)), {"instances": [{"customer_id": 1}]})
    err = caught.value
    assert (err.status, err.kind) == (503, "online_store_unavailable")
    assert err.headers == {"Retry-After": "2"}
    assert "unreachable" in err.message


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"tenure": 3}, "no 'customer_id' to look it up by"),
        ({"customer_id": None}, "no 'customer_id'"),
        ({"customer_id": 1.5}, "customer_id must be a string or an integer, got a number"),
        ({"customer_id": [1]}, "customer_id must be a string or an integer"),
    ],
)
def test_a_row_without_a_usable_entity_key_is_a_422_naming_the_key(
    row: dict[str, Any], message: str
) -> None:
    store = FakeStore(STORE)
    with pytest.raises(RequestError, match=message) as caught:
        _complete(_join(store), {"instances": [row]})
    assert (caught.value.status, caught.value.field, caught.value.row) == (422, "customer_id", 0)
    assert store.calls == []


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"features": [1.0, 2, 3]},
        {"instances": "x"},
        {"instances": [{"customer_id": 1}] * 101},
    ],
)
def test_other_bodies_are_left_to_the_validator(body: Any) -> None:
    store = FakeStore(STORE)
    assert _complete(_join(store), body) is body
    assert store.calls == []


def test_the_feature_servers_statuses_read_as_values_or_missing() -> None:
    from mlgate.serve.online import _values

    never, seen = "1970-01-01T00:00:00Z", "2026-11-28T11:00:00Z"
    # SQLite: NOT_FOUND; Redis: PRESENT with null and no timestamp; a stored null stays null.
    got = _values(
        [1.5, None, None, None, None, 0],
        ["PRESENT", "NOT_FOUND", "PRESENT", "NULL_VALUE", "OUTSIDE_MAX_AGE", "PRESENT"],
        [seen, never, never, seen, seen, seen],
    )
    assert got == [1.5, MISSING, MISSING, None, MISSING, 0]
