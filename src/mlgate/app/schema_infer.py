"""`mlgate schema infer`: the schema and the reference profile inferred from the data and written,
keeping the roles a person edited in the committed schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.core.config import Project
from mlgate.core.infer import infer_schema
from mlgate.core.profile import build_profile
from mlgate.errors import DataError
from mlgate.store.files import read_schema, write_profile, write_schema
from mlgate.store.project import load_project
from mlgate.store.tables import load_table

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.core.schema import Role, Schema


def infer_reference(root: Path, roles: dict[str, Role] | None = None) -> tuple[Schema, list[Path]]:
    """`mlgate schema infer`: (re)write the schema and reference profile from the data.

    Roles the committed schema gives differently from what inference would choose now (a
    person's edits) are kept, as are those in `roles`.
    """

    project = load_project(root)
    return write_reference(project, load_table(project.data_path), roles)


def write_reference(
    project: Project, frame: pd.DataFrame, roles: dict[str, Role] | None = None
) -> tuple[Schema, list[Path]]:
    """Infer and write schema.yaml and the reference profile for `frame`."""

    config = project.config
    wanted = dict(roles or {})
    schema = infer_schema(frame, target=config.data.target, drop=config.data.drop, roles=wanted)
    if project.schema_path.is_file():
        try:
            previous = read_schema(project.schema_path)
        except DataError:
            previous = None
        if previous is not None:
            # A person's edits to the committed roles survive; `roles` given now win.
            kept = {
                c.name: c.role
                for c in previous.columns
                if c.name in frame.columns
                and c.name not in wanted
                and c.role != "target"
                and c.name != config.data.target
                and c.name not in config.data.drop
                and c.role != schema.column(c.name).role
            }
            if kept:
                schema = infer_schema(
                    frame,
                    target=config.data.target,
                    drop=config.data.drop,
                    roles={**kept, **wanted},
                )
    write_schema(schema, project.schema_path)
    has_target = frame[config.data.target].notna()
    labelled = frame if bool(has_target.all()) else frame.loc[has_target]
    profile = build_profile(labelled, schema)
    if len(frame):
        profile = profile.model_copy(
            update={"target_null_fraction": float(frame[config.data.target].isna().mean())}
        )
    write_profile(profile, project.profile_path)
    return schema, [project.schema_path, project.profile_path]
