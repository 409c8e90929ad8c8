"""mlgate.json: a bundle's lineage — what was trained, from what, with what, and how it scored.

Written once by training, inside the sealed bundle; read by every later stage through this
type. `format` is the bundle format: 2 stores the scikit-learn model with skops (format 1 was a
pickle, which is never loaded).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from mlgate.core.frozen import Frozen
from mlgate.core.vocab import Task

FORMAT_VERSION = 2


class GitInfo(Frozen):
    """Where the code that trained the model came from."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None


class DataLineage(Frozen):
    """Which data the model was trained and evaluated on."""

    path: str
    fingerprint: str
    rows: int
    train_rows: int
    holdout_rows: int
    holdout_fingerprint: str
    dropped_target_rows: int = 0


class CodeRecord(Frozen):
    """The project's own code the model was trained with (`model.pipeline`): its import name,
    where it was found, its version when installed or declared, and the SHA-256 of every file.
    Loading the model checks that the code importable then is byte for byte this code."""

    package: str
    kind: Literal["package", "module"]
    location: str = Field(description="Where it was found, relative to the project: src/PKG.")
    version: str | None = None
    digest: str = Field(description="sha256 over the sorted (path, sha256) list of `files`.")
    files: dict[str, str] = Field(description="path (from the import root) -> sha256 hex")
    requires: dict[str, str] = Field(
        default_factory=dict,
        description="The project's declared dependencies (pyproject.toml), at the versions "
        "installed when it trained: the serving image pins them.",
    )


class CommandRecord(Frozen):
    """A model that the team's own command trained (`model.command`): the command as
    configured, how it exited, and the SHA-256 of the model.onnx it wrote. Its metrics are
    mlgate's own, on the holdout the command never saw."""

    command: str
    exit_status: int
    onnx_digest: str = Field(description="sha256: + hex of the model.onnx the command wrote.")
    layout: Literal["named", "tensor"] = Field(
        description="named: one graph input per feature column; tensor: one float tensor "
        "[N, n_features] in schema order."
    )


class TrialRecord(Frozen):
    """One trial of a hyperparameter search: the values it set and its fold scores (None where
    the metric is undefined on a fold)."""

    params: dict[str, JsonValue]
    scores: tuple[float | None, ...]
    mean: float | None
    std: float | None


class SearchRecord(Frozen):
    """`model.search` as it ran: every trial, scored on cross-validation folds of the training
    rows only, and the winner that was then fitted on all of them and gated on the holdout."""

    metric: str
    greater_is_better: bool
    folds: int
    grid_size: int = Field(description="Points in the whole grid.")
    sampled: bool = Field(description="True when the trials are a seeded sample of the grid.")
    trials: tuple[TrialRecord, ...]
    winner: int = Field(description="Index in `trials` of the trial fitted and gated.")


class ComputeRecord(Frozen):
    """Where a model was fitted when it was not in the process that ran mlgate: the cluster,
    the Ray job, the nodes its tasks ran on."""

    engine: Literal["ray"]
    address: str
    ray_version: str
    job_id: str = Field(description="The Ray job of the run, as `ray list jobs` shows it.")
    nodes: tuple[str, ...] = Field(description="Ray node IDs the fit and the trials ran on.")
    tasks: int = Field(description="Ray tasks the run completed: the trials and the fit.")


class FeastRecord(Frozen):
    """The Feast training frame a model was fitted on, as `data.source: feast` built it: the
    same commit (definitions, registry, entity file) builds the same frame."""

    project: str = Field(description="The feature repository's Feast project.")
    service: str | None = Field(description="The feature service, when one was named.")
    features: tuple[str, ...] = Field(description="Every `view:feature` the frame joined.")
    entity_keys: tuple[str, ...] = Field(
        default=(),
        description="The views' join keys: what a /predict row sends for the server to fetch "
        "the rest from the online store.",
    )
    views: dict[str, str] = Field(description="Each feature view: sha256 of its definition.")
    registry_version: str = Field(description="The Feast registry's version id.")
    entities_fingerprint: str = Field(description="md5 of the entity file, as DVC records it.")
    rows: int = Field(description="Rows of the point-in-time frame.")


class BundleMeta(Frozen):
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
    code: CodeRecord | None = None
    command: CommandRecord | None = None
    search: SearchRecord | None = None
    compute: ComputeRecord | None = None
    feast: FeastRecord | None = None
