"""SHA256SUMS: the checksums that seal a bundle, and the digests named after them.

A bundle is sealed by writing `SHA256SUMS` (sha256sum's format, sorted by path) over every file
but itself and the signature; `verify` refuses any file changed, missing or extra; the bundle's
digest and version are hashes of that text (`mlgate.store.bundle` re-exports all of it).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from mlgate.errors import BundleError
from mlgate.store import atomic
from mlgate.store.signing import SIGNATURE_FILE

SUMS_FILE = "SHA256SUMS"
GATE_FILE = "gate.json"
# Files that SHA256SUMS does not list: itself, and the signature made over it.
UNSUMMED = frozenset({SUMS_FILE, SIGNATURE_FILE})


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _files(root: Path) -> list[str]:
    """Every regular file under `root` but SHA256SUMS and the signature; anything that is not a
    regular file or directory (a symlink above all: it could point anywhere) is refused."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = base / name
            mode = path.lstat().st_mode
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(mode):
                raise BundleError(
                    f"model bundle {root} contains a symbolic link ({rel}): refusing it",
                    hint="a bundle holds regular files only; copy the real file in and retrain",
                )
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise BundleError(f"model bundle {root} contains {rel}, which is not a file")
            if stat.S_ISREG(mode) and not (base == root and name in UNSUMMED):
                found.append(rel)
    return sorted(found)


def digests_of(root: Path) -> dict[str, str]:
    """The SHA-256 of every file of the bundle as it is on disk now (nothing is trusted)."""
    return {rel: sha256_file(root / rel) for rel in _files(root)}


def sums_text(digests: Mapping[str, str]) -> str:
    """SHA256SUMS' canonical content for `digests` (sha256sum's format, sorted by path)."""
    return "".join(f"{digests[rel]}  {rel}\n" for rel in sorted(digests))


def sums_digest(digests: Mapping[str, str]) -> str:
    """The bundle's digest, `sha256:` + sha256 of its SHA256SUMS (the canonical text): what the
    registry records at registration and checks on every download."""
    return "sha256:" + hashlib.sha256(sums_text(digests).encode("utf-8")).hexdigest()


def version_of(digests: Mapping[str, str]) -> str:
    """A bundle's content address: the first 12 hex digits of sha256 of its SHA256SUMS."""
    return sums_digest(digests).removeprefix("sha256:")[:12]


def content_digest(digests: Mapping[str, str]) -> str:
    """What a gate vouches for: every file but the gate's own verdict, as one sha256."""
    kept = {rel: d for rel, d in digests.items() if rel != GATE_FILE}
    return "sha256:" + hashlib.sha256(sums_text(kept).encode("utf-8")).hexdigest()


def write_sums(root: Path, digests: dict[str, str]) -> None:
    atomic.write_text(root / SUMS_FILE, sums_text(digests))


def seal(root: Path) -> None:
    """Write SHA256SUMS over every file of the bundle (sha256sum's format)."""
    write_sums(root, digests_of(root))


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
    if sums.is_symlink():
        raise BundleError(f"model bundle {root}: {SUMS_FILE} is a symbolic link: refusing it")
    for n, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        parts = rel.split("/")
        if not sep or len(digest) != 64 or rel.startswith("/") or ".." in parts or "" in parts:
            raise BundleError(f"{sums}: line {n} is malformed: {line!r}")
        expected[rel] = digest
    problems: list[str] = []
    present = set(_files(root))
    for rel, digest in expected.items():
        if rel not in present:
            problems.append(f"missing file {rel}")
        elif sha256_file(root / rel) != digest:
            problems.append(f"{rel} does not match its checksum")
    problems.extend(f"unexpected file {rel}" for rel in sorted(present - expected.keys()))
    if problems:
        raise BundleError(
            f"model bundle {root} failed verification: " + "; ".join(problems),
            hint="the bundle was changed or partly copied; retrain or restore it",
        )
    return expected
