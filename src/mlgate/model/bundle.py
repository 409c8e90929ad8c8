"""The model bundle: one self-describing directory that every stage after training reads.

Layout (see DESIGN.md):
    MLmodel, model.pkl, ...   an MLflow Model directory (sklearn flavor, pickle format)
    mlgate.json               lineage: name, task, features, git, data fingerprint, config hash,
                              params, holdout metrics, library versions, created-at
    schema.json               the data schema; its feature columns are the serving contract
    profile.json              reference profile of the training data, for drift checks
    model.onnx                optional, kept only when it matches scikit-learn on the holdout
    gate.json                 added by `mlgate gate`: the verdict this bundle was given
    SHA256SUMS                over every other file; loading refuses any mismatch

A bundle is built in a temporary sibling directory and renamed into place, so a crash never
leaves a half-written bundle where a later stage would find it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from mlgate import atomic
from mlgate.config import Task
from mlgate.data.schema import Schema
from mlgate.errors import BundleError, describe

FORMAT_VERSION = 1
META_FILE = "mlgate.json"
SCHEMA_FILE = "schema.json"
PROFILE_FILE = "profile.json"
GATE_FILE = "gate.json"
SUMS_FILE = "SHA256SUMS"
MODEL_FILE = "model.pkl"
ONNX_FILE = "model.onnx"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitInfo(_Frozen):
    """Where the code that trained the model came from."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None


class DataLineage(_Frozen):
    """Which data the model was trained and evaluated on."""

    path: str
    fingerprint: str
    rows: int
    train_rows: int
    holdout_rows: int
    holdout_fingerprint: str
    dropped_target_rows: int = 0


class BundleMeta(_Frozen):
    """The contents of mlgate.json."""

    format: int = FORMAT_VERSION
    name: str
    task: Task
    target: str
    features: tuple[str, ...]
    classes: tuple[JsonValue, ...] | None = None
    created_at: str
    mlgate_version: str
    git: GitInfo
    data: DataLineage
    config_hash: str
    seed: int
    estimator: str
    params: dict[str, JsonValue]
    metrics: dict[str, float]
    libraries: dict[str, str]
    runtimes: tuple[str, ...] = ("sklearn",)
    positive_label: JsonValue = None
    decision_threshold: float | None = None
    notes: tuple[str, ...] = ()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _files(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != SUMS_FILE
    )


def _write_sums(root: Path, digests: dict[str, str]) -> None:
    lines = [f"{digests[rel]}  {rel}\n" for rel in sorted(digests)]
    atomic.write_text(root / SUMS_FILE, "".join(lines))


def seal(root: Path) -> None:
    """Write SHA256SUMS over every file of the bundle (sha256sum's format)."""
    _write_sums(root, {rel: _sha256(root / rel) for rel in _files(root)})


def verify(root: Path) -> dict[str, str]:
    """Refuse a bundle whose files do not match SHA256SUMS exactly (changed, missing, extra).

    Returns the recorded digests (relative path -> sha256), all of them just confirmed.
    """
    if not root.is_dir():
        raise BundleError(f"model bundle not found: {root}", hint="run `mlgate train` to create it")
    sums = root / SUMS_FILE
    if not sums.is_file():
        raise BundleError(
            f"model bundle {root} has no {SUMS_FILE}: it is partial or not a bundle",
            hint="retrain with `mlgate train`",
        )
    expected: dict[str, str] = {}
    for n, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            raise BundleError(f"{sums}: line {n} is malformed: {line!r}")
        expected[rel] = digest
    problems: list[str] = []
    present = set(_files(root))
    for rel, digest in expected.items():
        if rel not in present:
            problems.append(f"missing file {rel}")
        elif _sha256(root / rel) != digest:
            problems.append(f"{rel} does not match its checksum")
    problems.extend(f"unexpected file {rel}" for rel in sorted(present - expected.keys()))
    if problems:
        raise BundleError(
            f"model bundle {root} failed verification: " + "; ".join(problems),
            hint="the bundle was changed or partly copied; retrain or restore it",
        )
    return expected


@contextlib.contextmanager
def staging(target: Path) -> Iterator[Path]:
    """Yield an empty directory beside `target`; on success seal it and move it into place.

    On any error the staging directory is removed and `target` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    try:
        yield tmp
        seal(tmp)
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(src: Path, target: Path) -> None:
    """Move directory `src` to `target`, replacing what was there with two renames."""
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        old.rmdir()
        os.replace(target, old)
    os.replace(src, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file, then rename)."""
    atomic.write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk, with its metadata and schema read."""

    path: Path
    meta: BundleMeta
    schema: Schema

    def load_model(self) -> Any:
        """Unpickle the fitted scikit-learn Pipeline (only after the bundle was verified)."""
        import pickle

        with (self.path / MODEL_FILE).open("rb") as fh:
            return pickle.load(fh)

    @property
    def version(self) -> str:
        """A content address: the first 12 hex digits of sha256(SHA256SUMS).

        The server reports it and the image labels carry it, so both name the same bundle.
        """
        sums = self.path / SUMS_FILE
        if not sums.is_file():
            return "unsealed"
        return hashlib.sha256(sums.read_bytes()).hexdigest()[:12]

    @property
    def onnx_path(self) -> Path | None:
        """The ONNX export, when training kept one."""
        p = self.path / ONNX_FILE
        return p if p.is_file() else None

    def gate_report(self) -> dict[str, Any] | None:
        """The gate verdict recorded in the bundle, if `mlgate gate` has run on it."""
        p = self.path / GATE_FILE
        if not p.is_file():
            return None
        data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
        return data


def load_bundle(path: Path, *, check: bool = True) -> Bundle:
    """Verify (unless `check` is False) and open a bundle; every defect is a BundleError."""
    if check:
        verify(path)
    elif not path.is_dir():
        raise BundleError(f"model bundle not found: {path}")
    try:
        meta = BundleMeta.model_validate_json((path / META_FILE).read_text(encoding="utf-8"))
        schema = Schema.model_validate_json((path / SCHEMA_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(
            f"model bundle {path} is missing {Path(str(exc.filename)).name}"
        ) from None
    except ValidationError as exc:
        raise BundleError(f"model bundle {path} has invalid metadata: {describe(exc)}") from None
    if meta.format != FORMAT_VERSION:
        raise BundleError(
            f"model bundle {path} has format {meta.format}; this mlgate reads {FORMAT_VERSION}",
            hint="retrain the model with this version of mlgate",
        )
    return Bundle(path=path, meta=meta, schema=schema)


def add_file(bundle_dir: Path, name: str, data: Any) -> None:
    """Verify the bundle, add (or replace) one JSON file, and record its checksum.

    Only the new file is hashed for SHA256SUMS: verification just vouched for the others.
    """
    digests = verify(bundle_dir)
    write_json(bundle_dir / name, data)
    digests[name] = _sha256(bundle_dir / name)
    _write_sums(bundle_dir, digests)
