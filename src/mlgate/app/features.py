"""The training frame of `data.source: feast`: built from the feature store before a run.

`pull` reads the entity file, has Feast join the features point-in-time
(`mlgate.adapters.feast`), and writes the frame to `data.path` atomically, so validation,
training and the data fingerprint read it as they read any table; the record it returns goes
into the bundle's lineage. A project whose data is a file is left alone (None).
"""

from __future__ import annotations

from mlgate.core.config import Project
from mlgate.core.records.lineage import FeastRecord
from mlgate.store import atomic
from mlgate.store.tables import fingerprint, load_table


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
