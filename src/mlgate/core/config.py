"""The typed model of `mlgate.yaml`, the single source of truth for a project.

Every model is frozen and closed (`extra="forbid"`): a typo is an error that names the key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from mlgate.core.compute import ComputeConfig
from mlgate.core.frozen import Frozen
from mlgate.core.modelconfig import ModelConfig, PreprocessConfig
from mlgate.core.policy import (
    CanaryConfig,
    MonitorConfig,
)
from mlgate.core.vocab import (
    LOWER_IS_BETTER,
    DriftMethod,
    MetricName,
    Task,
)
from mlgate.errors import ConfigError, validation_issues

CONFIG_FILE = "mlgate.yaml"

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]


class FeastSource(Frozen):
    """A training frame from a Feast feature repository: the entity rows (keys, event
    timestamps, the target) joined point-in-time with the features they name."""

    repo: str = Field(description="The feature repository (its feature_store.yaml), relative.")
    features: str | tuple[str, ...] = Field(
        description="A feature service's name, or a list of `view:feature` references."
    )
    entities: str = Field(
        description="CSV or Parquet of entity keys, event timestamps and the target, relative."
    )
    timestamp: str = Field(
        default="event_timestamp", description="The entity rows' event timestamp column."
    )

    @field_validator("features")
    @classmethod
    def _references(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if isinstance(value, tuple):
            if not value:
                raise ValueError("list at least one `view:feature`, or name a feature service")
            bad = [ref for ref in value if ref.count(":") != 1 or ref.startswith(":")]
            if bad:
                raise ValueError(f"{bad[0]!r} is not a `view:feature` reference")
        return value


class DataConfig(Frozen):
    """Where the training data is and what to learn from it."""

    path: str = Field(
        description="CSV or Parquet file, relative to mlgate.yaml (with `source: feast`, where "
        "mlgate writes the point-in-time training frame, as Parquet)."
    )
    source: Literal["file", "feast"] = Field(
        default="file", description="file: `path` as it is. feast: built from `feast` first."
    )
    feast: FeastSource | None = None
    target: str = Field(description="Column to predict.")
    drop: tuple[str, ...] = Field(default=(), description="Columns that are not features (ids).")
    schema_path: str = Field(
        default="schema.yaml", description="Committed schema the data must match."
    )
    profile_path: str = Field(
        default="reference/profile.json",
        description="Committed reference profile that drift is measured against.",
    )
    positive_label: str | int | bool | None = Field(
        default=None,
        description="Binary tasks: the class that precision, recall, F1 and ROC-AUC are about "
        "(e.g. 'churned', 'default', 1). The minority class of the training data when absent.",
    )
    max_missing_target: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Rows without a target are dropped from training and holdout and counted; "
        "the data gate fails when more than this share of rows lacks one.",
    )

    @model_validator(mode="after")
    def _source(self) -> DataConfig:
        if self.source == "feast" and self.feast is None:
            raise ValueError("source: feast needs a `feast:` section (repo, features, entities)")
        if self.source == "file" and self.feast is not None:
            raise ValueError("a `feast:` section is read only with `source: feast`")
        if self.source == "feast" and not self.path.endswith(".parquet"):
            raise ValueError(
                f"path {self.path!r}: with source: feast mlgate writes the training frame there "
                "as Parquet; name a .parquet file"
            )
        return self


class SplitConfig(Frozen):
    """The train/holdout split; the holdout is what every gate evaluates on."""

    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = Field(default=42, ge=0)
    stratify: bool = Field(default=True, description="Stratify on the target (classification).")


class GateConfig(Frozen):
    """One metric gate, with MLflow `MetricThreshold` semantics.

    `threshold` is absolute. `min_absolute_change` / `min_relative_change` compare with the
    champion on the same holdout: the challenger must improve on it by at least this much, so a
    negative value is the regression that is tolerated (`-0.01`: at most 0.01 worse).
    """

    metric: MetricName
    threshold: float | None = None
    min_absolute_change: float | None = None
    min_relative_change: float | None = None
    min_gain_over_baseline: float | None = Field(
        default=None,
        description="The model must beat the best trivial model (scikit-learn's Dummy "
        "estimators fitted on the same training rows) on the same holdout by this much.",
    )
    greater_is_better: bool | None = Field(
        default=None, description="Defaults from the metric (False for log_loss, rmse, mae)."
    )

    @model_validator(mode="after")
    def _has_a_bound(self) -> GateConfig:
        if (
            self.threshold is None
            and self.min_absolute_change is None
            and self.min_relative_change is None
            and self.min_gain_over_baseline is None
        ):
            raise ValueError(
                "a gate needs at least one of threshold, min_absolute_change, "
                "min_relative_change, min_gain_over_baseline"
            )
        return self

    @property
    def higher_is_better(self) -> bool:
        """Direction of the metric, explicit or from its name."""
        if self.greater_is_better is not None:
            return self.greater_is_better
        return self.metric not in LOWER_IS_BETTER


class DriftConfig(Frozen):
    """Distribution checks against the reference profile, chosen the way Evidently does."""

    method: DriftMethod = Field(
        default="auto",
        description="auto: KS / chi-square up to small_sample non-null current rows of a "
        "column, normalized Wasserstein / Jensen-Shannon above.",
    )
    threshold: float | None = Field(
        default=None,
        gt=0.0,
        description="Replaces the threshold of whichever test runs: a p-value for "
        "ks/chisquare (default 0.05), a distance for the others (default 0.1).",
    )
    small_sample: int = Field(default=1000, ge=1)
    share: float = Field(
        default=0.5, gt=0.0, le=1.0, description="Dataset drift when this share drifts."
    )
    fail_on_drift: bool = True
    max_missing_increase: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="A feature's missing rate may rise this much over the reference before "
        "the data gate fails (a column marked required in the schema allows no null).",
    )
    max_unseen_increase: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Share of rows with a category never seen in training, beyond the share "
        "the reference predicts (its values seen once), that fails the data gate.",
    )
    max_shift: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="A single feature whose distribution moved by this share (KS distance, "
        "or total variation for categories) fails the data gate: a new unit or meaning.",
    )


class EvaluationConfig(Frozen):
    """How holdout numbers are judged: the baseline, the bootstrap, the smallest holdout."""

    bootstrap_resamples: int = Field(
        default=1000,
        ge=0,
        description="Paired bootstrap resamples of the holdout for the champion comparison; 0 "
        "compares the two point estimates (the old behaviour).",
    )
    confidence: float = Field(
        default=0.95,
        gt=0.5,
        lt=1.0,
        description="A champion gate fails only when the whole interval of the improvement "
        "at this confidence lies below its tolerance.",
    )
    min_holdout_rows: int = Field(
        default=30,
        ge=1,
        description="A holdout smaller than this is refused (exit 2): its metrics are noise.",
    )
    champion_bundle: str | None = Field(
        default=None,
        description="A model bundle directory (e.g. tracked with DVC) that `mlgate run` gates "
        "against when the registry has no champion: a champion kept between CI runs without "
        "an MLflow server.",
    )


class PathsConfig(Frozen):
    """Where stages write, relative to mlgate.yaml."""

    bundle: str = "models/model"
    reports: str = "reports"
    metrics: str = "metrics.json"


class RegistryConfig(Frozen):
    """Where models are registered; `MLFLOW_TRACKING_URI` in the environment wins."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; a SQLite file under the project when not given.",
    )


class TrustConfig(Frozen):
    """Who may produce a model, and what a model file may contain.

    Keys are PEM files (elliptic curve: P-256, P-384 or P-521), relative to mlgate.yaml.
    `MLGATE_SIGNING_KEY`, `MLGATE_PUBLIC_KEY` and `MLGATE_TRUSTED_TYPES` (comma-separated) in
    the environment take precedence (the private key rarely belongs in the repository).
    """

    private_key: str | None = Field(
        default=None, description="Sign every bundle written with this private key."
    )
    public_key: str | None = Field(
        default=None,
        description="Verify the signature of every bundle loaded (serve, champion, build, "
        "register) with this public key; an unsigned or wrongly signed bundle is refused.",
    )
    trusted_types: tuple[str, ...] = Field(
        default=(),
        description="Types beyond scikit-learn, numpy, scipy and mlgate's own that a model "
        "file may contain (module.Class); loading them runs their code, so list only yours.",
    )


class Config(Frozen):
    """The whole of mlgate.yaml."""

    name: Name = Field(description="Model name, used in the registry and image tags.")
    data: DataConfig
    task: Task | None = Field(default=None, description="Inferred from the target when absent.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    gates: tuple[GateConfig, ...] = ()
    drift: DriftConfig = Field(default_factory=DriftConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    canary: CanaryConfig = Field(default_factory=CanaryConfig)
    trust: TrustConfig = Field(default_factory=TrustConfig)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)

    def digest(self) -> str:
        """A stable hash of the effective config, recorded in lineage.

        The release policy (`canary`) and where the fit runs (`compute`) are left out: they
        change how a model is made or rolled out, not the model, so tuning them does not make
        the same model look different.
        """
        fields = self.model_dump(mode="json", exclude={"canary", "compute"})
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Project:
    """A config and the directory its relative paths are resolved against."""

    root: Path
    config: Config

    def path(self, relative: str) -> Path:
        """Resolve a path from the config against the project root."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    @property
    def data_path(self) -> Path:
        return self.path(self.config.data.path)

    @property
    def schema_path(self) -> Path:
        return self.path(self.config.data.schema_path)

    @property
    def profile_path(self) -> Path:
        return self.path(self.config.data.profile_path)

    @property
    def bundle_dir(self) -> Path:
        return self.path(self.config.paths.bundle)

    @property
    def reports_dir(self) -> Path:
        return self.path(self.config.paths.reports)

    @property
    def metrics_path(self) -> Path:
        return self.path(self.config.paths.metrics)


def json_schema() -> dict[str, JsonValue]:
    """The JSON schema of mlgate.yaml (for editors and `mlgate config --schema`)."""
    return Config.model_json_schema()


def parse_config(raw: object, source: str) -> Config:
    """Validate an already-parsed mapping; errors name every offending key."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping of keys at the top level, got {type(raw).__name__}",
            hint="see `mlgate config --schema` for the keys",
        )
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        lines = [str(issue) for issue in validation_issues(exc)]
        raise ConfigError(
            f"{source}: invalid config\n  " + "\n  ".join(lines),
            hint="fix the key(s) above; `mlgate config --schema` lists every key",
        ) from None
