"""The project's and the bundle's data documents on disk: the committed schema (schema.yaml),
the reference profile, and a bundle's monitoring reference. The models are pure (`core.schema`,
`core.profile`, `model.calibration`); this module reads and writes their files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import ValidationError

from mlgate.core.profile import PROFILE_VERSION, Profile
from mlgate.core.schema import Schema
from mlgate.errors import BundleError, DataError, describe
from mlgate.model.calibration import (
    MONITORING_FILE,
    REFERENCE_VERSION,
    MonitoringReference,
    reference_json,
)
from mlgate.store import atomic
from mlgate.store.yamlfile import read_yaml

T = TypeVar("T")


def write_schema(schema: Schema, path: Path) -> None:
    """Write a schema as YAML (or JSON for a .json path), atomically."""
    data = schema.model_dump(mode="json", exclude_none=True)
    for col in data["columns"]:
        # Off is the default: the header comment says how to turn either on.
        for key in ("required", "closed"):
            if col.get(key) is False:
                col.pop(key)
    if path.suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = (
            "# Data schema: commit this file. Regenerate with `mlgate schema infer`.\n"
            "# role: feature (the model reads it), target, id (echoed by the server), text or\n"
            "#   ignored (not read). Change a role here, or with `mlgate init --role COL=ROLE`.\n"
            "# required: true makes a null a failure; otherwise the missing rate is checked.\n"
            "# Ranges are hard limits where the data has natural bounds (never negative, 0/1,\n"
            "# fractions) and wide elsewhere: they catch impossible values, drift checks catch\n"
            "# shifts. closed: true makes unseen categories a failure instead of a rate.\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        )
    atomic.write_text(path, text)


def read_schema(path: Path) -> Schema:
    """Read a schema file; a missing or invalid file is a DataError naming it."""

    def parse(p: Path) -> Schema:
        if p.suffix == ".json":
            return Schema.model_validate(json.loads(p.read_text(encoding="utf-8")))
        return Schema.model_validate(read_yaml(p, DataError))

    return _read_document(
        path, "schema file", "run `mlgate schema infer` and commit the file", parse
    )


def write_profile(profile: Profile, path: Path) -> None:
    """Write a profile as JSON, atomically (a temporary file renamed over the target)."""
    text = json.dumps(profile.model_dump(mode="json"), separators=(",", ":")) + "\n"
    atomic.write_text(path, text)


def read_profile(path: Path) -> Profile:
    """Read a profile; a missing or invalid file is a DataError naming it."""
    profile = _read_document(
        path,
        "reference profile",
        "run `mlgate schema infer` to write it, and commit it",
        lambda p: Profile.model_validate_json(p.read_bytes()),
    )
    if profile.version != PROFILE_VERSION:
        raise DataError(
            f"reference profile {path} has version {profile.version}, expected {PROFILE_VERSION}",
            hint="regenerate it with `mlgate schema infer`",
        )
    return profile


def _read_document(path: Path, what: str, missing_hint: str, parse: Callable[[Path], T]) -> T:
    """`parse(path)`; a missing file or one that does not parse is a DataError naming it."""
    if not path.is_file():
        raise DataError(f"{what} not found: {path}", hint=missing_hint)
    try:
        return parse(path)
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise DataError(
            f"invalid {what} {path}: {describe(exc)}",
            hint="regenerate it with `mlgate schema infer`",
        ) from None


def write_reference(bundle_dir: Path, reference: MonitoringReference) -> None:
    """Write the monitoring reference into a bundle being made."""
    atomic.write_text(
        bundle_dir / MONITORING_FILE, json.dumps(reference_json(reference), indent=2) + "\n"
    )


def read_reference(bundle_dir: Path) -> MonitoringReference | None:
    """The bundle's monitoring reference; None for a bundle trained before it existed."""
    path = bundle_dir / MONITORING_FILE
    if not path.is_file():
        return None
    try:
        ref = MonitoringReference.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise BundleError(f"invalid {MONITORING_FILE} in {bundle_dir}: {describe(exc)}") from None
    if ref.version != REFERENCE_VERSION:
        raise BundleError(
            f"{path} has version {ref.version}, expected {REFERENCE_VERSION}",
            hint="retrain the model with this version of mlgate",
        )
    return ref
