"""mlgate.json: the lineage of a bundle written by an earlier release still reads."""

from __future__ import annotations

import json
from pathlib import Path

from mlgate.core.records.lineage import FORMAT_VERSION, BundleMeta

LEGACY = Path(__file__).parent / "legacy"


def test_a_bundle_s_lineage_from_an_earlier_release_reads_and_round_trips() -> None:
    raw = json.loads((LEGACY / "mlgate.json").read_text())
    meta = BundleMeta.model_validate(raw)
    assert meta.format == FORMAT_VERSION
    assert meta.name == "churn"
    assert meta.data.holdout_rows > 0
    assert BundleMeta.model_validate_json(meta.model_dump_json()) == meta
