"""ONNX export of a fitted Pipeline, kept only when it predicts what scikit-learn predicts.

Two details make the exported graph agree with scikit-learn exactly rather than approximately:

- Numeric preprocessing (median/mean imputation, standard scaling) is *not* put in the graph.
  ONNX Runtime computes it in float32, scikit-learn in float64 before its trees cast to float32;
  trees fitted on discrete-valued columns have thresholds equal to data values, so a one-ulp
  difference flips splits (measured on the demo: 222 of 3000 rows off by up to 0.03). Instead the
  imputation constants and scaler parameters are stored in the model's metadata ("prelude") and
  the server applies them in float64 numpy, in scikit-learn's order of operations, then casts.
- skl2onnx imputes strings only when the missing marker is a string, while the Pipeline marks
  missing categories with NaN. The exported copy uses a sentinel string instead; the server feeds
  the sentinel for a missing category.
- Categories are open: the Pipeline's encoder sends unseen values to the infrequent column, or
  to all zeros when no category was rare. Only the second has an ONNX form (`onnx_blocker`
  refuses the first), and the exported copy says it as `handle_unknown="ignore"`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.core.schema import ColumnSpec
from mlgate.core.vocab import Task
from mlgate.model.onnx_boost import final_step
from mlgate.model.onnx_boost import register as register_boosting

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Deferred imports: skl2onnx and onnxruntime are the onnx extra, loaded only to export (a missing
# one skips the export, logged); NumPy, pandas and scikit-learn load on first use because the model
# server imports this module for the ONNX feature layout, without pandas (the train extra).

log = logging.getLogger(__name__)

MISSING_CATEGORY = "\x00mlgate:missing"
PRELUDE_KEY = "mlgate.prelude"
MISSING_KEY = "mlgate.missing_category"

# Probabilities: float32 accumulation over a forest of a few hundred trees errs by ~1e-6;
# 1e-4 is far above that and far below any real disagreement (one flipped tree in 100 moves a
# probability by >= 0.005). Regression: float32 holds ~7 significant digits, so 1e-4 relative to
# the prediction's magnitude (or its spread, for values near zero) is a loose bound on rounding.
PROBA_ATOL = 1e-4
REGRESSION_RTOL = 1e-4
_F32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class NumericStep:
    """Float64 preprocessing of one numeric input, applied before the ONNX graph."""

    fill: float | None
    mean: float | None
    scale: float | None


def _numeric_prelude(model: Any) -> tuple[Any, dict[str, NumericStep]]:
    """A copy of `model` with numeric impute/scale sub-pipelines replaced by passthrough."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    clone = copy.deepcopy(model)
    prelude: dict[str, NumericStep] = {}
    pre = clone.steps[0][1] if isinstance(clone, Pipeline) else None
    if not isinstance(pre, ColumnTransformer):
        return clone, prelude
    for i, (name, trans, cols) in enumerate(pre.transformers_):
        steps = trans.steps if isinstance(trans, Pipeline) else None
        if steps is None:
            continue
        for _, step in steps:
            if isinstance(step, SimpleImputer) and step.statistics_.dtype == object:
                step.missing_values = MISSING_CATEGORY
            if isinstance(step, OneHotEncoder) and step.handle_unknown == "infrequent_if_exist":
                # Without infrequent categories (onnx_blocker refuses those) an unseen value
                # is all zeros either way; skl2onnx emits that only for "ignore".
                step.handle_unknown = "ignore"
        numeric = all(
            (isinstance(s, SimpleImputer) and s.statistics_.dtype != object)
            or isinstance(s, StandardScaler)
            for _, s in steps
        )
        if not numeric or not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
            continue
        if any(
            isinstance(s, SimpleImputer)
            and not (isinstance(s.missing_values, float) and math.isnan(s.missing_values))
            for _, s in steps
        ):
            continue
        per_col: dict[str, dict[str, float | None]] = {c: {} for c in cols}
        ok = True
        for _, s in steps:
            for j, c in enumerate(cols):
                if isinstance(s, SimpleImputer):
                    if per_col[c] or s.add_indicator:
                        ok = False  # imputation after scaling, or extra indicator columns
                    per_col[c]["fill"] = float(s.statistics_[j])
                else:
                    per_col[c]["mean"] = float(s.mean_[j]) if s.with_mean else None
                    per_col[c]["scale"] = float(s.scale_[j]) if s.with_std else None
        if not ok:
            continue
        for c in cols:
            prelude[c] = NumericStep(
                per_col[c].get("fill"), per_col[c].get("mean"), per_col[c].get("scale")
            )
        pre.transformers_[i] = (name, "passthrough", cols)
    return clone, prelude


def _is_none(value: object) -> bool:
    return value is None


def apply_prelude(values: np.ndarray, step: NumericStep | None) -> np.ndarray:
    """Impute and scale one float64 column as scikit-learn does, then cast to float32."""
    import numpy as np

    x = values
    if step is not None:
        if step.fill is not None:
            x = np.where(np.isnan(x), step.fill, x)
        if step.mean is not None:
            x = x - step.mean
        if step.scale is not None:
            x = x / step.scale
        # Scaling can push a value that fits float32 beyond it; clip as the largest value.
        x = np.clip(x, -_F32_MAX, _F32_MAX)
    return np.asarray(x, dtype=np.float32).reshape(-1, 1)


def read_prelude(metadata: dict[str, str]) -> tuple[dict[str, NumericStep], str]:
    """The numeric prelude and the missing-category sentinel stored in an exported model."""
    raw = json.loads(metadata.get(PRELUDE_KEY, "{}"))
    prelude = {name: NumericStep(**step) for name, step in raw.items()}
    return prelude, metadata.get(MISSING_KEY, MISSING_CATEGORY)


def onnx_feed(
    columns: dict[str, np.ndarray],
    features: Sequence[ColumnSpec],
    prelude: dict[str, NumericStep],
    missing: str,
    input_names: Sequence[str],
) -> dict[str, np.ndarray]:
    """ONNX inputs from validated columns: float64 numbers (NaN = missing), objects (None).

    `input_names` are the graph's inputs in feature order: skl2onnx rewrites feature names
    that are not identifiers (`od280/od315`, `mean radius`), so they are matched by position.
    """
    import numpy as np

    feed: dict[str, np.ndarray] = {}
    for spec, input_name in zip(features, input_names, strict=True):
        col = columns[spec.name]
        if spec.kind == "categorical":
            arr = np.asarray(col, dtype=object)
            gaps = np.frompyfunc(_is_none, 1, 1)(arr).astype(bool)
            if gaps.any():
                arr = arr.copy()
                arr[gaps] = missing
            feed[input_name] = arr.reshape(-1, 1)
        else:
            feed[input_name] = apply_prelude(
                np.asarray(col, dtype=np.float64), prelude.get(spec.name)
            )
    return feed


def _convert(model: Any, features: Sequence[ColumnSpec], task: Task) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    clone, prelude = _numeric_prelude(model)
    types = [
        (
            f.name,
            StringTensorType([None, 1]) if f.kind == "categorical" else FloatTensorType([None, 1]),
        )
        for f in features
    ]
    options: dict[int, dict[str, Any]] = {}
    if task != "regression":
        # A plain probability tensor instead of a list of per-row dicts (ZipMap): faster to read.
        options[id(final_step(clone))] = {"zipmap": False}
    # LightGBM, XGBoost and CatBoost estimators: their converters, and the opsets they write.
    opsets = register_boosting(clone)
    onx = convert_sklearn(clone, initial_types=types, options=options, target_opset=opsets)
    meta = {
        PRELUDE_KEY: json.dumps({k: vars(v) for k, v in prelude.items()}),
        MISSING_KEY: MISSING_CATEGORY,
    }
    for key, value in meta.items():
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    return onx


def parity(
    model: Any,
    onnx_bytes: bytes,
    x_holdout: pd.DataFrame,
    features: Sequence[ColumnSpec],
    task: Task,
) -> str | None:
    """Why the ONNX model disagrees with scikit-learn on the holdout, or None when it agrees."""
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    prelude, missing = read_prelude(dict(sess.get_modelmeta().custom_metadata_map))
    import pandas as pd

    columns: dict[str, np.ndarray] = {}
    for f in features:
        col = x_holdout[f.name].to_numpy(dtype=object if f.kind == "categorical" else np.float64)
        if f.kind == "categorical":
            col[pd.isna(col)] = None  # the serving form of a missing category
        columns[f.name] = col
    inputs = [i.name for i in sess.get_inputs()]
    outputs = sess.run(None, onnx_feed(columns, features, prelude, missing, inputs))
    expected = np.asarray(model.predict(x_holdout)).reshape(-1)  # CatBoost's are (rows, 1)
    if task == "regression":
        got = np.asarray(outputs[0], dtype=np.float64).reshape(-1)
        spread = float(np.std(expected)) or 1.0
        tol = REGRESSION_RTOL * np.maximum(np.abs(expected), spread)
        worst = int(np.argmax(np.abs(got - expected) - tol))
        if np.any(np.abs(got - expected) > tol):
            return f"row {worst}: onnx {got[worst]} vs sklearn {expected[worst]}"
        return None
    labels = np.asarray(outputs[0]).reshape(-1)
    proba = np.asarray(outputs[1], dtype=np.float64)
    want = model.predict_proba(x_holdout)
    if proba.shape != want.shape:
        return f"probabilities have shape {proba.shape}, sklearn {want.shape}"
    diff = np.abs(proba - want).max(axis=1)
    if np.any(diff > PROBA_ATOL):
        row = int(np.argmax(diff))
        return f"row {row}: probabilities differ by {diff[row]:.2g} (> {PROBA_ATOL})"
    # A label may differ only where sklearn's top two classes tie within the tolerance:
    # then either answer is correct and float rounding decides.
    top2 = np.sort(want, axis=1)[:, -2:]
    tie = (top2[:, 1] - top2[:, 0]) <= PROBA_ATOL
    mismatch = np.flatnonzero((labels.astype(expected.dtype) != expected) & ~tie)
    if mismatch.size:
        row = int(mismatch[0])
        return f"row {row}: label {labels[row]!r} vs sklearn {expected[row]!r}"
    return None


def export_onnx(
    model: Any,
    x_holdout: pd.DataFrame,
    features: Sequence[ColumnSpec],
    task: Task,
) -> bytes | None:
    """The serialised ONNX model when it matches scikit-learn on the holdout, else None.

    `x_holdout` is the frame from `to_frame` that the model was evaluated on. A model that
    skl2onnx cannot convert, or whose export disagrees, is skipped with a logged reason: the
    bundle then serves with scikit-learn.
    """
    if any(MISSING_CATEGORY in (f.categories or ()) for f in features):
        log.warning("ONNX export skipped: a category equals the missing-value sentinel")
        return None
    try:
        import onnxruntime  # noqa: F401  (the parity check needs it)
        import skl2onnx  # noqa: F401
    except ImportError:
        log.warning("ONNX export skipped: install mlgate[onnx] (skl2onnx, onnxruntime)")
        return None
    try:
        onnx_bytes: bytes = _convert(model, features, task).SerializeToString()
    except Exception as exc:  # skl2onnx raises many types for unsupported models
        # Its messages can hold whole attribute arrays: the first 300 characters say enough.
        # One line: a converter's message can carry a whole node's attributes over many.
        why = " ".join(str(exc).split())
        log.warning("ONNX export skipped: skl2onnx cannot convert this model: %.300s", why)
        return None
    reason = parity(model, onnx_bytes, x_holdout, features, task)
    if reason is not None:
        log.warning(
            "ONNX export skipped: it disagrees with scikit-learn on the holdout: %s", reason
        )
        return None
    return onnx_bytes


# Whether a large forest is worth converting (benchmarks/RESULTS_limits.md; two runs on the
# shared 2-core VM): RandomForest(100), unlimited depth, 50,000 rows x 20 features, 541,832
# nodes. The export (skl2onnx conversion + the parity check on the holdout) took 7.4 s and
# 13.1 s, against 45.8 s and 29.0 s of training; model.onnx is 21 MB against 46 MB of
# model.skops; ONNX Runtime then answered single rows at 1 connection 2.1x and 4.2x as fast as
# the scikit-learn runtime, at half the server CPU per request (429 vs 897 us at 8
# connections). The one-time cost pays in CI, so `auto` exports large forests too. skl2onnx
# converts node by node in Python (7-13 s per 0.54M nodes here): past 5M nodes, a minute or
# more, `auto` keeps the scikit-learn runtime (which serves forests without the Pipeline's
# per-call overhead, see mlgate.serve.forest); `onnx: always` exports anyway.
AUTO_MAX_NODES = 5_000_000


def tree_nodes(model: Any) -> int:
    """Total decision-tree nodes of the final estimator (0 for models without trees)."""
    estimator = model.named_steps["estimator"] if hasattr(model, "named_steps") else model
    members = getattr(estimator, "estimators_", None)
    if members is None:
        tree = getattr(estimator, "tree_", None)
        return int(tree.node_count) if tree is not None else 0
    flat = members.ravel().tolist() if hasattr(members, "ravel") else list(members)
    return sum(tree_nodes(m) for m in flat)


def onnx_blocker(model: Any, features: Sequence[ColumnSpec]) -> str | None:
    """Why this Pipeline has no exact ONNX form, or None when skl2onnx can convert it."""
    from sklearn.preprocessing import OneHotEncoder

    if any(f.kind == "datetime" for f in features):
        return "date features are expanded by a step that ONNX cannot express"
    if hasattr(model.named_steps["estimator"], "best_threshold_"):
        return "the tuned decision threshold has no ONNX converter"
    mapper = getattr(model.named_steps["estimator"], "_bin_mapper", None)
    categorical = getattr(mapper, "is_categorical_", None)
    if categorical is not None and any(categorical):
        # skl2onnx 1.20 writes a categorical split as a numeric threshold (and with onnx 1.23
        # fails on any histogram model); the parity check would refuse it.
        return "histogram gradient boosting's categorical splits have no ONNX converter"
    pre = model.steps[0][1]
    for _, trans, _ in getattr(pre, "transformers_", ()):
        for _, step in getattr(trans, "steps", ()):
            infrequent = getattr(step, "infrequent_categories_", None)
            if isinstance(step, OneHotEncoder) and any(c is not None for c in infrequent or ()):
                return "rare categories share an 'infrequent' column, which ONNX cannot express"
    return None


def onnx_wanted(setting: str, model: Any) -> bool:
    """Whether to export: `always`, `never`, or `auto` (unless the forest is too large)."""
    if setting != "auto":
        return setting == "always"
    nodes = tree_nodes(model)
    if nodes > AUTO_MAX_NODES:
        log.warning(
            "ONNX export skipped: the model has %d tree nodes (> %d, slow to convert); "
            "set model.onnx: always to export it anyway",
            nodes,
            AUTO_MAX_NODES,
        )
        return False
    return True
