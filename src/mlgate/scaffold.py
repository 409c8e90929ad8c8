"""`mlgate init`: write a ready project (config, schema, reference profile, GitHub Actions
workflows) for the demo data or for a team's own data file.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate import atomic
from mlgate.config import CONFIG_FILE, Task, load_project
from mlgate.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.versioning import DvcInit

GITIGNORE = """\
# mlgate outputs: rebuilt by `mlgate run`, versioned by the registry, not by git.
/models/
/reports/
/mlruns/
# The local release's state, logs and metrics (`mlgate deploy --target local`).
/.mlgate/
"""


@dataclass(frozen=True)
class InitResult:
    """What `init` wrote."""

    root: Path
    task: Task
    files: tuple[Path, ...]
    dvc: DvcInit | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class InitRequest:
    """What `mlgate init` was asked for: the demo, or a team's data file and its target."""

    root: Path
    demo: bool = False
    data: Path | None = None
    target: str | None = None
    name: str | None = None
    drop: tuple[str, ...] = ()
    rows: int = 12_000
    force: bool = False
    dvc: bool = True
    remote: str | None = None


def init_project(request: InitRequest) -> InitResult:
    """`mlgate init`: write the project, then (inside a git repository, unless `dvc` is off)
    track its data with DVC. Nothing is staged or committed: the user reviews first."""
    if request.demo == (request.data is not None):
        raise UsageError("pass exactly one of --demo or --data CSV --target COLUMN")
    if request.data is not None and request.target is None:
        raise UsageError("--data needs --target COLUMN (the column to predict)")
    if request.data is not None and request.target is not None:
        result = init_from_data(
            request.root,
            data=request.data,
            target=request.target,
            name=request.name,
            drop=request.drop,
            force=request.force,
        )
    else:
        result = init_demo(request.root, rows=request.rows, force=request.force)
    if not request.dvc:
        if request.remote is not None:
            raise UsageError("--remote needs DVC: leave out --no-dvc")
        return result
    tracked, notes = _track_data(request.root, request.remote)
    return replace(result, dvc=tracked, notes=result.notes + notes)


def _track_data(root: Path, remote: str | None) -> tuple[DvcInit | None, tuple[str, ...]]:
    """Version the data with DVC when the project lives in a git repository; else say why not."""
    from mlgate import versioning

    try:
        versioning.git_toplevel(root)
    except UsageError:
        if remote is not None:
            raise
        return None, ()
    if versioning.git_ignored(root):
        if remote is not None:
            raise UsageError(
                f"{root} is ignored by git, so DVC cannot track data there",
                hint="un-ignore the directory, or leave out --remote",
            )
        return None, (f"{root} is ignored by git; data not tracked with DVC",)
    return versioning.init_dvc(root, remote, commit=False), ()


def _default_gates(task: Task, target: pd.Series) -> str:
    if task == "binary":
        return """\
gates:
  # Absolute floors on the holdout.
  - metric: roc_auc
    threshold: 0.70
  - metric: f1
    threshold: 0.30
  # No regression against the champion on the same holdout: at most 0.01 worse.
  - metric: roc_auc
    min_absolute_change: -0.01
"""
    if task == "multiclass":
        majority = float(target.value_counts(normalize=True).iloc[0])
        floor = round(min(0.99, majority + 0.5 * (1.0 - majority)), 2)
        return f"""\
gates:
  # Absolute floor: well above always predicting the majority class ({majority:.2f}).
  - metric: accuracy
    threshold: {floor}
  - metric: f1
    threshold: {round(floor * 0.8, 2)}
  # No regression against the champion on the same holdout: at most 0.02 worse.
  - metric: accuracy
    min_absolute_change: -0.02
"""
    return """\
gates:
  # Absolute floor: explain at least a fifth of the variance on the holdout.
  - metric: r2
    threshold: 0.2
  # No regression against the champion on the same holdout: RMSE at most 2% worse.
  - metric: rmse
    min_relative_change: -0.02
"""


def _config_text(
    name: str, data_path: str, target: str, drop: tuple[str, ...], task: Task, gates: str
) -> str:
    import json

    drop_line = f"  drop: {json.dumps(list(drop))}\n" if drop else ""
    estimator = (
        "sklearn.ensemble.RandomForestRegressor"
        if task == "regression"
        else "sklearn.ensemble.RandomForestClassifier"
    )
    return f"""\
# mlgate pipeline config. `mlgate config --schema` lists every key.
name: {name}
task: {task}

data:
  path: {json.dumps(data_path)}
  target: {json.dumps(target)}
{drop_line}  schema_path: schema.yaml          # commit it; regenerate with `mlgate schema infer`
  profile_path: reference/profile.json  # reference distribution for drift checks

model:
  estimator: {estimator}
  params:
    n_estimators: 100
    max_depth: 12
    min_samples_leaf: 2
    n_jobs: -1

split:
  test_size: 0.2
  seed: 42
  stratify: {"false" if task == "regression" else "true"}

{gates}
drift:
  method: auto        # KS / chi-square up to 1000 rows, Wasserstein / Jensen-Shannon above
  share: 0.5          # the data gate fails when half the features drift
"""


def infer_reference(root: Path) -> list[Path]:
    """`mlgate schema infer`: (re)write the schema and reference profile from the data."""
    from mlgate.data.io import load_table
    from mlgate.data.profile import build_profile, write_profile
    from mlgate.data.schema import infer_schema, write_schema

    project = load_project(root)
    frame = load_table(project.data_path)
    config = project.config
    schema = infer_schema(frame, target=config.data.target, drop=config.data.drop)
    write_schema(schema, project.schema_path)
    write_profile(build_profile(frame, schema), project.profile_path)
    return [project.schema_path, project.profile_path]


def _write_workflows(root: Path, force: bool) -> list[Path]:
    """The GitHub Actions pipeline (ci-cd.yml) for a project at a repository root."""
    from mlgate.ship.workflows import write_workflows

    return write_workflows(root, force=force)


def _prepare_dir(root: Path, force: bool) -> None:
    if (root / CONFIG_FILE).exists() and not force:
        raise UsageError(
            f"{root / CONFIG_FILE} already exists",
            hint="pass --force to overwrite it, or choose another directory",
        )
    root.mkdir(parents=True, exist_ok=True)


def init_demo(root: Path, *, rows: int = 12_000, seed: int = 7, force: bool = False) -> InitResult:
    """Write the demo project: churn data, config, schema and reference profile."""
    from mlgate.data import demo

    _prepare_dir(root, force)
    data = root / "data" / "churn.csv"
    frame = demo.generate(rows, seed=seed)
    with atomic.replacing(data) as tmp:
        frame.to_csv(tmp, index=False)
    config = _config_text(
        "churn",
        "data/churn.csv",
        demo.TARGET,
        (demo.ID_COLUMN,),
        "binary",
        _default_gates("binary", frame[demo.TARGET]),
    )
    files = [
        data,
        atomic.write_text(root / CONFIG_FILE, config),
        atomic.write_text(root / ".gitignore", GITIGNORE),
    ]
    files += infer_reference(root)
    files += _write_workflows(root, force)
    return InitResult(root=root, task="binary", files=tuple(files))


def init_from_data(
    root: Path,
    *,
    data: Path,
    target: str,
    name: str | None = None,
    drop: tuple[str, ...] = (),
    force: bool = False,
) -> InitResult:
    """Write a project for a team's own data: infer the task, schema, profile and gates."""
    from mlgate.data.io import load_table
    from mlgate.model.train import infer_task

    frame = load_table(data)
    if target not in frame.columns:
        raise DataError(
            f"--target {target!r} is not a column of {data} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    missing = [c for c in drop if c not in frame.columns]
    if missing:
        raise DataError(f"--drop: column(s) not in {data}: {', '.join(missing)}")
    task = infer_task(frame[target])
    _prepare_dir(root, force)
    root_abs = root.resolve()
    data_abs = data.resolve()
    if data_abs.is_relative_to(root_abs):
        rel = data_abs.relative_to(root_abs).as_posix()
        files: list[Path] = []
    else:
        dest = root / "data" / data.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data, dest)
        rel = f"data/{data.name}"
        files = [dest]
    model_name = name or root_abs.name or "model"
    safe_name = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in model_name).strip("-")
    config = _config_text(
        safe_name or "model", rel, target, drop, task, _default_gates(task, frame[target])
    )
    files += [atomic.write_text(root / CONFIG_FILE, config)]
    if not (root / ".gitignore").exists():
        files.append(atomic.write_text(root / ".gitignore", GITIGNORE))
    files += infer_reference(root)
    files += _write_workflows(root, force)
    return InitResult(root=root, task=task, files=tuple(files))
