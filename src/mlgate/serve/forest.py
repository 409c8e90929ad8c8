"""scikit-learn forests without the Pipeline's per-call machinery, with the same answers.

A single-row prediction through the fitted Pipeline spends most of its time outside the trees
(measured on RandomForest(100), unlimited depth, 20 numeric features; see
benchmarks/RESULTS_limits.md): building a DataFrame, ColumnTransformer's pandas column
selection, SimpleImputer and StandardScaler input validation, the forest's input validation and
joblib dispatching one task per tree. For the common shape — every feature numeric, median/mean
imputation and standard scaling, then a random forest or extra-trees — `DirectForest` computes
the same numbers in a few numpy calls and a loop over the trees:

- imputation and scaling in float64, in scikit-learn's order of operations (`np.where`, then
  `-= mean`, then `/= scale`), then the cast to float32 the forest's input validation does;
- each tree's `predict_proba` (or `predict`) summed in tree order into a float64 array and
  divided by the number of trees, as `_accumulate_prediction` does.

The results are bit for bit those of `pipeline.predict_proba` (tested); any other model shape
keeps the Pipeline path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.core.schema import ColumnSpec

if TYPE_CHECKING:
    import numpy as np

# Deferred imports: NumPy and scikit-learn load when a bundle is served with the scikit-learn
# runtime: an ONNX server never imports scikit-learn (tests/unit/test_imports.py checks the
# server's footprint).

_F32_MAX = 3.4028234663852886e38
_FORESTS = (
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
)


@dataclass(frozen=True)
class DirectForest:
    """A numeric-only Pipeline (impute, scale, forest) as arrays and the forest's trees."""

    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    trees: tuple[Any, ...]
    classes: np.ndarray | None
    n_classes: int

    def prepare(self, matrix: np.ndarray) -> np.ndarray | None:
        """Impute, scale and cast rows as the Pipeline would; None when a value would not fit
        in float32 (the Pipeline path then raises scikit-learn's own error)."""
        import numpy as np

        x = np.where(np.isnan(matrix), self.fill, matrix)
        x -= self.mean
        x /= self.scale
        if not (np.abs(x) <= _F32_MAX).all():
            return None
        return x.astype(np.float32)

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (classifier) or predictions (regressor), float64."""
        import numpy as np

        if self.classes is None:
            total = np.zeros((x.shape[0],), dtype=np.float64)
            for tree in self.trees:
                total += tree.predict(x, check_input=False)
        else:
            total = np.zeros((x.shape[0], self.n_classes), dtype=np.float64)
            for tree in self.trees:
                total += tree.predict_proba(x, check_input=False)
        total /= len(self.trees)
        return total

    def predict(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray | None] | None:
        """(predictions, probabilities or None for a regressor), or None to use the Pipeline."""
        import numpy as np

        x = self.prepare(matrix)
        if x is None:
            return None
        out = self.proba(x)
        if self.classes is None:
            return out, None
        return self.classes.take(np.argmax(out, axis=1), axis=0), out


def _name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _numeric_steps(pipe: Any, n: int) -> tuple[Any, Any, Any] | None:
    """(fill, mean, scale) of an impute[-then-scale] Pipeline over `n` columns, else None."""
    import math

    import numpy as np
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if not isinstance(pipe, Pipeline) or not pipe.steps:
        return None
    steps = [s for _, s in pipe.steps]
    imputer = steps[0]
    if not isinstance(imputer, SimpleImputer) or imputer.add_indicator:
        return None
    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)):
        return None
    fill = np.asarray(imputer.statistics_, dtype=np.float64)
    mean, scale = np.zeros(n), np.ones(n)
    if len(steps) == 2:
        scaler = steps[1]
        if not isinstance(scaler, StandardScaler):
            return None
        if scaler.with_mean:
            mean = np.asarray(scaler.mean_, dtype=np.float64)
        if scaler.with_std:
            scale = np.asarray(scaler.scale_, dtype=np.float64)
    elif len(steps) != 1:
        return None
    if not (fill.shape == mean.shape == scale.shape == (n,)) or not np.isfinite(fill).all():
        return None
    return fill, mean, scale


def direct_forest(model: Any, features: tuple[ColumnSpec, ...]) -> DirectForest | None:
    """The direct form of `model`, or None when it is not the shape described above."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if any(f.kind == "categorical" for f in features) or not isinstance(model, Pipeline):
        return None
    if len(model.steps) != 2 or not isinstance(model.steps[0][1], ColumnTransformer):
        return None
    forest = model.steps[1][1]
    if _name(forest) not in _FORESTS or getattr(forest, "n_outputs_", 1) != 1:
        return None
    names = [f.name for f in features]
    # The trees are called without their input checks: a forest that claims another width than
    # the rows it will be given (a crafted file) would read past them.
    if getattr(forest, "n_features_in_", None) != len(names):
        return None
    pre = model.steps[0][1]
    used = [t for t in pre.transformers_ if t[1] != "drop"]
    if len(used) != 1 or list(used[0][2]) != names or getattr(pre, "sparse_output_", False):
        return None
    arrays = _numeric_steps(used[0][1], len(names))
    if arrays is None:
        return None
    fill, mean, scale = arrays
    classes = getattr(forest, "classes_", None)
    return DirectForest(
        fill=fill,
        mean=mean,
        scale=scale,
        trees=tuple(forest.estimators_),
        classes=None if classes is None else np.asarray(classes),
        n_classes=0 if classes is None else len(classes),
    )
