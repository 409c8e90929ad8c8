"""mlgate.json: a bundle's lineage — what was trained, from what, with what, and how it scored.

Written once by training, inside the sealed bundle; read by every later stage through this
type. `format` is the bundle format: 2 stores the scikit-learn model with skops (format 1 was a
pickle, which is never loaded).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue

from mlgate.core.vocab import Task

FORMAT_VERSION = 2


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitInfo(_Frozen):
    """Where the code that trained the model came from."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None


class DataLineage(_Frozen):
    """Which data the model was trained and evaluated on."""

    path: str
    fingerprint: str
    rows: int
    train_rows: int
    holdout_rows: int
    holdout_fingerprint: str
    dropped_target_rows: int = 0


class BundleMeta(_Frozen):
    """The contents of mlgate.json."""

    format: int = FORMAT_VERSION
    name: str
    task: Task
    target: str
    features: tuple[str, ...]
    classes: tuple[JsonValue, ...] | None = None
    created_at: str
    mlgate_version: str
    git: GitInfo
    data: DataLineage
    config_hash: str
    seed: int
    estimator: str
    params: dict[str, JsonValue]
    metrics: dict[str, float]
    libraries: dict[str, str]
    runtimes: tuple[str, ...] = ("sklearn",)
    positive_label: JsonValue = None
    decision_threshold: float | None = None
    notes: tuple[str, ...] = ()
    # The model's predictions for MLflow's input example, made at training time: the image's
    # smoke test compares with these, so it never has to load the model on the build host.
    example_predictions: tuple[JsonValue, ...] | None = None
