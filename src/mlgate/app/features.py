"""The training frame of `data.source: feast`: built from the feature store before a run.

`pull` reads the entity file, has Feast join the features point-in-time
(`mlgate.adapters.feast`), and writes the frame to `data.path` atomically, so validation,
training and the data fingerprint read it as they read any table; the record it returns goes
into the bundle's lineage. A project whose data is a file is left alone (None).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mlgate.core.config import Project
from mlgate.core.records.lineage import FeastRecord
from mlgate.core.schema import Role
from mlgate.errors import UsageError
from mlgate.store import atomic
from mlgate.store.tables import fingerprint, load_table

FRAME = "data/frame.parquet"


def pull(project: Project) -> FeastRecord | None:
    """Build `data.path` from Feast when `data.source` is feast; its record, else None."""
    data = project.config.data
    if data.source != "feast" or data.feast is None:
        return None
    # The `feast` extra (its own environment: Feast caps pandas below 3), loaded only here.
    from mlgate.adapters.feast import training_frame

    source = data.feast
    entities_path = project.path(source.entities)
    frame, record = training_frame(
        project.path(source.repo),
        source.features,
        load_table(entities_path),
        timestamp=source.timestamp,
        entities_name=source.entities,
        entities_fingerprint=fingerprint(entities_path),
    )
    with atomic.replacing(project.data_path) as tmp:
        frame.to_parquet(tmp, index=False)
    return record


@dataclass(frozen=True)
class FeastInit:
    """What `mlgate init --feast` wrote before the usual init: the first frame, the entity
    file's copy, and the roles and config lines that point the project at the store."""

    frame: Path
    roles: dict[str, Role]
    config_lines: str
    record: FeastRecord
    repo: str  # relative to the project, as mlgate.yaml and the workflows name it


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def init_frame(
    root: Path, repo: Path, entities: Path, features: str | None, timestamp: str
) -> FeastInit:
    """Build the first point-in-time frame into `root` (the entity file copied beside it) for
    `mlgate init --feast`: the entity keys become `id` columns, the timestamp `ignored`."""
    from mlgate.adapters.feast import open_store, training_frame  # the `feast` extra

    store = open_store(repo)
    if features is None:
        services = sorted(s.name for s in store.list_feature_services())
        if len(services) != 1:
            raise UsageError(
                f"--feast {repo}: {len(services)} feature services "
                f"({', '.join(services) or 'none'}); name the features to train on",
                hint="pass --features SERVICE, or --features view:feature,view:feature",
            )
        features = services[0]
    chosen: str | tuple[str, ...] = (
        tuple(f.strip() for f in features.split(",")) if ":" in features else features
    )
    rows = load_table(entities, named_by="the entity file given to --data")
    frame, record = training_frame(
        repo,
        chosen,
        rows,
        timestamp=timestamp,
        entities_name=str(entities),
        entities_fingerprint=fingerprint(entities),
    )
    (root / "data").mkdir(parents=True, exist_ok=True)
    copied = root / "data" / entities.name
    if entities.resolve() != copied.resolve():
        shutil.copyfile(entities, copied)
    with atomic.replacing(root / FRAME) as tmp:
        frame.to_parquet(tmp, index=False)
    views = {v.name: v for v in store.list_feature_views()}
    keys = sorted({k for ref in record.features for k in views[ref.partition(":")[0]].join_keys})
    listed = json.dumps(chosen if isinstance(chosen, str) else list(chosen))
    repo_dir = _relative(repo, root)
    lines = (
        "  source: feast                     # the frame is built from the feature store\n"
        "  feast:\n"
        f"    repo: {json.dumps(repo_dir)}\n"
        f"    features: {listed}\n"
        f"    entities: {json.dumps(_relative(copied, root))}\n"
        f"    timestamp: {json.dumps(timestamp)}\n"
    )
    roles: dict[str, Role] = {**dict.fromkeys(keys, "id"), timestamp: "ignored"}
    return FeastInit(root / FRAME, roles, lines, record, repo_dir)
