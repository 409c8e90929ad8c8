"""The `model:` and `preprocess:` sections of `mlgate.yaml`: what is fitted, and how features
are prepared for it (re-exported by `mlgate.core.config`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

ParamKey = str | bool | int | float
if TYPE_CHECKING:
    ParamValue = str | bool | int | float | None | list["ParamValue"] | dict[ParamKey, "ParamValue"]
else:  # pydantic builds no recursive alias without TypeAliasType; `_param_value` checks the shape
    ParamValue = Any


def _param_value(value: object, where: str = "") -> ParamValue:
    """A value as YAML or JSON writes it: mappings may be keyed by numbers or booleans (class
    labels: YAML's `{0: 1}`), which JSON's own value type refuses."""
    at = f" at {where}" if where else ""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_param_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out: dict[ParamKey, ParamValue] = {}
        for k, v in value.items():
            if not isinstance(k, str | bool | int | float):
                raise ValueError(f"key {k!r}{at} is not a string, number or boolean")
            out[k] = _param_value(v, f"{where}.{k}".lstrip("."))
        return out
    raise ValueError(
        f"{value!r}{at} is not a YAML/JSON value (a string, number, boolean, null, list or "
        "mapping); quote it to pass text"
    )


Param = Annotated[ParamValue, PlainValidator(_param_value), WithJsonSchema({})]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Frozen):
    """The estimator at the end of the preprocessing pipeline."""

    estimator: str | None = Field(
        default=None,
        description="Import path of a scikit-learn estimator; a random forest when not given.",
    )
    params: dict[str, Param] = Field(
        default_factory=dict,
        description="Keyword arguments of the estimator, as YAML/JSON values; mappings keyed by "
        "class (class_weight: {0: 1, 1: 8}) name the target's classes.",
    )
    imbalance: Literal["auto", "threshold", "class_weight", "none"] = Field(
        default="auto",
        description="Binary tasks with a rare positive class: 'threshold' tunes the decision "
        "threshold for F1 on training folds (TunedThresholdClassifierCV); 'class_weight' "
        "reweights classes; auto = threshold when the positive class is under "
        "30% of the rows, else none.",
    )
    onnx: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Export model.onnx for fast serving (kept only when it matches "
        "scikit-learn). auto skips forests past 5M tree nodes (over a minute to convert).",
    )


class PreprocessConfig(_Frozen):
    """How features are prepared; all of it lives inside the one fitted Pipeline."""

    numeric_impute: Literal["median", "mean"] = "median"
    scale: bool = True
    categorical_impute: Literal["most_frequent", "constant"] = "most_frequent"
    max_categories: int | None = Field(default=None, ge=2)
    min_frequency: int = Field(
        default=5,
        ge=1,
        description="Categories seen in fewer training rows share one 'infrequent' column, "
        "as do values never seen in training (1: every category gets its own column).",
    )
