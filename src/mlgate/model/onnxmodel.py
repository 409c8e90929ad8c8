"""A model.onnx on ONNX Runtime as a model: predictions (and class probabilities) for a frame or
for validated columns. The gate, the champion comparison and the server all predict through it.

Two kinds of graph reach it:
- mlgate's own export of a fitted Pipeline (`mlgate.model.onnx`): one input per feature,
  matched by position (skl2onnx rewrites names), with the float64 numeric prelude;
- a graph the team's own command wrote (`model.command`), checked here before anything trusts
  it: its inputs are either the feature columns by name (numbers as float or double tensors,
  categories as string tensors, missing categories as "") or one float tensor [N, n_features]
  in schema order (numeric features only); its outputs are the label and, for classifiers,
  the probabilities as an [N, n_classes] tensor in sorted class order (not skl2onnx's ZipMap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mlgate.core.schema import ColumnSpec
from mlgate.core.vocab import Task
from mlgate.errors import DataError
from mlgate.model.onnx import NumericStep, onnx_feed, read_prelude

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Deferred imports: onnxruntime and NumPy load with the first model; the server imports this
# module without pandas, which only the frame methods need (they get frames from callers).

Layout = Literal["named", "tensor", "positional"]
FLOATS = ("tensor(float)", "tensor(double)")
_NUMPY = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(string)": "object"}
LABEL_NAMES = ("label", "output_label", "predictions", "prediction")
PROBA_NAMES = ("probabilities", "output_probability", "probability", "proba")


def new_session(data: bytes) -> Any:
    """An ONNX Runtime session over `data`, one thread, CPU: the server scales by processes.

    From bytes, never a path: what runs is what was checked, and a graph cannot pull in
    external data files from beside it.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class Signature:
    """How to feed a graph and read it: its inputs in feed order, their numpy types and ranks,
    and the names of the label and probability outputs."""

    layout: Layout
    inputs: tuple[str, ...]
    dtypes: tuple[str, ...]
    ranks: tuple[int, ...]
    label: str
    probabilities: str | None


def _pick(outputs: Sequence[Any], names: Sequence[str], position: int) -> Any | None:
    for out in outputs:
        if out.name.lower() in names:
            return out
    return outputs[position] if len(outputs) > position else None


def _inputs(session: Any, features: Sequence[ColumnSpec], where: str) -> tuple[Layout, list[Any]]:
    """The input layout of a command's graph, or a DataError naming what does not fit."""
    graph = session.get_inputs()
    names = [f.name for f in features]
    by_name = {i.name: i for i in graph}
    if set(by_name) == set(names):
        wrong = [
            f"{f.name} ({by_name[f.name].type}; want "
            + ("tensor(string)" if f.kind in ("categorical", "datetime") else "a float tensor")
            + ")"
            for f in features
            if (by_name[f.name].type == "tensor(string)") != (f.kind in ("categorical", "datetime"))
            or by_name[f.name].type not in (*FLOATS, "tensor(string)")
        ]
        if wrong:
            raise DataError(f"{where}: input(s) of the wrong type: {', '.join(wrong)}")
        return "named", [by_name[n] for n in names]
    if len(graph) == 1 and graph[0].type in FLOATS and len(graph[0].shape) == 2:
        text = [f.name for f in features if f.kind in ("categorical", "datetime")]
        if text:
            raise DataError(
                f"{where}: one float tensor cannot carry the non-numeric feature(s) "
                f"{', '.join(text)}",
                hint="name the graph's inputs after the feature columns (string inputs take "
                "categories), or give those columns role ignored in schema.yaml",
            )
        width = graph[0].shape[1]
        if isinstance(width, int) and width != len(names):
            raise DataError(
                f"{where}: input {graph[0].name!r} has {width} columns; the data has "
                f"{len(names)} features ({', '.join(names)})"
            )
        return "tensor", list(graph)
    missing = [n for n in names if n not in by_name]
    extra = [n for n in by_name if n not in names]
    raise DataError(
        f"{where}: its inputs are neither the feature columns by name nor one float tensor "
        f"[N, {len(names)}]: missing input(s) {', '.join(missing) or '-'}; unexpected "
        f"{', '.join(extra) or '-'}",
        hint=f"name the inputs {', '.join(names)}, or take one float tensor in that order",
    )


def _outputs(session: Any, task: Task, classes: Any, where: str) -> tuple[str, str | None]:
    outputs = session.get_outputs()
    label = _pick(outputs, LABEL_NAMES, 0)
    if label is None:
        raise DataError(f"{where}: the graph has no outputs")
    if task == "regression":
        if label.type not in FLOATS:
            raise DataError(f"{where}: output {label.name!r} is {label.type}, not a float tensor")
        return label.name, None
    want_text = any(isinstance(c, str) for c in classes or ())
    if (label.type == "tensor(string)") != want_text or not label.type.startswith("tensor("):
        kind = "strings" if want_text else "numbers"
        raise DataError(
            f"{where}: label output {label.name!r} is {label.type}; the target's classes are "
            f"{kind} ({', '.join(map(repr, classes or ()))})"
        )
    rest = [o for o in outputs if o.name != label.name]
    proba = _pick(rest, PROBA_NAMES, 0)
    if proba is None or proba.type not in FLOATS:
        found = "no second output" if proba is None else f"{proba.name!r} is {proba.type}"
        raise DataError(
            f"{where}: a classifier must output probabilities as a float tensor [N, "
            f"{len(classes or ())}] ({found})",
            hint="skl2onnx: options={'zipmap': False}; torch: return softmax(logits)",
        )
    return label.name, proba.name


def signature_of(
    session: Any, features: Sequence[ColumnSpec], task: Task, classes: Any, where: str
) -> Signature:
    """Check a command's graph against the data (inputs, outputs, the label's type)."""
    layout, inputs = _inputs(session, features, where)
    label, proba = _outputs(session, task, classes, where)
    return Signature(
        layout=layout,
        inputs=tuple(i.name for i in inputs),
        dtypes=tuple(_NUMPY[i.type] for i in inputs),
        ranks=tuple(len(i.shape) if i.shape else 2 for i in inputs),
        label=label,
        probabilities=proba,
    )


def exported_signature(session: Any, task: Task) -> Signature:
    """mlgate's own export: inputs in feature order, label then probabilities."""
    inputs = session.get_inputs()
    outputs = [o.name for o in session.get_outputs()]
    return Signature(
        layout="positional",
        inputs=tuple(i.name for i in inputs),
        dtypes=tuple(_NUMPY.get(i.type, "float32") for i in inputs),
        ranks=tuple(2 for _ in inputs),
        label=outputs[0],
        probabilities=outputs[1] if task != "regression" and len(outputs) > 1 else None,
    )


def frame_columns(x: pd.DataFrame, features: Sequence[ColumnSpec]) -> dict[str, np.ndarray]:
    """A `to_frame` frame as validated columns: float64 numbers (NaN), objects (None)."""
    import numpy as np
    import pandas as pd

    columns: dict[str, np.ndarray] = {}
    for f in features:
        if f.kind in ("categorical", "datetime"):
            col = x[f.name].to_numpy(dtype=object).copy()
            col[pd.isna(col)] = None
        else:
            col = x[f.name].to_numpy(dtype=np.float64)
        columns[f.name] = col
    return columns


class OnnxModel:
    """A model.onnx with the scikit-learn face the gate uses (`predict`, `classes_`) and the
    column face the server uses (`run`)."""

    def __init__(
        self,
        session: Any,
        features: Sequence[ColumnSpec],
        task: Task,
        classes: Any,
        signature: Signature,
        prelude: dict[str, NumericStep],
        missing: str,
    ) -> None:
        import numpy as np

        self.session = session
        self.features = tuple(features)
        self.task = task
        self.prelude = prelude
        self.missing = missing
        self.signature = signature
        self.classes_ = None if classes is None else np.asarray(list(classes), dtype=object)

    @property
    def layout(self) -> Layout:
        """How the graph takes its inputs."""
        return self.signature.layout

    def feed(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph's inputs from validated columns (float64 with NaN, objects with None)."""
        import numpy as np

        sig = self.signature
        if sig.layout == "positional":
            return onnx_feed(dict(columns), self.features, self.prelude, self.missing, sig.inputs)
        if sig.layout == "tensor":
            matrix = np.column_stack([columns[f.name] for f in self.features])
            return {sig.inputs[0]: matrix.astype(sig.dtypes[0])}
        feed: dict[str, np.ndarray] = {}
        for name, dtype, rank in zip(sig.inputs, sig.dtypes, sig.ranks, strict=True):
            col = np.asarray(columns[name])
            if dtype == "object":
                col = np.array(["" if v is None else str(v) for v in col], dtype=object)
            else:
                col = col.astype(dtype)
            feed[name] = col.reshape(-1) if rank == 1 else col.reshape(-1, 1)
        return feed

    def run_feed(
        self, feed: Mapping[str, np.ndarray], probabilities: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels (or values) and, for classifiers when asked, float64 probabilities."""
        import numpy as np

        sig = self.signature
        want = probabilities and sig.probabilities is not None
        names = [sig.label, sig.probabilities] if want else [sig.label]
        result = self.session.run(names, dict(feed))
        if self.task == "regression":
            return np.asarray(result[0], dtype=np.float64).reshape(-1), None
        proba = np.asarray(result[1], dtype=np.float64) if want else None
        if proba is not None and sig.layout != "positional" and proba.ndim == 2:
            # A graph's float32 rows sum to 1 only within rounding; metrics want them exact.
            total = proba.sum(axis=1, keepdims=True)
            proba = np.divide(proba, total, out=proba, where=total > 0)
        return np.asarray(result[0]).reshape(-1), proba

    def run(
        self, columns: Mapping[str, np.ndarray], probabilities: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predict validated columns."""
        return self.run_feed(self.feed(columns), probabilities)

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Predictions for a `to_frame` frame."""
        return self.run(frame_columns(x, self.features), False)[0]


class OnnxClassifier(OnnxModel):
    """An ONNX classifier: `predict_proba` too, columns in `classes_` order."""

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        """Class probabilities for a `to_frame` frame."""
        proba = self.run(frame_columns(x, self.features), True)[1]
        assert proba is not None  # a classifier's signature always has probabilities
        return proba


def onnx_model(
    data: bytes,
    features: Sequence[ColumnSpec],
    task: Task,
    classes: Any = None,
    *,
    exported: bool = False,
    where: str = "model.onnx",
) -> OnnxModel:
    """The model of the graph `data` for `task`: an OnnxClassifier for classification, else an
    OnnxModel; its signature read as mlgate exports it (`exported`), or checked against the
    data."""
    session = new_session(data)
    prelude: dict[str, NumericStep] = {}
    missing = ""
    if exported:
        meta = dict(session.get_modelmeta().custom_metadata_map)
        prelude, missing = read_prelude(meta)
        signature = exported_signature(session, task)
    else:
        signature = signature_of(session, features, task, classes, where)
    cls = OnnxModel if task == "regression" else OnnxClassifier
    return cls(session, features, task, classes, signature, prelude, missing)


def check_outputs(
    model: OnnxModel, pred: np.ndarray, proba: np.ndarray | None, rows: int, where: str
) -> None:
    """What the graph answered on `rows` rows fits the task: one label each, known classes,
    probabilities [rows, n_classes]; else a DataError saying what it answered."""
    import numpy as np

    if pred.shape[0] != rows:
        raise DataError(f"{where}: {pred.shape[0]} predictions for {rows} rows")
    if model.classes_ is None:
        bad = int((~np.isfinite(pred)).sum())
        if bad:
            raise DataError(
                f"{where}: it predicts NaN or infinity for {bad} of {rows} holdout rows",
                hint="missing numbers reach the graph as NaN: impute them inside the model",
            )
        return
    classes = model.classes_.tolist()
    unknown = sorted({p for p in pred.tolist() if p not in classes}, key=str)
    if unknown:
        raise DataError(
            f"{where}: it predicts label(s) {', '.join(map(repr, unknown[:5]))}, not classes of "
            f"the target ({', '.join(map(repr, classes))})"
        )
    if proba is None or proba.shape != (rows, len(classes)):
        shape = None if proba is None else proba.shape
        raise DataError(
            f"{where}: probabilities have shape {shape}, want ({rows}, {len(classes)}): one "
            "column per class, in sorted class order"
        )
    bad = int((~np.isfinite(proba)).any(axis=1).sum())
    if bad:
        raise DataError(
            f"{where}: its probabilities are NaN or infinite for {bad} of {rows} holdout rows",
            hint="missing numbers reach the graph as NaN: impute them inside the model",
        )
