"""Online features: `POST /predict` rows that carry only their entity keys, completed from the
feature store before they are validated.

A bundle trained from Feast (`data.source: feast`) records the `view:feature` references its
frame joined and the views' join keys (mlgate.json, `data.feast`). A server started with
`--online-features URL` (Feast's feature server, `feast serve`) completes each row object of a
request that lacks one of those features: it asks the online store once per request for the
entity keys of those rows, puts the values it got into the rows, and validates the joined rows
as it validates every row. The prediction log keeps the joined rows: the values the model
actually used, which `mlgate monitor --skew` compares with the offline store's.

- A row that carries every feature is not looked up; a value a row carries wins over the
  store's (a request-time override).
- A row without an entity key it would be looked up by: 422 naming the key.
- An entity the store has no feature for at all: 422 naming it (kind `unknown_entity`), never
  imputed: a prediction from nothing but imputed values would be made up, and the usual cause
  is a wrong key. An entity the store lacks one feature for (a view not materialized for it,
  or past its ttl): that feature is missing, and the model imputes it as in training, unless
  the schema requires it (`required: true`): then a 422 naming the entity and the feature.
- The store unreachable, failing or slower than `--online-timeout`: 503 + Retry-After naming
  it (kind `online_store_unavailable`); rows that carry their features are still served.
- Before a server worker reports ready it makes one warm-up lookup (`OnlineJoin.warm`, bounded
  by `WARM_SECONDS`, not `--online-timeout`): a fresh feature server loads its registry and
  opens its store on its first lookup, and the kept-alive connection the requests reuse is
  opened. A store down or slow then is one warning in the log, never an unready server.

Why over HTTP: Feast caps pandas below 3 and brings a hundred packages; through its feature
server the serving process and image stay free of them, and one feature server (or a fleet
behind a load balancer) serves every model server: Feast's own way to serve online features at
scale. Only `POST /predict`'s `instances` (row objects) are completed: a `features` list or a
V2 tensor is positional and has every feature by construction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio
import orjson

from mlgate.core.records.lineage import BundleMeta
from mlgate.errors import UsageError
from mlgate.serve.errors import RequestError, invalid
from mlgate.serve.wire import describe, shown

if TYPE_CHECKING:
    import httpx
    from anyio.lowlevel import EventLoopToken

    from mlgate.store.bundle import Bundle

# Deferred imports: httpx loads in a server started with --online-features alone, on its first
# lookup; the parent process and every other server never import it.

log = logging.getLogger(__name__)

MISSING: Final = object()
"""A value the online store does not have for an entity (never written, or expired)."""

_KEY_TYPES = frozenset({int, str})
# Feast's per-value status (FieldStatus): only these carry a value.
_PRESENT = "PRESENT"
_NULL = "NULL_VALUE"
# What a store without the entity answers in place of a timestamp (Redis says PRESENT, null).
_NEVER = "1970-01-01T00:00:00Z"
_JSON = {"content-type": "application/json"}
# The warm-up's entity: Feast converts each join key value to the key's declared type, and 0
# passes as an int64 key and as a string one ("0") alike; a string is refused (HTTP 500) for
# an int64 key. An unknown entity is an answer: the round trip is the point.
_PLACEHOLDER_KEY: Final = 0

WARM_SECONDS: Final = 10.0
"""The least time the warm-up lookup is given (a worker's readiness waits for it at most this,
or `--online-timeout` when that is longer). A fresh feature server's first lookup loads the
registry and connects to the online store: seconds on a loaded machine, where the per-request
bound is sized for milliseconds; 10 s covers that, and a store that is down delays readiness
by no more than a readiness probe's usual allowance."""


def _values(values: list[Any], statuses: list[str], stamps: list[str] | None) -> list[Any]:
    """One feature's values for the entity rows, `MISSING` where the store has none: not found,
    past the view's ttl, or (the Redis store) null with no event timestamp."""
    out: list[Any] = []
    for j, (value, status) in enumerate(zip(values, statuses, strict=True)):
        if status == _PRESENT:
            never = value is None and stamps is not None and stamps[j] == _NEVER
            out.append(MISSING if never else value)
        else:
            out.append(None if status == _NULL else MISSING)
    return out


def check_online(url: str | None, meta: BundleMeta, bundle: Path) -> None:
    """`--online-features` serves a bundle trained from Feast only (UsageError, exit 2)."""
    if url is not None and (meta.feast is None or not meta.feast.entity_keys):
        raise UsageError(
            f"--online-features {url}: {bundle} was not trained from a "
            "feature store (its mlgate.json has no data.feast entity keys), so no feature of "
            "it is looked up online",
            hint="serve it without --online-features, or train it with data.source: feast",
        )


class StoreUnavailable(Exception):
    """The online store did not answer a lookup (down, failing, or too slow)."""


class OnlineStore(Protocol):
    """Where the online features of entities are looked up."""

    url: str
    """Where the store is, as the log names it."""

    async def lookup(
        self, refs: Sequence[str], entities: dict[str, list[Any]], *, timeout: float | None = None
    ) -> dict[str, list[Any]]:
        """Each feature's value for each entity row (`MISSING` where the store has none), by
        feature name; StoreUnavailable when the store cannot answer, within `timeout` seconds
        (None: the store's own per-request bound)."""
        ...

    async def close(self) -> None:
        """Release the connections."""
        ...


class FeatureServer:
    """Feast's feature server (`feast serve`) over HTTP: `POST /get-online-features`.

    One keep-alive connection pool per server process, opened on the first lookup (the warm-up,
    on the event loop that makes it)."""

    def __init__(self, url: str, timeout: float, connections: int = 64) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.connections = connections
        self._client: httpx.AsyncClient | None = None

    def _open(self) -> httpx.AsyncClient:
        import httpx

        # httpx logs every request at INFO: the server's log is for what went wrong.
        logging.getLogger("httpx").setLevel(logging.WARNING)

        self._client = httpx.AsyncClient(
            base_url=self.url,
            timeout=self.timeout,
            limits=httpx.Limits(
                max_connections=self.connections, max_keepalive_connections=self.connections
            ),
        )
        return self._client

    async def lookup(
        self, refs: Sequence[str], entities: dict[str, list[Any]], *, timeout: float | None = None
    ) -> dict[str, list[Any]]:
        """The values of `refs` for the entity rows, from the feature server."""
        import httpx

        client = self._client or self._open()
        body = orjson.dumps({"features": list(refs), "entities": entities})
        where = f"the online feature store ({self.url})"
        bound = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        try:
            try:
                answer = await client.post(
                    "/get-online-features", content=body, headers=_JSON, timeout=bound
                )
            except (httpx.ReadError, httpx.RemoteProtocolError):
                # The feature server may close a kept-alive connection after an error it
                # answered: once more, on a fresh one.
                answer = await client.post(
                    "/get-online-features", content=body, headers=_JSON, timeout=bound
                )
        except httpx.TimeoutException:
            seconds = self.timeout if timeout is None else timeout
            raise StoreUnavailable(f"{where} did not answer within {seconds:g} s") from None
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"{where} is unreachable ({type(exc).__name__})") from None
        if answer.status_code != 200:
            raise StoreUnavailable(f"{where} answered HTTP {answer.status_code}")
        try:
            data = orjson.loads(answer.content)
            names = data["metadata"]["feature_names"]
            results = data["results"]
            return {
                name: _values(res["values"], res["statuses"], res.get("event_timestamps"))
                for name, res in zip(names, results, strict=True)
            }
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise StoreUnavailable(f"{where} answered something that is not a lookup") from None

    async def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class OnlineJoin:
    """Completes the row objects of a /predict body from the online store (module docstring)."""

    def __init__(
        self,
        store: OnlineStore,
        refs: Sequence[str],
        keys: Sequence[str],
        nullable: dict[str, bool],
        *,
        max_rows: int,
        retry_after: int,
    ) -> None:
        self.store = store
        self.refs = tuple(refs)
        self.names = tuple(ref.partition(":")[2] for ref in self.refs)
        self.name_set = frozenset(self.names)
        self.views = {ref.partition(":")[2]: ref.partition(":")[0] for ref in self.refs}
        self.keys = tuple(keys)
        self.nullable = nullable
        self.max_rows = max_rows
        self.retry_after = retry_after

    @classmethod
    def for_bundle(
        cls, bundle: Bundle, store: OnlineStore, *, max_rows: int, retry_after: int
    ) -> OnlineJoin:
        """The join of a bundle trained from Feast: the features its schema has from the store;
        ValueError naming the bundle when it was not trained from a feature store."""
        feast = bundle.meta.feast
        if feast is None or not feast.entity_keys:
            raise ValueError(
                f"--online-features: the bundle {bundle.path} was not trained from a feature "
                "store (its mlgate.json has no data.feast entity keys); serve it without "
                "--online-features"
            )
        specs = {spec.name: spec for spec in bundle.schema.features}
        refs = [ref for ref in feast.features if ref.partition(":")[2] in specs]
        nullable = {ref.partition(":")[2]: specs[ref.partition(":")[2]].nullable for ref in refs}
        return cls(
            store,
            refs,
            feast.entity_keys,
            nullable,
            max_rows=max_rows,
            retry_after=retry_after,
        )

    async def complete(self, payload: Any) -> Any:
        """`payload` with its row objects completed; as it is when none lacks a feature (the
        validator then judges it as any body)."""
        if type(payload) is not dict:
            return payload
        rows = payload.get("instances")
        if type(rows) is not list or len(rows) > self.max_rows:
            return payload
        names = self.name_set
        wanted = [i for i, row in enumerate(rows) if type(row) is dict and not names <= row.keys()]
        if not wanted:
            return payload
        entities = {key: [self._key(rows[i], key, i) for i in wanted] for key in self.keys}
        try:
            found = await self.store.lookup(self.refs, entities)
        except StoreUnavailable as exc:
            raise RequestError(
                503,
                "online_store_unavailable",
                f"{exc}: send the rows with their features, or retry",
                field="instances",
                headers={"Retry-After": str(self.retry_after)},
            ) from None
        n = len(wanted)
        columns = {name: found.get(name) or [MISSING] * n for name in self.names}
        completed = list(rows)
        for j, i in enumerate(wanted):
            row = dict(rows[i])
            if all(j >= len(c) or c[j] is MISSING for c in columns.values()):
                raise self._unknown(row, None, i)
            for name in self.names:
                if name in row:
                    continue
                column = columns[name]
                value = column[j] if j < len(column) else MISSING
                if value is MISSING:
                    if not self.nullable[name]:
                        raise self._unknown(row, name, i)
                    value = None
                row[name] = value
            completed[i] = row
        return {**payload, "instances": completed}

    async def warm(self, timeout: float) -> bool:
        """One lookup of a placeholder entity, at most `timeout` seconds in all, before the
        server is ready: the store loads what its first lookup needs, and the connection the
        requests reuse is opened. True when the store answered (an unknown entity too); else
        False and one warning naming the store and the error: the server serves anyway, and
        rows with entity keys only are answered 503 while the store does not answer."""
        if not self.refs:
            return True
        entities = {key: [_PLACEHOLDER_KEY] for key in self.keys}
        try:
            # The store's own bound may be per step (connect, read): this one is the whole.
            with anyio.fail_after(timeout):
                await self.store.lookup(self.refs, entities, timeout=timeout)
        except StoreUnavailable as exc:
            error = str(exc)
        except TimeoutError:
            error = (
                f"the online feature store ({self.store.url}) did not answer within {timeout:g} s"
            )
        else:
            return True
        log.warning(
            "online features: the warm-up lookup failed: %s; ready anyway, rows with entity "
            "keys only are answered 503 while the store does not answer",
            error,
        )
        return False

    def _key(self, row: dict[str, Any], key: str, i: int) -> Any:
        value = row.get(key)
        if value is None:
            lacking = next(n for n in self.names if n not in row)
            raise invalid(
                f"feature {lacking!r} is missing and the row has no {key!r} to look it up by: "
                f"send {key!r} (the online store has the features by it) or every feature",
                field=key,
                row=i,
            )
        if type(value) not in _KEY_TYPES:
            raise invalid(
                f"{key} must be a string or an integer, got {describe(value)}", field=key, row=i
            )
        return value

    def _unknown(self, row: dict[str, Any], name: str | None, i: int) -> RequestError:
        """The 422 of an entity the store has nothing for (`name` None), or not `name`."""
        entity = ", ".join(f"{key}={shown(row[key])}" for key in self.keys)
        what = (
            f"no online features for {entity}: an unknown entity, or one never materialized"
            if name is None
            else f"no {name!r} (feature view {self.views[name]!r}) for {entity}, which the "
            "schema requires: not materialized, or older than the view's ttl"
        )
        return RequestError(
            422,
            "unknown_entity",
            f"the online store has {what}; send the row's features with it",
            field=self.keys[0],
            row=i,
        )


def warm_soon(
    join: OnlineJoin | None, request_timeout: float, token: EventLoopToken | None
) -> Callable[[], None]:
    """Start `join.warm` on the event loop of `token` (where the store's client lives) from a
    thread of its own, while the model loads; returns what waits for it: a no-op without a
    join or a loop. The bound is `WARM_SECONDS`, or `request_timeout` when longer (a store given
    that long per request is given it once at start too)."""
    if join is None or token is None:
        return lambda: None
    bound = max(WARM_SECONDS, request_timeout)

    def warm() -> None:
        try:
            anyio.from_thread.run(join.warm, bound, token=token)
        except Exception as exc:  # the event loop gone (the server stopping) and the like
            log.warning("online features: no warm-up lookup (%s)", exc)

    thread = threading.Thread(target=warm, name="mlgate-online-warm", daemon=True)
    thread.start()
    # A hard bound besides the lookup's own: a wedged event loop never holds readiness.
    return lambda: thread.join(bound + 1.0)
