"""Load replay: rows of a CSV or Parquet file sent as `POST /predict` to a local release's
address at a steady rate until the release ends, so that a canary on one machine has traffic
to be judged by (`mlgate deploy --target local --load-from FILE --load-rate N`).

    read_rows   the file's rows (the csv module; Parquet through pyarrow), bounded
    Replay      threads beside the controller: one waits for the release's address, reads
                the model's features from its `GET /metadata` and watches the release; a
                few senders share the rate, one row per request (`{"instances": [row]}`,
                only the feature columns, typed by the schema's kinds). All stop once the
                rollout it saw has ended, or when told to

The replay is light: no pandas, keep-alive connections from the standard library. It reads
the release's state file (`state.load`) to find the address and to see the end.
"""

from __future__ import annotations

import csv
import gzip
import http.client
import itertools
import json
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.app.rollout.state import load
from mlgate.core.records.rollout import EnvironmentRef
from mlgate.errors import UsageError
from mlgate.store.tables import CSV_SUFFIXES, PARQUET_SUFFIXES

# Deferred imports: pyarrow loads only to read a Parquet file; the release controller that
# runs beside the replay stays light (tests/unit/test_imports.py).

MAX_ROWS = 100_000
STATE_POLL_S = 0.5
# Senders share the rate, each up to PER_SENDER requests a second, SENDERS at most.
SENDERS, PER_SENDER = 4, 10.0
NULLS = frozenset({"", "na", "nan", "null", "none"})
TRUE, FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
Row = dict[str, Any]


def read_rows(path: Path, limit: int = MAX_ROWS) -> list[Row]:
    """The first `limit` rows of a CSV (text values) or Parquet file (typed values); a
    missing, unreadable or empty file is a UsageError naming `--load-from`."""
    if not path.is_file():
        raise UsageError(f"--load-from {path}: no such file", hint="give a CSV or Parquet file")
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | PARQUET_SUFFIXES:
        raise UsageError(f"--load-from {path}: {suffix!r} is neither CSV nor Parquet")
    try:
        rows = _parquet(path, limit) if suffix in PARQUET_SUFFIXES else _csv(path, limit)
    except (OSError, UnicodeError, csv.Error, ValueError) as exc:
        raise UsageError(f"--load-from {path}: cannot read it: {exc}") from None
    if not rows:
        raise UsageError(f"--load-from {path}: the file has no rows to replay")
    return rows


def _csv(path: Path, limit: int) -> list[Row]:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return [dict(row) for _, row in zip(range(limit), reader, strict=False)]


def _parquet(path: Path, limit: int) -> list[Row]:
    try:
        import pyarrow.parquet as pq  # only for a Parquet file: see the module's comment
    except ImportError:
        raise UsageError(
            f"--load-from {path}: reading Parquet needs pyarrow",
            hint="pip install 'mlgate[train]', or give a CSV file",
        ) from None
    rows: list[Row] = []
    for batch in pq.ParquetFile(path).iter_batches(batch_size=min(limit, 10_000)):
        rows.extend(batch.to_pylist()[: limit - len(rows)])
        if len(rows) >= limit:
            break
    return rows


def typed(kind: str, value: Any) -> Any:
    """A file's value as the server takes it for a feature of `kind` (None: missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = value.strip() if isinstance(value, str) else None
    if text is not None and text.lower() in NULLS:
        return None
    if kind in ("numeric", "integer"):
        number = float(text) if text is not None else value
        if kind == "integer" and isinstance(number, float) and number.is_integer():
            return int(number)
        return number
    if kind == "boolean":
        if text is None:
            return bool(value)
        if text.lower() in TRUE | FALSE:
            return text.lower() in TRUE
        raise ValueError(f"{value!r} is not true or false")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return text if text is not None else value


def instances(rows: list[Row], features: Mapping[str, str]) -> list[Row]:
    """Each row's feature columns (`features`: name -> kind), typed; a file without every
    feature, or a value that is not of its kind, is a UsageError naming it."""
    missing = [name for name in features if name not in rows[0]]
    if missing:
        raise UsageError(
            f"--load-from: the file lacks the feature column(s) {', '.join(missing)} the model "
            "reads"
        )
    out = []
    for i, row in enumerate(rows):
        try:
            out.append({name: typed(kind, row[name]) for name, kind in features.items()})
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--load-from: row {i + 1}: {exc}") from None
    return out


@dataclass
class Tally:
    """What the replay sent and how the release answered (counted by every sender)."""

    sent: int = 0
    answered: int = 0
    refused: int = 0
    unreachable: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, outcome: str) -> None:
        """One more request sent, and how it went: answered, refused or unreachable."""
        with self._lock:
            self.sent += 1
            setattr(self, outcome, getattr(self, outcome) + 1)

    def summary(self) -> str:
        """One line for the end of a deploy."""
        return (
            f"{self.sent} requests replayed: {self.answered} answered, {self.refused} refused, "
            f"{self.unreachable} not reached"
        )


@dataclass
class Replay:
    """Send `rows` to the release in `state_dir` at `rate` requests a second until the rollout
    it saw ends (or `stop`); a context manager. One thread watches the release; a few senders,
    each on its own keep-alive connection, share the rate, so that one slow answer does not
    hold the rest back."""

    state_dir: Path
    rows: list[Row]
    rate: float
    timeout: float = 10.0
    tally: Tally = field(default_factory=Tally)
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise UsageError(f"--load-rate {self.rate!r}: give a positive number of requests/s")

    def __enter__(self) -> Replay:
        self._thread = threading.Thread(target=self._run, name="load replay", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending and wait for the threads."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)

    @property
    def done(self) -> bool:
        """The replay has stopped (its rollout ended, it was stopped, or it failed)."""
        return self._thread is not None and not self._thread.is_alive()

    def _run(self) -> None:
        try:
            env = self._wait_environment()
            bodies = self._bodies(env) if env is not None else None
        except UsageError as exc:
            self.error = exc.message
            return
        if env is None or bodies is None:
            return
        seen = self._active()  # before the first request: its end cannot be missed
        n = max(1, min(SENDERS, math.ceil(self.rate / PER_SENDER)))
        senders = [
            threading.Thread(
                target=self._send, args=(env, bodies[k::n] or bodies, self.rate / n), daemon=True
            )
            for k in range(n)
        ]
        for sender in senders:
            sender.start()
        self._watch(seen)
        self._stop.set()
        for sender in senders:
            sender.join(timeout=self.timeout + 5)

    def _active(self) -> str | None:
        """The id of the rollout in progress, if one is."""
        rollout = load(self.state_dir).rollout
        return rollout.id if rollout is not None and rollout.active else None

    def _watch(self, seen: str | None) -> None:
        """Return once the rollout in progress (`seen`, or one seen later) has ended, or on
        stop."""
        while not self._stop.wait(STATE_POLL_S):
            now = self._active()
            if now is None and seen is not None:
                return
            seen = now or seen

    def _wait_environment(self) -> EnvironmentRef | None:
        """The release's environment, once it runs; None when stopped first."""
        while not self._stop.is_set():
            env = load(self.state_dir).environment
            if env is not None and _get(env, "/ready", self.timeout) is not None:
                return env
            self._stop.wait(STATE_POLL_S)
        return None

    def _bodies(self, env: EnvironmentRef) -> list[bytes] | None:
        """The request bodies, one row each, typed by the model's schema; None when stopped
        first."""
        while not self._stop.is_set():
            meta = _get(env, "/metadata", self.timeout)
            if meta is not None:
                schema = meta.get("schema") or []
                features = {str(f["name"]): str(f["kind"]) for f in schema}
                return [
                    json.dumps({"instances": [row]}).encode()
                    for row in instances(self.rows, features)
                ]
            self._stop.wait(STATE_POLL_S)
        return None

    def _send(self, env: EnvironmentRef, bodies: list[bytes], rate: float) -> None:
        """Post `bodies`, round and round, at `rate` a second, until stopped."""
        conn = http.client.HTTPConnection(env.host, env.port, timeout=self.timeout)
        tick = time.monotonic()
        try:
            for body in itertools.cycle(bodies):
                if self._stop.is_set():
                    return
                self.tally.count(_post(conn, body))
                # A sender that fell behind catches up by at most a second's worth.
                tick = max(tick + 1.0 / rate, time.monotonic() - 1.0)
                self._stop.wait(max(0.0, tick - time.monotonic()))
        finally:
            conn.close()


def _post(conn: http.client.HTTPConnection, body: bytes) -> str:
    """POST one body to /predict: answered (200), refused (any other status), unreachable."""
    try:
        conn.request("POST", "/predict", body=body, headers={"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        conn.close()  # the next request connects afresh
        return "unreachable"
    return "answered" if response.status == 200 else "refused"


def _get(env: EnvironmentRef, path: str, timeout: float) -> dict[str, Any] | None:
    """GET `path` of the release as JSON; None unless it answers 200 with an object."""
    conn = http.client.HTTPConnection(env.host, env.port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            return None
        value = json.loads(data)
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()
    return value if isinstance(value, dict) else None
