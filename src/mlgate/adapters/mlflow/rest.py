"""`RegistryMeta` on a tracking server's REST API (MLflow's `/api/2.0/mlflow/...`), with urllib.

The requests MLflow's own REST store sends for the same calls (`registered-models/get`,
`model-versions/search` and `/get`, `registered-models/alias` POST and DELETE,
`registered-models/set-tag`, `model-versions/set-tag`, `experiments/get-by-name`,
`runs/search`), with the same credentials and TLS settings (`mlgate.adapters.mlflow.probe`)
and MLflow's request timeout (`MLFLOW_HTTP_REQUEST_TIMEOUT`, default 120 s). An error the
server names comes back as `MetaError` with MLflow's error code; a server that is busy (429,
502, 503, 504) is asked again, up to 3 more times.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from mlgate.adapters.mlflow.meta import (
    MetaError,
    ModelRecord,
    RunRecord,
    VersionRecord,
    lost_alias_race,
)
from mlgate.adapters.mlflow.probe import send
from mlgate.adapters.mlflow.process import PROCESS_TAG
from mlgate.core.redact import redact_uri, scrub
from mlgate.errors import InfraError, UsageError

API = "/api/2.0/mlflow/"
TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_TIMEOUT"
DEFAULT_TIMEOUT_S = 120.0
_BUSY = frozenset({429, 502, 503, 504})
_RETRIES = 3
_ALIAS_ATTEMPTS = 5
_PAGE = 1000


class RestMeta:
    """MLflow's registry behind a tracking server at `tracking_uri` (credentials and all)."""

    def __init__(self, tracking_uri: str, environ: Mapping[str, str] | None = None) -> None:
        self._uri = tracking_uri
        self._environ = environ
        raw = (os.environ if environ is None else environ).get(TIMEOUT_ENV) or ""
        try:
            self._timeout = float(raw) if raw else DEFAULT_TIMEOUT_S
        except ValueError:
            raise UsageError(f"{TIMEOUT_ENV}={raw!r}: expected a number of seconds") from None

    def _call(self, method: str, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One API call: GET sends `payload` as the query, other methods as a JSON body."""
        path = API + endpoint
        body = None
        if method == "GET":
            path += "?" + urllib.parse.urlencode(payload)
        else:
            body = json.dumps(payload).encode()
        for attempt in range(_RETRIES + 1):
            status, raw = send(
                self._uri,
                path,
                method=method,
                body=body,
                timeout=self._timeout,
                environ=self._environ,
            )
            if status not in _BUSY or attempt == _RETRIES:
                break
            time.sleep(0.5 * 2**attempt)  # the server asked for time: back off
        answer = self._decode(endpoint, status, raw)
        if status != 200:
            code = answer.get("error_code")
            message = scrub(str(answer.get("message", "")), [self._uri])
            if isinstance(code, str) and code:
                raise MetaError(code, message)
            raise InfraError(
                f"MLflow registry at {redact_uri(self._uri)}: {endpoint} answered HTTP {status}"
            )
        return answer

    def _decode(self, endpoint: str, status: int, raw: bytes) -> dict[str, Any]:
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            return answer
        if status != 200:
            return {}
        raise InfraError(
            f"MLflow registry at {redact_uri(self._uri)}: {endpoint} did not answer JSON "
            f"(HTTP {status}, {len(raw)} bytes)",
            hint="check that the tracking URI names an MLflow tracking server",
        )

    # -- reads -------------------------------------------------------------------------------

    def get_registered_model(self, name: str) -> ModelRecord:
        """See `RegistryMeta`."""
        model = self._call("GET", "registered-models/get", {"name": name})["registered_model"]
        return ModelRecord(
            name=str(model["name"]),
            tags=_tags(model),
            aliases={str(a["alias"]): int(a["version"]) for a in model.get("aliases", [])},
        )

    def search_model_versions(self, name: str) -> list[VersionRecord]:
        """See `RegistryMeta`."""
        found: list[VersionRecord] = []
        query: dict[str, Any] = {"filter": f"name='{name}'", "max_results": _PAGE}
        while True:
            page = self._call("GET", "model-versions/search", query)
            found.extend(_version(mv) for mv in page.get("model_versions", []))
            token = page.get("next_page_token")
            if not token:
                return sorted(found, key=lambda r: r.version, reverse=True)
            query = {**query, "page_token": token}

    def get_model_version(self, name: str, version: int | str) -> VersionRecord:
        """See `RegistryMeta`."""
        answer = self._call("GET", "model-versions/get", {"name": name, "version": str(version)})
        return _version(answer["model_version"])

    def running_runs(self, experiment: str) -> list[RunRecord]:
        """See `RegistryMeta`."""
        try:
            exp = self._call("GET", "experiments/get-by-name", {"experiment_name": experiment})
        except MetaError as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return []
            raise
        query: dict[str, Any] = {
            "experiment_ids": [exp["experiment"]["experiment_id"]],
            "filter": "attributes.status = 'RUNNING'",
            "run_view_type": "ALL",
            "max_results": _PAGE,
        }
        found: list[RunRecord] = []
        while True:
            page = self._call("POST", "runs/search", query)
            for run in page.get("runs", []):
                tags = _tags(run.get("data", {}))
                found.append(RunRecord(str(run["info"]["run_id"]), tags.get(PROCESS_TAG)))
            token = page.get("next_page_token")
            if not token:
                return found
            query = {**query, "page_token": token}

    # -- writes ------------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """See `RegistryMeta`; retries when another writer set the same alias at the same time
        (the server's SQL store then fails on the unique key: `set_alias_retrying`)."""
        payload = {"name": name, "alias": alias, "version": str(version)}
        for attempt in range(1, _ALIAS_ATTEMPTS + 1):
            try:
                self._call("POST", "registered-models/alias", payload)
                return
            except MetaError as exc:
                if not lost_alias_race(exc.message) or attempt == _ALIAS_ATTEMPTS:
                    raise

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """See `RegistryMeta`."""
        self._call("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """See `RegistryMeta`."""
        self._call("POST", "registered-models/set-tag", {"name": name, "key": key, "value": value})

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """See `RegistryMeta`."""
        payload = {"name": name, "version": str(version), "key": key, "value": value}
        self._call("POST", "model-versions/set-tag", payload)

    def transaction(self) -> AbstractContextManager[None]:
        """Each call commits on its own on the server."""
        return nullcontext()


def _tags(entity: Mapping[str, Any]) -> dict[str, str]:
    # Proto3 JSON leaves empty fields out: no `tags` key is no tags, a tag without `value`
    # has the empty value.
    return {str(t["key"]): str(t.get("value", "")) for t in entity.get("tags", [])}


def _version(mv: Mapping[str, Any]) -> VersionRecord:
    created = mv.get("creation_timestamp")
    return VersionRecord(
        name=str(mv["name"]),
        version=int(mv["version"]),
        run_id=str(mv["run_id"]) if mv.get("run_id") else None,
        creation_timestamp=int(created) if created is not None else None,
        tags=_tags(mv),
    )
