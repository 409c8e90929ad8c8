"""Predictor runtimes behind one small protocol: scikit-learn and ONNX Runtime.

Both take a validated `Batch` and return predictions (and class probabilities), so the server,
the micro-batcher and the tests treat them alike. Both run single-threaded: the server scales by
processes (uvicorn workers), and threads inside one prediction only fight them for cores.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mlgate.core.schema import ColumnSpec
from mlgate.errors import UsageError
from mlgate.serve.settings import Runtime
from mlgate.serve.validate import FLOAT32_MAX, Batch
from mlgate.store.bundle import ONNX_FILE, Bundle

if TYPE_CHECKING:
    import numpy as np

    from mlgate.model.onnx import NumericStep

# Deferred imports: each runtime's libraries load with a bundle that uses it: onnxruntime for ONNX,
# scikit-learn and pandas for the scikit-learn runtime (the serving image may lack pandas); the
# parent process imports neither.

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Output:
    """Predictions for a batch: one label or value per row, probabilities in `classes` order."""

    predictions: np.ndarray
    probabilities: np.ndarray | None

    def slice(self, start: int, stop: int) -> Output:
        """The rows [start, stop) of this output (one request's share of a micro-batch)."""
        proba = None if self.probabilities is None else self.probabilities[start:stop]
        return Output(self.predictions[start:stop], proba)


class Predictor(Protocol):
    """What the server needs from a runtime."""

    name: str

    def predict(self, batch: Batch, probabilities: bool) -> Output:
        """Predict every row of `batch`; probabilities only for classifiers, when asked."""
        ...


def concat(batches: list[Batch]) -> Batch:
    """One batch holding the rows of several, in order."""
    import numpy as np

    if len(batches) == 1:
        return batches[0]
    names = batches[0].columns.keys()
    raw: list[Any] = []
    for b in batches:
        raw.extend(b.raw)
    rows = sum(b.rows for b in batches)
    if all(b.matrix is not None for b in batches):
        matrix = np.concatenate([b.matrix for b in batches if b.matrix is not None])
        columns = {n: matrix[:, j] for j, n in enumerate(names)}
        return Batch(columns=columns, rows=rows, raw=raw, matrix=matrix)
    columns = {n: np.concatenate([b.columns[n] for b in batches]) for n in names}
    return Batch(columns=columns, rows=rows, raw=raw)


class SklearnPredictor:
    """The fitted Pipeline, fed through `to_frame` exactly as at training."""

    name = "sklearn"

    def __init__(self, bundle: Bundle) -> None:
        if bundle.onnx_only:
            raise UsageError(
                f"model bundle {bundle.path} was trained by model.command: it holds only "
                "model.onnx, which scikit-learn cannot run",
                hint="serve it with --runtime onnx (or auto, the default)",
            )
        self.features = bundle.schema.features
        self.model = bundle.load_model()
        final = self.model.steps[-1][1] if hasattr(self.model, "steps") else self.model
        if "n_jobs" in final.get_params(deep=False):
            final.set_params(n_jobs=1)
        self.classifier = hasattr(self.model, "predict_proba") and bundle.meta.task != "regression"
        from mlgate.serve.forest import direct_forest

        # Numeric features, impute/scale, a forest: the same numbers without the Pipeline's
        # per-call overhead (see mlgate.serve.forest).
        self.direct = direct_forest(self.model, self.features)

    def predict(self, batch: Batch, probabilities: bool) -> Output:
        """Predict with scikit-learn."""
        if self.direct is not None and batch.matrix is not None:
            done = self.direct.predict(batch.matrix)
            if done is not None:
                pred, proba = done
                return Output(pred, proba if probabilities and self.classifier else None)
        import pandas as pd

        from mlgate.model.features import to_frame

        frame = to_frame(pd.DataFrame(batch.columns), self.features)
        pred = self.model.predict(frame)
        if getattr(pred, "ndim", 1) == 2 and pred.shape[1] == 1:  # CatBoost's multiclass labels
            pred = pred.reshape(-1)
        proba = self.model.predict_proba(frame) if probabilities and self.classifier else None
        return Output(pred, proba)


class OnnxPredictor:
    """The bundle's model.onnx on ONNX Runtime (`mlgate.model.onnxmodel`), one thread; mlgate's
    own export gets the float64 numeric prelude, a `model.command` graph its checked layout."""

    name = "onnx"

    def __init__(self, bundle: Bundle) -> None:
        from mlgate.model.onnxmodel import onnx_model

        if bundle.onnx_path is None:
            raise UsageError(
                f"model bundle {bundle.path} has no model.onnx",
                hint="serve it with --runtime sklearn, or retrain to export ONNX",
            )
        meta = bundle.meta
        self.model = onnx_model(
            bundle.read(ONNX_FILE),
            bundle.schema.features,
            meta.task,
            meta.classes,
            exported=not bundle.onnx_only,
            where=str(bundle.path / ONNX_FILE),
        )
        self.features = bundle.schema.features
        self.classifier = meta.task != "regression"
        self.layout = self.model.layout
        # Graph inputs in feature order (skl2onnx rewrites names that are not identifiers).
        self.inputs = list(self.model.signature.inputs)
        self._vectors = prelude_vectors(self.features, self.model.prelude)

    def _matrix_feed(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        """The numeric prelude over the whole (rows, features) matrix, one column per input
        (one float tensor for a command's graph that takes one)."""
        import numpy as np

        if self.layout == "tensor":
            return {self.inputs[0]: matrix.astype(self.model.signature.dtypes[0])}
        fill, mean, scale = self._vectors
        x = np.where(np.isnan(matrix), fill, matrix)
        x -= mean
        x /= scale
        np.clip(x, -FLOAT32_MAX, FLOAT32_MAX, out=x)
        # Transposed and contiguous: each input is then a view ONNX Runtime takes without a copy.
        cols = np.ascontiguousarray(x.T, dtype=np.float32)
        return {name: cols[j].reshape(-1, 1) for j, name in enumerate(self.inputs)}

    def predict(self, batch: Batch, probabilities: bool) -> Output:
        """Predict with ONNX Runtime."""
        if batch.matrix is not None and self.layout != "named":
            feed = self._matrix_feed(batch.matrix)
        else:
            feed = self.model.feed(batch.columns)
        pred, proba = self.model.run_feed(feed, probabilities and self.classifier)
        return Output(pred, proba)


def prelude_vectors(
    features: tuple[ColumnSpec, ...], prelude: dict[str, NumericStep]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill, mean and scale per feature; a missing step is NaN fill, 0 mean, 1 scale.

    Subtracting 0.0 and dividing by 1.0 are exact in IEEE arithmetic, so columns without a
    step come out unchanged and the vectorised prelude equals the per-column one bit for bit.
    """
    import numpy as np

    fill, mean, scale = [], [], []
    for f in features:
        step = prelude.get(f.name)
        fill.append(math.nan if step is None or step.fill is None else step.fill)
        mean.append(0.0 if step is None or step.mean is None else step.mean)
        scale.append(1.0 if step is None or step.scale is None else step.scale)
    return np.array(fill), np.array(mean), np.array(scale)


def load_predictor(bundle: Bundle, runtime: Runtime) -> Predictor:
    """The runtime asked for; `auto` is ONNX Runtime when the bundle kept a model.onnx."""
    if runtime == "onnx" or (runtime == "auto" and bundle.onnx_path is not None):
        try:
            return OnnxPredictor(bundle)
        except ImportError:
            if runtime == "onnx" or bundle.onnx_only:
                raise UsageError(
                    "onnxruntime is not installed", hint="pip install 'mlgate[onnx]'"
                ) from None
            log.warning("onnxruntime is not installed; serving with scikit-learn")
    return SklearnPredictor(bundle)
