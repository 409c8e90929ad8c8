"""The project's own code a model is trained with, pinned by hash (`model.pipeline`).

Training records the code in mlgate.json (`CodeRecord`): the package's import name, where it
was found, its version, and the SHA-256 of every file. Loading a model that holds the package's
classes finds the code the same way, *without importing it*, hashes it, and refuses a mismatch
naming the files that differ; only then is the package imported, from where it was found and
verified, and its classes trusted. No code runs that is not byte for byte the code trained with.

Where the code is found, first match wins: the project's `src/PKG/`, then `PKG/` and `PKG.py`
at the project root, then an installed package on `sys.path` (the serving image installs the
project's wheel), located without executing anything. Nothing is added to `sys.path`: the
package is imported from its verified location alone, so no other file of the project can
shadow a library. `__pycache__` directories and compiled files are not code of record.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import re
import stat
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from mlgate.core.records.lineage import CodeRecord
from mlgate.errors import BundleError, ConfigError

log = logging.getLogger(__name__)

_SKIPPED_DIRS = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Files a package may hold before hashing it is refused as a mistake (a data directory).
MAX_FILES = 2000


@dataclass(frozen=True)
class CodeSource:
    """A package directory (or one module file) and the directory it is imported from."""

    package: str
    kind: Literal["package", "module"]
    path: Path
    import_root: Path

    def where(self, root: Path | None) -> str:
        """Its location relative to the project `root` when inside it, else absolute."""
        if root is not None and self.path.is_relative_to(root):
            return self.path.relative_to(root).as_posix()
        return str(self.path)


def find_code(package: str, root: Path | None) -> CodeSource | None:
    """The project's (under `root`) or the installed package or module `package`, found
    without importing or executing anything; None when there is none."""
    if not _IDENTIFIER.match(package):
        return None
    if root is not None:
        for import_root in (root / "src", root):
            pkg = import_root / package
            if (pkg / "__init__.py").is_file():
                return CodeSource(package, "package", pkg, import_root)
        module = root / f"{package}.py"
        if module.is_file():
            return CodeSource(package, "module", module, root)
    spec = importlib.machinery.PathFinder.find_spec(package)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    origin = Path(spec.origin)
    if spec.submodule_search_locations:
        return CodeSource(package, "package", origin.parent, origin.parent.parent)
    return CodeSource(package, "module", origin, origin.parent)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_files(source: CodeSource) -> dict[str, str]:
    """The SHA-256 of every file of `source`, keyed by its path from the import root; a
    symbolic link or special file inside the package is refused (it could point anywhere)."""
    if source.kind == "module":
        return {source.path.name: _sha256(source.path)}
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(source.path, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = base / name
            mode = path.lstat().st_mode
            rel = path.relative_to(source.import_root).as_posix()
            if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise BundleError(
                    f"the project's code {rel} is a symbolic link or special file: its "
                    "content cannot be pinned",
                    hint="replace it with a regular file",
                )
            if stat.S_ISREG(mode) and not name.endswith(_SKIPPED_SUFFIXES):
                found[rel] = _sha256(path)
        if len(found) > MAX_FILES:
            raise BundleError(
                f"the project's package {source.path} holds over {MAX_FILES} files",
                hint="keep data out of the package the model's code lives in",
            )
    return dict(sorted(found.items()))


def code_digest(files: dict[str, str]) -> str:
    """One digest over `files`, sha256sum's format sorted by path (like a bundle's)."""
    text = "".join(f"{files[rel]}  {rel}\n" for rel in sorted(files))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def code_version(source: CodeSource, root: Path | None) -> str | None:
    """The installed distribution's version of the package, else the project's
    pyproject.toml `[project] version`, else None."""
    for dist in metadata.packages_distributions().get(source.package, ()):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    version = _pyproject(root).get("version") if root is not None else None
    return None if version is None else str(version)


def _pyproject(root: Path) -> dict[str, object]:
    """The `[project]` table of the project's pyproject.toml (empty without one)."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return table if isinstance(table, dict) else {}


def declared_requirements(root: Path) -> dict[str, str]:
    """The project's `[project] dependencies`, each at the version installed now (the one
    training runs with); a dependency that is not installed is left out."""
    declared = _pyproject(root).get("dependencies", [])
    out: dict[str, str] = {}
    for line in declared if isinstance(declared, list) else []:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", str(line))
        if match is None:
            continue
        try:
            out[match.group(1)] = metadata.version(match.group(1))
        except metadata.PackageNotFoundError:
            continue
    return out


def record_code(package: str, root: Path) -> tuple[CodeRecord, CodeSource]:
    """Find the project's `package` (ConfigError when the project has none) and record it."""
    source = find_code(package, root)
    if source is None or not source.path.is_relative_to(root):
        raise ConfigError(
            f"model.pipeline: the project has no package or module {package!r} (looked for "
            f"src/{package}/__init__.py, {package}/__init__.py and {package}.py under {root})",
            hint="put the team's code in src/PACKAGE/ (`mlgate init --code` writes one), or "
            "fix the name in model.pipeline",
        )
    files = code_files(source)
    record = CodeRecord(
        package=package,
        kind=source.kind,
        location=source.where(root),
        version=code_version(source, root),
        digest=code_digest(files),
        files=files,
        requires=declared_requirements(root),
    )
    return record, source


# The bundle's own copy of the code (`copy_code`), for evaluating it as a champion later,
# when the project's code has moved on: `mlgate.app.isolated` imports it in a process of its own.
BUNDLE_CODE_DIR = "code"


def copy_code(record: CodeRecord, import_root: Path, dest: Path) -> None:
    """Copy the files `record` lists from `import_root` into `dest`, each checked against its
    recorded hash (a file changed since it was recorded is a BundleError)."""
    for rel, digest in record.files.items():
        data = (import_root / rel).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise BundleError(
                f"the project's code {rel} changed while the model was being trained",
                hint="train again once nothing is editing the project's package",
            )
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def import_root_of(record: CodeRecord, root: Path) -> Path:
    """The directory the recorded package imports from, inside the project at `root`."""
    return root / Path(record.location).parent


def differences(recorded: dict[str, str], found: dict[str, str]) -> list[str]:
    """`path (changed|new|missing)` for every file that is not the same in both."""
    both = sorted(recorded.keys() & found.keys())
    out = [f"{rel} (changed)" for rel in both if recorded[rel] != found[rel]]
    out += [f"{rel} (new)" for rel in sorted(found.keys() - recorded.keys())]
    out += [f"{rel} (missing)" for rel in sorted(recorded.keys() - found.keys())]
    return out


def verify_code(record: CodeRecord, root: Path | None, *, allow_drift: bool = False) -> None:
    """Refuse to go on unless the code importable now is `record`'s, byte for byte (with
    `allow_drift`, warn instead); then import it from where it was verified."""
    import_verified(check_code(record, root, allow_drift=allow_drift))


def check_code(record: CodeRecord, root: Path | None, *, allow_drift: bool = False) -> CodeSource:
    """Where `record`'s code is found now, once checked to be byte for byte the same (with
    `allow_drift`, a mismatch only warns); nothing is imported."""
    source = find_code(record.package, root)
    if source is None:
        raise BundleError(
            f"the model was trained with the project's code {record.package!r} "
            f"({record.digest}), which cannot be found here",
            hint="run from the project's directory (or pass --config), or install the "
            "project's package; `mlgate build` installs it in the image",
        )
    found = code_files(source)
    if found != record.files:
        diff = differences(record.files, found)
        shown = ", ".join(diff[:10]) + (f" and {len(diff) - 10} more" if len(diff) > 10 else "")
        message = (
            f"the code of {record.package!r} at {source.where(root)} is not the code the model "
            f"was trained with: trained with {record.digest}, found {code_digest(found)}; "
            f"differs: {shown}"
        )
        if not allow_drift:
            raise BundleError(
                message,
                hint="retrain with this code (`mlgate run`), or restore the code the bundle "
                "was trained from; --allow-code-drift loads it anyway, with a warning",
            )
        log.warning("%s; loading it anyway (--allow-code-drift)", message)
    return source


def import_verified(source: CodeSource) -> None:
    """Import `source` under its name from its own location, not from `sys.path` (a module of
    that name already imported from elsewhere is refused)."""
    entry = source.path / "__init__.py" if source.kind == "package" else source.path
    loaded = sys.modules.get(source.package)
    if loaded is not None:
        file = getattr(loaded, "__file__", None)
        if file is None or Path(file).resolve() != entry.resolve():
            raise BundleError(
                f"{source.package!r} is already imported from {file}, not from {entry}, the "
                "code that was verified",
                hint="rename the project's package so it does not clash with another module",
            )
        return
    locations = [str(source.path)] if source.kind == "package" else None
    spec = importlib.util.spec_from_file_location(
        source.package, entry, submodule_search_locations=locations
    )
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise BundleError(f"cannot import {entry}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[source.package] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[source.package]
        raise BundleError(
            f"importing the project's code {entry} failed: {type(exc).__name__}: {exc}",
            hint="fix the package so that `import " + source.package + "` works",
        ) from exc
    except BaseException:
        del sys.modules[source.package]
        raise
