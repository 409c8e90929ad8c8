"""`model.command`: the team's own training (PyTorch, TensorFlow, anything) through ONNX.

mlgate splits the data as for any model and writes only the training rows (the feature columns
and the target) to a Parquet file in a temporary directory; the command runs without a shell in
the project directory, its output streamed to stderr, and writes `model.onnx` into an empty
temporary directory. That graph is checked (`mlgate.model.onnxmodel`) and evaluated by mlgate on
the holdout the command never saw; whatever the command says of its own quality is ignored. The
bundle is an MLflow Model of the onnx flavor: no model.skops, served by ONNX Runtime.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from mlgate.app.bundlefiles import bundle_schema, common_lineage, write_records
from mlgate.core.ci import NO_CI, CiEnv
from mlgate.core.command import expand
from mlgate.core.config import Project
from mlgate.core.records.lineage import CommandRecord
from mlgate.core.schema import Schema
from mlgate.errors import ConfigError
from mlgate.model.onnxmodel import OnnxModel, check_outputs, onnx_model
from mlgate.model.target import labelled_rows, positive_class
from mlgate.model.train import Fitted, feature_specs, predict_all, resolve_task, split_data
from mlgate.store import bundle as bundle_mod
from mlgate.store.tables import fingerprint
from mlgate.store.trust import project_trust

if TYPE_CHECKING:
    import pandas as pd

WHERE = "model.command: the model.onnx it wrote"
TRAIN_FILE = "train.parquet"


@dataclass(frozen=True)
class CommandTrained:
    """The bundle a command's model became, and the fit it stands for."""

    bundle_dir: Path
    meta: bundle_mod.BundleMeta
    fitted: Fitted


def train_by_command(
    project: Project, schema: Schema, frame: pd.DataFrame, *, ci: CiEnv = NO_CI
) -> CommandTrained:
    """Run `model.command` on the training rows, check and evaluate its model.onnx, bundle it."""
    config = project.config
    features = feature_specs(config, schema, frame)
    labelled, dropped = labelled_rows(config, frame)
    task = resolve_task(config, labelled[config.data.target])
    split = split_data(config, task, labelled, features)
    positive = positive_class(config, task, split.y_train)
    classes = None if task == "regression" else _labels(split.y_train)
    data, status = run_command(project, split.x_train, split.y_train)
    model = onnx_model(data, features, task, classes, where=WHERE)
    pred, proba = predict_all(model, split.x_test)
    check_outputs(model, pred, proba, len(split.x_test), WHERE)
    notes = [f"trained by model.command; mlgate evaluated its model.onnx on {len(pred)} rows"]
    if dropped:
        notes.append(f"{dropped} of {len(frame)} rows have no {config.data.target!r}: dropped")
    fitted = Fitted(task, features, split, model, pred, proba, positive, dropped, tuple(notes))
    record = CommandRecord(
        command=config.model.command or "",
        exit_status=status,
        onnx_digest="sha256:" + hashlib.sha256(data).hexdigest(),
        layout="tensor" if model.layout == "tensor" else "named",
    )
    meta = describe_command(project, fitted, record, frame, ci)
    write_onnx_bundle(project, schema, fitted, meta, data)
    return CommandTrained(project.bundle_dir, meta, fitted)


def _labels(y: pd.Series) -> tuple[Any, ...]:
    """The target's classes as scikit-learn orders them (sorted, as `np.unique` gives)."""
    return tuple(c.item() if hasattr(c, "item") else c for c in np.unique(y.to_numpy()))


def _pump(source: IO[bytes], sink: IO[str]) -> None:
    for line in iter(source.readline, b""):
        sink.write(line.decode("utf-8", errors="replace"))
        sink.flush()


def run_command(project: Project, x_train: pd.DataFrame, y_train: pd.Series) -> tuple[bytes, int]:
    """The bytes of the model.onnx `model.command` wrote from the training rows, and its exit
    status; a ConfigError (exit 2) when it cannot start, fails, overruns or writes none."""
    model = project.config.model
    command = model.command or ""
    with tempfile.TemporaryDirectory(prefix="mlgate-command-") as tmp:
        rows = x_train.copy()
        rows[project.config.data.target] = y_train
        train_path, out = Path(tmp) / TRAIN_FILE, Path(tmp) / "out"
        rows.to_parquet(train_path, index=False)
        out.mkdir()
        values = {"train": str(train_path), "target": project.config.data.target, "out": str(out)}
        argv = expand(command, values)
        status, timed_out = _run(argv, project.root, model.command_timeout)
        data = _written(command, status, out, model.command_timeout, timed_out=timed_out)
        return data, status


def _run(argv: list[str], cwd: Path, timeout: float) -> tuple[int, bool]:
    """Run `argv` in `cwd`, its output streamed to stderr: its exit status, and whether it was
    stopped for running past `timeout` seconds (with every process it started)."""
    try:
        # No shell: each placeholder is exactly one argument, whatever its path holds. A
        # session of its own, so that stopping it stops what it started too.
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise ConfigError(
            f"model.command: cannot start {argv[0]!r}: {exc.strerror or exc}",
            hint="fix model.command in mlgate.yaml (it runs in the project directory)",
        ) from None
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, stop)
    with proc:
        timer.start()
        try:
            assert proc.stdout is not None
            _pump(proc.stdout, sys.stderr)
            status = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                stop()
                proc.wait()
    return status, stopped.is_set()


def _written(command: str, status: int, out: Path, timeout: float, *, timed_out: bool) -> bytes:
    """The model.onnx in `out`, once the command exited 0."""
    if status != 0:
        why = (
            f"ran past model.command_timeout={timeout:g}s and was stopped"
            if timed_out
            else f"exited with status {status}"
        )
        raise ConfigError(
            f"model.command {command!r} {why}; no model was trained",
            hint="its output is above; run the command by hand in the project directory",
        )
    onnx = out / bundle_mod.ONNX_FILE
    if not onnx.is_file():
        found = sorted(p.name for p in out.iterdir())
        raise ConfigError(
            f"model.command {command!r} exited 0 but wrote no model.onnx into {{out}} "
            f"(it wrote: {', '.join(found) or 'nothing'})",
            hint="save the model as {out}/model.onnx (torch.onnx.export, tf2onnx, skl2onnx)",
        )
    return onnx.read_bytes()


def describe_command(
    project: Project, fitted: Fitted, record: CommandRecord, frame: pd.DataFrame, ci: CiEnv
) -> bundle_mod.BundleMeta:
    """The lineage of a command's model: metrics mlgate computed, the command that made it."""
    model = fitted.model
    classes = None if model.classes_ is None else tuple(model.classes_.tolist())
    common = common_lineage(
        project,
        fitted,
        classes,
        data_fingerprint=fingerprint(project.data_path),
        rows=len(frame),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ci=ci,
    )
    return bundle_mod.BundleMeta(
        **common,
        estimator="model.command",  # the command itself: `command` below
        params={},
        runtimes=("onnx",),
        command=record,
    )


def write_onnx_bundle(
    project: Project, schema: Schema, fitted: Fitted, meta: bundle_mod.BundleMeta, data: bytes
) -> None:
    """The bundle of a command's model: MLflow onnx flavor, lineage, schema, profile, reference."""
    # MLflow is the heaviest import of the pipeline: only a run that trains pays for it.
    from mlgate.adapters.mlflow.flavor import save_onnx

    split = fitted.split
    example = split.x_train.head(5)
    model: OnnxModel = fitted.model
    libraries = meta.libraries
    with bundle_mod.staging(project.bundle_dir, project_trust(project)) as tmp:
        save_onnx(
            data,
            tmp,
            input_example=example,
            example_predictions=model.predict(example),
            pip_requirements=[
                f"{d}=={libraries[d]}" for d in ("onnxruntime", "numpy", "pandas") if d in libraries
            ],
        )
        write_records(tmp, meta, bundle_schema(schema, fitted.features), fitted)
