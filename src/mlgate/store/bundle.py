"""The model bundle: one self-describing directory that every stage after training reads.

Layout (docs/architecture.md, "The bundle"):
    MLmodel, model.skops, ... an MLflow Model directory (sklearn flavor, skops format: loading
                              builds only allow-listed types, see `mlgate.store.trust`)
    mlgate.json               lineage: name, task, features, git, data fingerprint, config hash,
                              params, holdout metrics, library versions, created-at
    schema.json               the data schema; its feature columns are the serving contract
    profile.json              reference profile of the training data, for drift checks
    model.onnx                optional, kept only when it matches scikit-learn on the holdout
                              (or, from `model.command`, the model itself: no model.skops)
    gate.json                 added by `mlgate gate`: the verdict this bundle was given
    SHA256SUMS                over every other file; loading refuses any mismatch
    model.sig                 when a signing key is configured: the signature over every other
                              file (`mlgate.store.signing`), checked when a public key is

A bundle is built in a temporary sibling directory and renamed into place, so a crash never
leaves a half-written bundle where a later stage would find it. A bundle holds regular files and
directories only: a symbolic link (or a device, a FIFO) anywhere in it is refused. What is loaded
is the bytes that were verified: `Bundle.read` re-checks each file's digest as it reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlgate.core.records.gate import GateReport
from mlgate.core.records.lineage import FORMAT_VERSION, BundleMeta, DataLineage, GitInfo
from mlgate.core.schema import Schema
from mlgate.errors import BundleError, describe
from mlgate.model.onnxmodel import onnx_model
from mlgate.store import atomic
from mlgate.store.sums import (
    GATE_FILE,
    SUMS_FILE,
    UNSUMMED,
    content_digest,
    digests_of,
    seal,
    sha256_file,
    sums_digest,
    sums_text,
    verify,
    version_of,
    write_sums,
)
from mlgate.store.trust import Trust

# Deferred imports: signing (the sign extra) and the model loader (skops) load when a bundle is
# signed, verified against a key, or its model loaded; reading a bundle's metadata needs neither.

META_FILE = "mlgate.json"
SCHEMA_FILE = "schema.json"
PROFILE_FILE = "profile.json"
MODEL_FILE = "model.skops"
ONNX_FILE = "model.onnx"
STAGING_MARK = ".staging-"
OLD_MARK = ".old-"

log = logging.getLogger(__name__)

__all__ = [
    "FORMAT_VERSION",
    "GATE_FILE",
    "SUMS_FILE",
    "UNSUMMED",
    "BundleMeta",
    "DataLineage",
    "GitInfo",
    "content_digest",
    "digests_of",
    "seal",
    "sums_digest",
    "sums_text",
    "verify",
    "version_of",
]


def sign_if_configured(root: Path, trust: Trust) -> None:
    """Sign the sealed bundle when a private key is configured."""
    if trust.private_key is not None:
        from mlgate.store.signing import sign

        sign(root, trust.private_key, trust.password)


@contextlib.contextmanager
def staging(target: Path, trust: Trust | None = None) -> Iterator[Path]:
    """Yield an empty directory beside `target`; on success seal (and sign, when a key is
    configured) it and move it into place.

    On any error the staging directory is removed and `target` is left as it was. A process
    killed meanwhile leaves it behind: `clean_leftovers`, under the project lock, removes it.
    """
    with atomic.output_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGING_MARK}", dir=target.parent))
        try:
            yield tmp
            seal(tmp)
            sign_if_configured(tmp, trust or Trust())
            replace_dir(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def replace_dir(src: Path, target: Path) -> None:
    """Move directory `src` to `target`, replacing what was there with two renames."""
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}{OLD_MARK}", dir=target.parent))
        old.rmdir()
        os.replace(target, old)
    os.replace(src, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def leftovers(target: Path) -> list[Path]:
    """Staging and replaced copies of `target` that a killed process left beside it."""
    if not target.parent.is_dir():
        return []
    marks = (f".{target.name}{STAGING_MARK}", f".{target.name}{OLD_MARK}")
    return sorted(p for p in target.parent.iterdir() if p.name.startswith(marks))


def clean_leftovers(target: Path) -> list[Path]:
    """Remove what `leftovers` finds. Only safe while holding the project lock (no other
    process of this project can be writing a bundle); returns what was removed."""
    removed = leftovers(target)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file, then rename)."""
    atomic.write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


@dataclass(frozen=True)
class Bundle:
    """A bundle on disk, with its metadata and schema read and its files' digests known.

    `digests` are the verified SHA256SUMS entries, or (when loaded with `check=False`) the
    digests of the files as they were read: either way `version` names the bytes served.
    """

    path: Path
    meta: BundleMeta
    schema: Schema
    digests: Mapping[str, str] = field(default_factory=dict)
    trust: Trust = field(default_factory=Trust)

    def read(self, name: str) -> bytes:
        """The bytes of one file, refused if they differ from the digest vouched for."""
        path = self.path / name
        if path.is_symlink():
            raise BundleError(f"model bundle {self.path}: {name} is a symbolic link")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BundleError(f"model bundle {self.path} is missing {name}") from None
        expected = self.digests.get(name)
        if expected is None or hashlib.sha256(data).hexdigest() != expected:
            raise BundleError(
                f"model bundle {self.path}: {name} changed since the bundle was verified",
                hint="another process is writing the bundle; load it again when it is done",
            )
        return data

    def load_model(self) -> Any:
        """Build the fitted scikit-learn Pipeline from model.skops: allow-listed types only,
        trees checked (see `mlgate.store.trust`). Nothing is unpickled. A bundle of
        `model.command` has no model.skops: its checked model.onnx on ONNX Runtime is the model."""
        if self.onnx_only:
            where = str(self.path / ONNX_FILE)
            meta = self.meta
            data = self.read(ONNX_FILE)
            return onnx_model(data, self.schema.features, meta.task, meta.classes, where=where)
        from mlgate.store.trust import load_sklearn

        trust = self.model_trust()
        return load_sklearn(self.read(MODEL_FILE), trust, str(self.path / MODEL_FILE))

    def model_trust(self, *, load: bool = True) -> Trust:
        """The trust to audit or (`load`) load model.skops with: when the model was trained
        with the project's own code, that code is first found and checked to be byte for byte
        what mlgate.json records (`mlgate.store.code`), imported from there when `load`, and
        its classes trusted; a mismatch is a BundleError naming the files."""
        code = self.meta.code
        if code is None:
            return self.trust
        from mlgate.store.code import check_code, import_verified

        source = check_code(code, self.trust.code_root, allow_drift=self.trust.allow_code_drift)
        if load:
            import_verified(source)
        return replace(self.trust, packages=(*self.trust.packages, code.package))

    @property
    def version(self) -> str:
        """A content address: the first 12 hex digits of sha256(SHA256SUMS).

        The server reports it and the image labels carry it, so both name the same bundle.
        """
        return version_of(self.digests) if self.digests else "unsealed"

    @property
    def sums_digest(self) -> str:
        """`sha256:` + the full sha256 of SHA256SUMS (`version` is its first 12 digits)."""
        return sums_digest(self.digests)

    @property
    def content_digest(self) -> str:
        """The digest a gate records: every file but gate.json (see `content_digest`)."""
        return content_digest(self.digests)

    @property
    def onnx_only(self) -> bool:
        """Whether the model is only a model.onnx (trained by `model.command`, no model.skops)."""
        return MODEL_FILE not in self.digests and ONNX_FILE in self.digests

    @property
    def onnx_path(self) -> Path | None:
        """The ONNX export, when training kept one."""
        return self.path / ONNX_FILE if ONNX_FILE in self.digests else None

    def gate_report(self) -> GateReport | None:
        """The gate verdict recorded in the bundle, if `mlgate gate` has run on it."""
        if GATE_FILE not in self.digests:
            return None
        return GateReport.loads(self.read(GATE_FILE), f"{self.path / GATE_FILE}")


def load_bundle(path: Path, *, check: bool = True, trust: Trust | None = None) -> Bundle:
    """Verify and open a bundle; every defect is a BundleError.

    `check`: SHA256SUMS must match every file, and, when `trust` has a public key, the
    signature must verify with it. `check=False` skips both (loudly): the digests are then
    those of the files as found, so the version still names what is served. The type
    allow-list of `load_model` applies either way. Without `trust` no signature is checked and
    only the default allow-list holds: a command passes the trust it resolved (`mlgate.store.
    trust.project_trust`, `command_trust`, `resolve`).
    """
    trust = trust if trust is not None else Trust()
    if check:
        digests = verify_trusted(path, trust)
    else:
        if not path.is_dir():
            raise BundleError(f"model bundle not found: {path}")
        log.warning(
            "NOT VERIFYING model bundle %s: neither SHA256SUMS nor a signature is checked; "
            "serve it only if you vouch for every file in it",
            path,
        )
        digests = digests_of(path)
    try:
        meta = BundleMeta.model_validate_json(_read_checked(path, META_FILE, digests))
        schema = Schema.model_validate_json(_read_checked(path, SCHEMA_FILE, digests))
    except ValidationError as exc:
        raise BundleError(f"model bundle {path} has invalid metadata: {describe(exc)}") from None
    if meta.format != FORMAT_VERSION:
        hint = "retrain the model with this version of mlgate"
        if meta.format == 1:
            hint = "format 1 stored the model as a pickle, which mlgate no longer loads: " + hint
        raise BundleError(
            f"model bundle {path} has format {meta.format}; this mlgate reads {FORMAT_VERSION}",
            hint=hint,
        )
    return Bundle(path=path, meta=meta, schema=schema, digests=digests, trust=trust)


def verify_trusted(path: Path, trust: Trust) -> dict[str, str]:
    """`verify`, then the signature when `trust` has a public key; returns the digests."""
    digests = verify(path)
    if trust.public_key is not None:
        from mlgate.store.signing import verify as verify_signature

        verify_signature(path, trust.public_key)
    return digests


def _read_checked(root: Path, name: str, digests: Mapping[str, str]) -> bytes:
    if name not in digests:
        raise BundleError(f"model bundle {root} is missing {name}")
    data = (root / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != digests[name]:
        raise BundleError(f"model bundle {root}: {name} changed since the bundle was verified")
    return data


def add_file(
    bundle_dir: Path,
    name: str,
    data: Any,
    *,
    trust: Trust | None = None,
    expect: str | None = None,
) -> dict[str, str]:
    """Verify the bundle (and its signature), add (or replace) one JSON file, record its
    checksum, and sign again when a private key is configured.

    `expect` is the content digest the caller judged: a bundle that changed since is refused,
    so a verdict is never written into a bundle it was not about. Only the new file is hashed
    for SHA256SUMS: verification just vouched for the others. Without `trust` no signature is
    checked or made. Returns the new digests.
    """
    trust = trust if trust is not None else Trust()
    digests = verify_trusted(bundle_dir, trust)
    if expect is not None and content_digest(digests) != expect:
        raise BundleError(
            f"model bundle {bundle_dir} changed while it was being gated "
            f"({expect} was judged, {content_digest(digests)} is there now)",
            hint="another process wrote the bundle; run `mlgate run` again",
        )
    new = dict(digests)
    write_json(bundle_dir / name, data)
    new[name] = sha256_file(bundle_dir / name)
    write_sums(bundle_dir, new)
    sign_if_configured(bundle_dir, trust)
    return new
