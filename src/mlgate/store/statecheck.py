"""Which classes a model file may hold, and the check of their fitted state.

The allow-list names classes, never modules: the estimators and transformers mlgate's training
builds or offers (`mlgate.model.train`, `model.estimator`, `model.imbalance`, calibration), the
fitted state they keep, and the containers and numpy types skops stores them with. Every type a
file names is checked against it (`refused`), not only those skops leaves out of its own
defaults. Five of the listed classes are ones skops itself does not trust, because native code
follows their arrays without bounds checks: `Tree`, `TreePredictor`, `KDTree`, `BallTree` and
their distance metrics. They are listed on purpose, and only together with a check of those
arrays (`check_state`), as are the other arrays native code indexes: sparse matrices, a one-hot
encoder's output columns, a gradient-boosting model's stages (`mlgate.store.statefields`), and
an ordinal encoder's codes, which histogram gradient boosting reads as categories.

`check_state` runs on what the file describes (`mlgate.store.skopsview`), before skops builds
a single object, so the host that only audits a file (`mlgate build`) checks the same as the
processes that load it. Types a team lists in `trust.trusted_types` are theirs to vouch for.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import numpy as np

from mlgate.errors import BundleError
from mlgate.store import boostcheck
from mlgate.store import statefields as sf
from mlgate.store.skopsview import ArrayRef, Obj, ObjArray, Opaque, SparseRef, View

_SK = "sklearn."
ESTIMATORS = tuple(
    _SK + name
    for name in (
        "ensemble._forest.RandomForestClassifier",
        "ensemble._forest.RandomForestRegressor",
        "ensemble._forest.ExtraTreesClassifier",
        "ensemble._forest.ExtraTreesRegressor",
        "ensemble._gb.GradientBoostingClassifier",
        "ensemble._gb.GradientBoostingRegressor",
        "ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
        "tree._classes.DecisionTreeClassifier",
        "tree._classes.DecisionTreeRegressor",
        "tree._classes.ExtraTreeClassifier",
        "tree._classes.ExtraTreeRegressor",
        "linear_model._logistic.LogisticRegression",
        "linear_model._base.LinearRegression",
        "linear_model._ridge.Ridge",
        "linear_model._ridge.RidgeClassifier",
        "linear_model._coordinate_descent.Lasso",
        "linear_model._coordinate_descent.ElasticNet",
        "linear_model._stochastic_gradient.SGDClassifier",
        "linear_model._stochastic_gradient.SGDRegressor",
        "neighbors._classification.KNeighborsClassifier",
        "neighbors._regression.KNeighborsRegressor",
        "naive_bayes.GaussianNB",
        "dummy.DummyClassifier",
        "dummy.DummyRegressor",
    )
)
# Threshold tuning (model.imbalance), calibration, and what they keep once fitted.
META = tuple(
    _SK + name
    for name in (
        "model_selection._classification_threshold.TunedThresholdClassifierCV",
        "model_selection._classification_threshold.FixedThresholdClassifier",
        "model_selection._split.StratifiedKFold",
        "model_selection._split.KFold",
        "metrics._scorer._Scorer",
        "metrics._scorer._CurveScorer",
        "metrics._classification.f1_score",
        "utils._metadata_requests.MetadataRequest",
        "utils._metadata_requests.MethodMetadataRequest",
        "calibration.CalibratedClassifierCV",
        "calibration._CalibratedClassifier",
        "calibration._SigmoidCalibration",
        "calibration._TemperatureScaling",
        "isotonic.IsotonicRegression",
        "preprocessing._label.LabelEncoder",
    )
)
_FUNCTION = _SK + "preprocessing._function_transformer.FunctionTransformer"
# The Pipeline mlgate builds around the estimator (mlgate.model.train.build_pipeline).
PREPROCESSING = (
    _SK + "pipeline.Pipeline",
    _SK + "compose._column_transformer.ColumnTransformer",
    _SK + "impute._base.SimpleImputer",
    _SK + "impute._base.MissingIndicator",
    _SK + "preprocessing._data.StandardScaler",
    _SK + "preprocessing._encoders.OneHotEncoder",
    _SK + "preprocessing._encoders.OrdinalEncoder",
    "mlgate.model.features.DatetimeParts",
    # Histogram gradient boosting with categories keeps its own ColumnTransformer: an
    # OrdinalEncoder, and numbers through a FunctionTransformer of partial(check_array).
    _FUNCTION,
    "functools.partial",
    _SK + "utils.validation.check_array",
)
_LOSS = _SK + "_loss."
# Fitted state: tree stores, binning, losses and links, neighbour trees and their metrics.
STATE = (
    sf.TREE,
    sf.TREE_PREDICTOR,
    sf.KD_TREE,
    sf.BALL_TREE,
    *sf.DISTANCE_METRICS,
    _SK + "ensemble._hist_gradient_boosting.binning._BinMapper",
    *(
        _LOSS + f"{kind}.{prefix}{name}"
        for name in (
            "HalfBinomialLoss",
            "HalfMultinomialLoss",
            "HalfSquaredError",
            "AbsoluteError",
            "HuberLoss",
            "PinballLoss",
            "HalfPoissonLoss",
            "HalfGammaLoss",
            "ExponentialLoss",
        )
        for kind, prefix in (("loss", ""), ("_loss", "Cy"))
    ),
    *(
        _LOSS + "link." + name
        for name in (
            "IdentityLink",
            "LogLink",
            "LogitLink",
            "HalfLogitLink",
            "MultinomialLogit",
            "Interval",
        )
    ),
    *(
        _SK + "linear_model._sgd_fast." + name
        for name in (
            "Hinge",
            "ModifiedHuber",
            "SquaredHinge",
            "EpsilonInsensitive",
            "SquaredEpsilonInsensitive",
        )
    ),
    "scipy.sparse._csr.csr_matrix",
    "scipy.sparse._csc.csc_matrix",
    "scipy.sparse._csr.csr_array",
    "scipy.sparse._csc.csc_array",
)
CONTAINERS = (
    *(f"builtins.{t}" for t in ("dict", "list", "tuple", "set", "str", "int", "float", "bool")),
    "builtins.slice",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
)
_HGB = (ESTIMATORS[6], ESTIMATORS[7])
_GB = {ESTIMATORS[4]: True, ESTIMATORS[5]: False}
_ONE_HOT = _SK + "preprocessing._encoders.OneHotEncoder"
_ORDINAL = _SK + "preprocessing._encoders.OrdinalEncoder"
_TREE_FAMILIES = ("sklearn.tree.", "sklearn.ensemble.")
_STATE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


@functools.cache
def allowed_types() -> frozenset[str]:
    """Every class name mlgate loads from a model file without being told to."""

    scalars = {f"numpy.{t.__name__}" for t in set(np.sctypeDict.values())}
    boosting = boostcheck.ALLOWED  # LightGBM, XGBoost, CatBoost: mlgate.store.boostcheck
    return frozenset((*ESTIMATORS, *META, *PREPROCESSING, *STATE, *CONTAINERS, *scalars, *boosting))


def refused(found: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """The names in `found` that neither the allow-list nor `extra` (the team's) holds."""
    allowed = allowed_types() | set(extra)
    return sorted(t for t in set(found) if t not in allowed)


class _Walk:
    """One pass over a file's values: each object's checks, with the feature bound of the
    tree-family estimators around it (a forest validates inputs, its trees do not)."""

    def __init__(self, source: str, packages: tuple[str, ...] = ()) -> None:
        self.source = source
        self.packages = packages
        self.arrays: dict[str, Any] = {}
        self.later: list[tuple[Obj, str]] = []

    def load(self, ref: ArrayRef) -> Any:
        if ref.name not in self.arrays:
            self.arrays[ref.name] = ref.load()
        return self.arrays[ref.name]

    def run(self, root: Any) -> None:
        stack: list[tuple[Any, int | None, bool, str]] = [(root, None, False, "model")]
        seen: set[int] = set()
        while stack:
            value, bound, in_family, path = stack.pop()
            if not isinstance(value, Obj | SparseRef | dict | list | tuple | ObjArray):
                continue
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, SparseRef):
                self.guard(value.type, path, lambda v=value: sf.check_sparse(v, v.load()))
            elif isinstance(value, Obj):
                stack.extend(self.obj(value, bound, in_family, path))
            elif isinstance(value, dict):
                stack.extend((v, bound, in_family, f"{path}.{k}") for k, v in value.items())
            else:
                items = value.items if isinstance(value, ObjArray) else value
                stack.extend((v, bound, in_family, f"{path}[{i}]") for i, v in enumerate(items))
        for obj, path in self.later:
            predictors = _flatten(state_of(obj).get("_predictors"))
            check = functools.partial(sf.categorical_features, obj, self.load, predictors)
            self.guard(obj.type, path, check)

    def obj(
        self, obj: Obj, bound: int | None, in_family: bool, path: str
    ) -> list[tuple[Any, int | None, bool, str]]:
        """Check one object; the values inside it still to walk."""
        kind = obj.type
        if kind == sf.TREE:
            self.guard(kind, path, lambda: sf.check_tree(obj, self.load, bound))
            return []
        if kind == sf.TREE_PREDICTOR:
            self.guard(kind, path, lambda: sf.check_predictor(obj, self.load, bound))
            return []
        if kind in (sf.KD_TREE, sf.BALL_TREE):
            rows = 2 if kind == sf.KD_TREE else 1
            self.guard(kind, path, lambda: sf.check_binary_tree(obj, self.load, rows))
            return []
        if kind in _GB:
            self.guard(kind, path, lambda: sf.check_gradient_boosting(obj, self.load, _GB[kind]))
        elif kind == _ONE_HOT:
            self.guard(kind, path, lambda: sf.check_one_hot(obj, self.load))
        elif kind == _ORDINAL:
            self.guard(kind, path, lambda: check_ordinal(obj, self.load))
        elif kind == _FUNCTION:
            self.guard(kind, path, lambda: check_function(obj, self.packages))
        elif kind in _HGB:
            self.later.append((obj, path))
        elif kind in boostcheck.CHECKED:
            self.guard(kind, path, lambda: boostcheck.check(kind, obj, self.load))
        family = kind.startswith(_TREE_FAMILIES)
        inner = bound if family and in_family else None
        own = state_of(obj).get("n_features_in_")
        if isinstance(own, ArrayRef):
            own = self.guard(kind, path, lambda: sf.integer(self.load, own, "n_features_in_"))
        if isinstance(own, int) and not isinstance(own, bool):
            inner = own if inner is None else min(inner, own)
        children = obj.state.items() if isinstance(obj.state, dict) else []
        out = [(v, inner, family, f"{path}.{k}") for k, v in children]
        if isinstance(obj.state, tuple | list):
            out += [(v, inner, family, f"{path}[{i}]") for i, v in enumerate(obj.state)]
        return out

    def guard(self, kind: str, path: str, check: Any) -> Any:
        """Run one check; a malformed field is a BundleError naming the type and the field."""
        hint = "the file was not written by scikit-learn as is: retrain, or restore the bundle"
        try:
            return check()
        except sf.Malformed as exc:
            field = f"{exc.field} {exc.why}"
        except _STATE_ERRORS as exc:
            field = f"(state) is malformed: {type(exc).__name__}: {str(exc)[:160]}"
        raise BundleError(
            f"{self.source} holds a malformed {kind} (at {path}): {field}; it was not loaded",
            hint=hint,
        )


def state_of(obj: Obj) -> dict[str, Any]:
    """An object's attributes, or none when its state is not a mapping."""
    return obj.state if isinstance(obj.state, dict) else {}


def _flatten(value: Any) -> list[Obj]:
    """The TreePredictor objects in a list of lists (HistGradientBoosting's `_predictors`)."""
    if isinstance(value, Obj):
        return [value] if value.type == sf.TREE_PREDICTOR else []
    if isinstance(value, list | tuple):
        return [p for item in value for p in _flatten(item)]
    return []


def check_ordinal(obj: Obj, load: sf.Loader) -> None:
    """OrdinalEncoder (histogram gradient boosting's categories): every category, but the
    missing one, mapped to a code of its own feature, the missing one a category."""
    fitted = sf.encoder_state(obj, load)
    if fitted is None:
        return
    st, sizes = fitted
    missing = st.get("_missing_indices", {})
    if not isinstance(missing, dict):
        raise sf.Malformed("_missing_indices", "is not a mapping of feature to category")
    for key, index in missing.items():
        feature = int(key) if isinstance(key, int | str) and str(key).isdigit() else -1
        if not 0 <= feature < len(sizes) or type(index) is not int:
            raise sf.Malformed("_missing_indices", f"names no feature's category ({key!r})")
        if not 0 <= index < sizes[feature]:
            raise sf.Malformed("_missing_indices", f"is outside 0..{sizes[feature] - 1}")
    for i, mapping in enumerate(sf.infrequent_mappings(load, st, sizes, optional=True)):
        if mapping is None:
            continue
        size = sizes[i] - (i in missing or str(i) in missing)
        if len(mapping) != size or mapping.min(initial=0) < 0 or mapping.max(initial=0) >= size:
            raise sf.Malformed(
                f"_default_to_infrequent_mappings[{i}]", "does not map every category"
            )


def check_function(obj: Obj, packages: tuple[str, ...] = ()) -> None:
    """FunctionTransformer: only the forms scikit-learn itself builds (a passthrough, or
    histogram gradient boosting's partial(check_array)), or a function of the project's own
    verified code (`packages`, `mlgate.store.code`): it calls what it holds on the input."""
    st = state_of(obj)
    func = st.get("func")
    own = isinstance(func, Opaque) and func.type.startswith(tuple(f"{p}." for p in packages))
    if not (func is None or own or (isinstance(func, Opaque) and func.type == "functools.partial")):
        raise sf.Malformed("func", "is neither none, partial(check_array) nor the project's own")
    for name in ("inverse_func", "kw_args", "inv_kw_args"):
        if st.get(name) is not None:
            raise sf.Malformed(name, "is set: scikit-learn's own transformers leave it unset")


def check_state(view: View, source: str, packages: tuple[str, ...] = ()) -> None:
    """Refuse a file whose fitted state native code would follow outside its arrays: a
    BundleError naming the type, where it is in the model, and the field (`packages`: the
    project's verified code, whose functions a FunctionTransformer may call)."""
    _Walk(source, packages).run(view.root)
