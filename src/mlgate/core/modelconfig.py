"""The `model:` and `preprocess:` sections of `mlgate.yaml`: what is fitted, and how features
are prepared for it (re-exported by `mlgate.core.config`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Field,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from mlgate.core.command import check_command
from mlgate.core.frozen import Frozen
from mlgate.core.vocab import MetricName

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


# `model.pipeline`: a dotted module path, a colon, a function name.
PIPELINE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"


class SearchConfig(Frozen):
    """`model.search`: a hyperparameter search scored on cross-validation folds of the
    training rows (the holdout is touched once, by the winner, in the gate)."""

    params: dict[str, list[Param]] = Field(
        min_length=1,
        description="Each parameter's candidate values; a trial sets one value of each over "
        "model.params (for model.pipeline: the function's keyword arguments).",
    )
    trials: int = Field(
        ge=1,
        le=10_000,
        description="The whole grid when it has at most this many points, else this many "
        "points sampled from it (seeded by split.seed).",
    )
    metric: MetricName | None = Field(
        default=None,
        description="The metric trials are ranked by (a metric of the task); the first gate's "
        "when not given (accuracy, or rmse for regression, without gates).",
    )
    folds: int = Field(
        default=5, ge=2, le=50, description="Cross-validation folds of the training rows."
    )
    n_jobs: int = Field(
        default=1, ge=1, le=256, description="Trials that run at once on this machine."
    )

    @field_validator("params")
    @classmethod
    def _candidates(cls, value: dict[str, list[ParamValue]]) -> dict[str, list[ParamValue]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"model.search.params.{key}: give at least one value")
            seen: list[ParamValue] = []
            for v in values:
                if v in seen:
                    raise ValueError(
                        f"model.search.params.{key}: {v!r} is listed twice; list each value once"
                    )
                seen.append(v)
        return value


class ModelConfig(Frozen):
    """The estimator at the end of the preprocessing pipeline."""

    estimator: str | None = Field(
        default=None,
        description="Import path of a scikit-learn estimator; a random forest when not given.",
    )
    pipeline: str | None = Field(
        default=None,
        pattern=PIPELINE_PATTERN,
        description="PACKAGE.MODULE:FUNCTION in the project's own code (src/PACKAGE/, or a "
        "module at the project root) returning an unfitted scikit-learn-compatible estimator "
        "that takes the feature columns as a DataFrame; model.params are its keyword "
        "arguments, preprocess: does not apply, and the bundle pins the code by hash.",
    )
    command: str | None = Field(
        default=None,
        description="The team's own training command (any framework), run without a shell in "
        "the project directory: {train} is the training rows as Parquet (features and target), "
        "{target} the target's name, {out} an empty directory it writes model.onnx into. mlgate "
        "evaluates that ONNX on the holdout itself (README: any framework through ONNX).",
    )
    command_timeout: float = Field(
        default=3600.0, gt=0, description="Seconds model.command may run before it is stopped."
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
    early_stopping: Literal["auto", "never"] = Field(
        default="auto",
        description="LightGBM, XGBoost and CatBoost estimators: auto picks the number of "
        "rounds on 10% of the training rows (never the holdout), then fits all training rows "
        "with it; never fits every configured round.",
    )

    search: SearchConfig | None = Field(
        default=None,
        description="A hyperparameter search over model.params (README: Hyperparameter search).",
    )

    def written_at(self, key: str) -> str:
        """Where mlgate.yaml sets parameter `key`: a search's values override model.params."""
        searched = self.search is not None and key in self.search.params
        return f"model.search.params.{key}" if searched else f"model.params.{key}"

    @model_validator(mode="after")
    def _one_model(self) -> ModelConfig:
        if self.pipeline is not None and self.estimator is not None:
            raise ValueError(
                "model.estimator and model.pipeline both name the model: keep one (the "
                "pipeline's function builds its own estimator)"
            )
        return self

    @field_validator("command")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        return None if value is None else check_command(value)

    @model_validator(mode="after")
    def _command_alone(self) -> ModelConfig:
        if self.command is None:
            return self
        clash = [k for k in ("estimator", "pipeline", "params", "search") if getattr(self, k)]
        if clash:
            raise ValueError(
                f"model.command and model.{clash[0]} are both set: the command trains the model "
                f"itself; remove model.{clash[0]} (or model.command)"
            )
        return self


class PreprocessConfig(Frozen):
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
