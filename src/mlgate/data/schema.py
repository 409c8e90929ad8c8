"""The data schema: what every column of the data (and every serving input) must look like.

This module holds the pure model and its file format; it imports neither pandas nor pandera
at import time, because the model server reads the same schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlgate.errors import DataError

ColumnKind = Literal["numeric", "integer", "boolean", "categorical"]
Role = Literal["feature", "target", "ignored"]


class ColumnSpec(BaseModel):
    """One column: its kind, whether it may be null, its range or its categories."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: ColumnKind
    role: Role = "feature"
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = Field(
        default=None, description="Allowed values of a categorical column, as strings."
    )


class Schema(BaseModel):
    """Every column of the data file, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    columns: tuple[ColumnSpec, ...]

    @property
    def features(self) -> tuple[ColumnSpec, ...]:
        """The columns the model reads, in training order."""
        return tuple(c for c in self.columns if c.role == "feature")

    @property
    def target(self) -> ColumnSpec | None:
        """The target column, when the schema describes training data."""
        return next((c for c in self.columns if c.role == "target"), None)

    def column(self, name: str) -> ColumnSpec:
        """The spec of one column; KeyError when the schema does not have it."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def write_schema(schema: Schema, path: Path) -> None:
    """Write a schema as YAML (or JSON for a .json path), atomically."""
    import json

    import yaml

    data = schema.model_dump(mode="json", exclude_none=True)
    if path.suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = (
            "# Data schema: commit this file. Regenerate with `mlgate schema infer`.\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def read_schema(path: Path) -> Schema:
    """Read a schema file; a missing or invalid file is a DataError naming it."""
    import json

    import yaml

    if not path.is_file():
        raise DataError(
            f"schema file not found: {path}",
            hint="run `mlgate schema infer` and commit the file",
        )
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return Schema.model_validate(raw)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        detail = str(exc)
        if isinstance(exc, ValidationError):
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
        raise DataError(
            f"invalid schema file {path}: {detail}",
            hint="regenerate it with `mlgate schema infer`",
        ) from None
