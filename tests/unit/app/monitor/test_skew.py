"""What `--skew` names (app/monitor/project.py `skew_source`, app/monitor/skew.py): a file, or
with `feast` the project's feature repository; refused, naming the key and the fix, for a
project or a bundle not trained from a feature store."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgate.app.monitor.project import skew_source
from mlgate.app.monitor.skew import SkewCollector, StoreSkew, store_features
from mlgate.core.records.lineage import FeastRecord
from mlgate.core.schema import ColumnSpec
from mlgate.errors import DataError, UsageError
from mlgate.store.project import load_project

pytestmark = pytest.mark.unit

CONFS = Path(__file__).resolve().parents[3] / "confs" / "valid"
FEATURES = (
    ColumnSpec(name="spend_30d", kind="numeric"),
    ColumnSpec(name="plan", kind="categorical"),
    ColumnSpec(name="visits_7d", kind="numeric"),
)


def _record(keys: tuple[str, ...] = ("customer_id",)) -> FeastRecord:
    return FeastRecord(
        project="shop",
        service="churn",
        features=("orders:spend_30d", "visits:visits_7d"),
        entity_keys=keys,
        views={"orders": "sha256:0", "visits": "sha256:1"},
        registry_version="1",
        entities_fingerprint="0",
        rows=10,
    )


def test_feast_names_the_projects_feature_repository(tmp_path: Path) -> None:
    shutil.copy(CONFS / "feast_source.yaml", tmp_path / "mlgate.yaml")
    project = load_project(tmp_path / "mlgate.yaml")
    source = skew_source(project, "feast")
    assert isinstance(source, StoreSkew)
    assert project.config.data.feast is not None
    assert source.repo == project.path(project.config.data.feast.repo)
    assert skew_source(project, "./feast") == Path("feast")
    assert skew_source(project, None) is None


def test_feast_for_a_project_whose_data_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    shutil.copy(CONFS / "minimal.yaml", tmp_path / "mlgate.yaml")
    project = load_project(tmp_path / "mlgate.yaml")
    with pytest.raises(UsageError, match=r"--skew feast: .*data\.source: file") as err:
        skew_source(project, "feast")
    assert "--skew ./feast" in (err.value.hint or "")
    assert skew_source(project, "offline.csv") == Path("offline.csv")


def test_the_store_features_are_the_bundles_features_from_feast() -> None:
    specs, refs, keys = store_features(FEATURES, _record(), Path("b"))
    assert [s.name for s in specs] == ["spend_30d", "visits_7d"]  # `plan` came with the request
    assert refs == ("orders:spend_30d", "visits:visits_7d")
    assert keys == ("customer_id",)


@pytest.mark.parametrize("record", [None, _record(keys=())], ids=["no-record", "no-keys"])
def test_a_bundle_not_trained_from_feast_is_refused(record: FeastRecord | None) -> None:
    with pytest.raises(DataError, match=r"--skew feast: bundle b was not trained"):
        store_features(FEATURES, record, Path("b"))


def test_entity_rows_keep_answered_rows_with_keys_and_their_times() -> None:
    collector = SkewCollector((FEATURES[0],), "v1", keys=("customer_id",))
    collector.add(
        {
            "version": np.array(["v1", "v1", "v1", "v2"], dtype=object),
            "error": np.array([None, None, "validation", None], dtype=object),
            "ts": np.array([0.0, 60.0, 61.0, 62.0]),
            "request_id": np.array(["a." + "0" * 32, "b", "c", "d"], dtype=object),
            "row": np.array([0, 0, -1, 0]),
            "f:spend_30d": np.array([1.0, 2.0, np.nan, 3.0]),
            "k:customer_id": np.array(["7", None, None, "9"], dtype=object),
        }
    )
    rows = collector.entity_rows()
    assert rows["customer_id"].tolist() == ["7"]  # "b" has no key, "c" was refused, "d" is v2
    assert rows["request_id"].tolist() == ["a"]  # the server's signature taken off
    assert rows["event_timestamp"].tolist() == [pd.Timestamp(0, unit="s", tz="UTC")]
