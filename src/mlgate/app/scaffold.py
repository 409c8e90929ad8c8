"""`mlgate init`: write a ready project (config, schema, reference profile, GitHub Actions
workflows) for the demo data or for a team's own data file.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.adapters import dvc, github
from mlgate.adapters.dvc import DvcInit
from mlgate.app import codegen
from mlgate.app.config_text import choose_split, config_text, default_gates
from mlgate.app.features import init_frame
from mlgate.app.ports import DataVersioning, Workflows
from mlgate.app.schema_infer import write_reference
from mlgate.core.config import CONFIG_FILE
from mlgate.core.leakage import find_leaks
from mlgate.core.schema import ROLES, Role, Schema
from mlgate.core.vocab import Task
from mlgate.errors import DataError, UsageError
from mlgate.model.target import infer_task
from mlgate.store import atomic, demo
from mlgate.store.project import load_project
from mlgate.store.tables import load_table

if TYPE_CHECKING:
    import pandas as pd

GITIGNORE = """\
# mlgate outputs: rebuilt by every `mlgate run` and versioned by the registry (with the
# reports as artifacts of each version), not by git: committing them would only record
# the last local run.
/models/
/reports/
/metrics.json
/mlruns/
# The local release's state, logs and metrics (`mlgate deploy --target local`).
/.mlgate/
/mlflow.db
"""


@dataclass(frozen=True)
class InitResult:
    """What `init` wrote."""

    root: Path
    task: Task
    files: tuple[Path, ...]
    dvc: DvcInit | None = None
    notes: tuple[str, ...] = ()
    schema: Schema | None = None
    positive_label: object = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class InitRequest:
    """What `mlgate init` was asked for: the demo, or a team's data file and its target."""

    root: Path
    demo: bool = False
    data: Path | None = None
    target: str | None = None
    name: str | None = None
    drop: tuple[str, ...] = ()
    roles: tuple[tuple[str, Role], ...] = ()
    rows: int = 12_000
    force: bool = False
    dvc: bool = True
    remote: str | None = None
    # Scaffold the team's model code (`mlgate.app.codegen`) and train with it.
    code: bool = False
    # A Feast feature repository: `data` is then the entity file (keys, timestamps, target).
    feast: Path | None = None
    features: str | None = None
    timestamp: str = "event_timestamp"


def parse_roles(pairs: list[str]) -> tuple[tuple[str, Role], ...]:
    """`--role COLUMN=ROLE` options as (column, role) pairs; a malformed one is a UsageError."""
    out: list[tuple[str, Role]] = []
    for pair in pairs:
        column, sep, role = pair.rpartition("=")
        if not sep or not column or role not in ROLES or role == "target":
            raise UsageError(
                f"--role {pair!r}: expected COLUMN=ROLE with ROLE one of feature, id, text, "
                "ignored",
                hint="e.g. --role customer_id=id --role notes=text",
            )
        out.append((column, role))
    return tuple(out)


def init_project(
    request: InitRequest,
    *,
    versioning: DataVersioning = dvc,
    workflows: Workflows = github,
) -> InitResult:
    """`mlgate init`: write the project, then (inside a git repository, unless `dvc` is off)
    track its data with DVC. Nothing is staged or committed: the user reviews first."""
    if request.demo == (request.data is not None):
        raise UsageError("pass exactly one of --demo or --data CSV --target COLUMN")
    if request.data is not None and request.target is None:
        raise UsageError("--data needs --target COLUMN (the column to predict)")
    if request.feast is None and request.features is not None:
        raise UsageError("--features applies to --feast REPO (the feature repository)")
    package = None
    model_name = request.name or ("churn" if request.demo else request.root.resolve().name)
    if request.code:
        package = codegen.package_name(model_name or "model")
        codegen.check_free(request.root, package)
    pipeline = codegen.pipeline_ref(package) if package else None
    if request.data is not None and request.target is not None:
        data, roles, feast = request.data, dict(request.roles), None
        if request.feast is not None:  # the first frame from the store, then as any table
            _prepare_dir(request.root, request.force)
            feast = init_frame(
                request.root, request.feast, request.data, request.features, request.timestamp
            )
            data, roles = feast.frame, {**feast.roles, **roles}
        result = init_from_data(
            request.root,
            data=data,
            target=request.target,
            name=request.name,
            drop=request.drop,
            roles=roles,
            force=request.force,
            workflows=workflows,
            pipeline=pipeline,
            feast_repo=feast.repo if feast is not None else None,
        )
        if feast is not None:
            _point_at_feast(request.root, feast.config_lines)
    else:
        if request.roles:
            raise UsageError("--role applies to --data; the demo's roles are fixed")
        result = init_demo(
            request.root,
            rows=request.rows,
            force=request.force,
            workflows=workflows,
            pipeline=pipeline,
        )
    if package is not None:
        written = codegen.write_code(request.root, model_name, package, result.task)
        result = replace(result, files=(*result.files, *written))
    if request.feast is not None:  # the store versions the features; the frame is rebuilt
        note = "the data comes from the feature store (rebuilt by every run): not in DVC"
        return replace(result, notes=(*result.notes, note))
    if not request.dvc:
        if request.remote is not None:
            raise UsageError("--remote needs DVC: leave out --no-dvc")
        return result
    tracked, notes = _track_data(versioning, request.root, request.remote)
    return replace(result, dvc=tracked, notes=result.notes + notes)


def _point_at_feast(root: Path, lines: str) -> None:
    """mlgate.yaml's data section names the feature store after its `path:` line."""
    config = root / CONFIG_FILE
    text = config.read_text()
    at = text.index("\n  path: ") + 1
    end = text.index("\n", at) + 1
    atomic.write_text(config, text[:end] + lines + text[end:])
    load_project(root)  # what init wrote loads


def _track_data(
    versioning: DataVersioning, root: Path, remote: str | None
) -> tuple[DvcInit | None, tuple[str, ...]]:
    """Version the data with DVC when the project lives in a git repository; else say why not."""
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


def _prepare_dir(root: Path, force: bool) -> None:
    if (root / CONFIG_FILE).exists() and not force:
        raise UsageError(
            f"{root / CONFIG_FILE} already exists: {root} is a project already",
            hint=f"use it (`cd {root}`; `make demo` makes the demo project there), pass "
            "--force to write a new one over it (its registry and models are kept), or choose "
            "another directory",
        )
    root.mkdir(parents=True, exist_ok=True)


def init_demo(
    root: Path,
    *,
    rows: int = 12_000,
    seed: int = 7,
    force: bool = False,
    workflows: Workflows = github,
    pipeline: str | None = None,
) -> InitResult:
    """Write the demo project: churn data, config, schema and reference profile (`pipeline`:
    the team's code builds the model, `mlgate.app.codegen`)."""
    _prepare_dir(root, force)
    data = root / "data" / "churn.csv"
    frame = demo.generate(rows, seed=seed)
    with atomic.replacing(data) as tmp:
        frame.to_csv(tmp, index=False)
    config = config_text(
        "churn",
        "data/churn.csv",
        demo.TARGET,
        (),
        "binary",
        default_gates("binary"),
        positive=1,  # churned: the outcome a team wants found
        boosting=False,  # the demo keeps the forest: its bundle exports to ONNX
        pipeline=pipeline,
    )
    files = [
        data,
        atomic.write_text(root / CONFIG_FILE, config),
        atomic.write_text(root / ".gitignore", GITIGNORE),
    ]
    frame = load_table(data)
    schema, written = write_reference(load_project(root), frame)
    files += written
    files += workflows.write_workflows(root, force=force)
    return InitResult(
        root=root,
        task="binary",
        files=tuple(files),
        schema=schema,
        positive_label=1,
        warnings=tuple(leak_warnings(frame, schema, "binary")),
    )


def _check_columns(
    frame: pd.DataFrame, data: Path, target: str, drop: tuple[str, ...], roles: dict[str, Role]
) -> None:
    """The target, the dropped columns and the roles name columns of the data."""
    if target not in frame.columns:
        raise DataError(
            f"--target {target!r} is not a column of {data} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    missing = [c for c in [*drop, *roles] if c not in frame.columns]
    if missing:
        raise DataError(
            f"--drop/--role: column(s) not in {data}: {', '.join(missing)}",
            hint=f"columns: {', '.join(map(str, frame.columns))}",
        )
    bad = {c: r for c, r in roles.items() if r not in ROLES or r == "target"}
    if bad:
        col, role = next(iter(bad.items()))
        raise UsageError(
            f"--role {col}={role}: unknown role",
            hint="roles: feature, id, text, ignored (the target is --target)",
        )


def _place_data(root: Path, data: Path) -> tuple[str, list[Path]]:
    """The data's path relative to the project, copied under data/ when it lives outside."""
    data_abs = data.resolve()
    if data_abs.is_relative_to(root.resolve()):
        return data_abs.relative_to(root.resolve()).as_posix(), []
    dest = root / "data" / data.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data, dest)
    return f"data/{data.name}", [dest]


def init_from_data(
    root: Path,
    *,
    data: Path,
    target: str,
    name: str | None = None,
    drop: tuple[str, ...] = (),
    roles: dict[str, Role] | None = None,
    force: bool = False,
    workflows: Workflows = github,
    pipeline: str | None = None,
    feast_repo: str | None = None,
) -> InitResult:
    """Write a project for a team's own data: infer the task, column roles, schema, profile,
    positive class and gates; warn about leaks and rows without a target (`feast_repo`: the
    data is a frame from that feature repository, which the workflows apply)."""
    frame = load_table(data)
    _check_columns(frame, data, target, drop, roles or {})
    y = frame[target]
    task = infer_task(y)
    labelled = y.dropna()
    positive = _minority(labelled) if task == "binary" else None
    _prepare_dir(root, force)
    root_abs = root.resolve()
    rel, files = _place_data(root, data)
    model_name = name or root_abs.name or "model"
    safe_name = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in model_name).strip("-")
    split = choose_split(len(labelled))
    missing = missing_target_cap(len(y) - len(labelled), len(y))
    # Stratifying needs two rows of every class; a class seen once makes that split fail.
    stratify = task == "regression" or int(labelled.value_counts().min()) >= 2
    config = config_text(
        safe_name or "model",
        rel,
        target,
        drop,
        task,
        default_gates(task),
        positive,
        split=split,
        stratify=stratify,
        pipeline=pipeline,
        max_missing_target=missing,
    )
    files += [atomic.write_text(root / CONFIG_FILE, config)]
    if not (root / ".gitignore").exists():
        files.append(atomic.write_text(root / ".gitignore", GITIGNORE))
    schema, written = write_reference(load_project(root), frame, roles)
    files += written
    files += workflows.write_workflows(root, force=force, feast_repo=feast_repo)
    notes = [n for n in (split.note,) if n]
    if not stratify:
        notes.append(
            "split.stratify: false: a class has a single row, which no stratified "
            "split can place on both sides"
        )
    dropped = len(y) - len(labelled)
    if dropped:
        notes.append(
            f"{dropped} of {len(y)} rows ({dropped / len(y):.1%}) have no {target!r}: training "
            f"drops them (data.max_missing_target caps the share: {missing:g}"
            + (", raised from 0.5 so that this data passes" if missing > 0.5 else "")
            + ")"
        )
    return InitResult(
        root=root,
        task=task,
        files=tuple(files),
        notes=tuple(notes),
        schema=schema,
        positive_label=positive,
        warnings=(
            *(w for w in (split.warning,) if w),
            *leak_warnings(frame, schema, task),
        ),
    )


def missing_target_cap(missing: int, rows: int) -> float:
    """`data.max_missing_target` for a new project: 0.5, or, when more of this data lacks a
    target, its share rounded up past a 0.05 margin, so that init's own first run passes and
    a further rise still fails the data gate."""
    share = missing / rows if rows else 0.0
    if share <= 0.45:
        return 0.5
    return min(1.0, math.ceil((share + 0.05) * 20) / 20)


def _minority(y: pd.Series) -> object:
    """The rarer class (ties: the last in text order): the default positive class."""
    counts = y.value_counts()
    label = min(sorted(counts.index.tolist(), key=str), key=lambda c: int(counts[c]))
    return label.item() if hasattr(label, "item") else label


def leak_warnings(frame: pd.DataFrame, schema: Schema, task: Task) -> list[str]:
    """Leakage warnings for every non-target column of the schema."""
    target = schema.target
    if target is None:
        return []
    columns = [c for c in schema.columns if c.role != "target"]
    return find_leaks(frame, target.name, columns, classify=task != "regression")
