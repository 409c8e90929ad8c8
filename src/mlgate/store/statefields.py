"""The fitted state scikit-learn's native code indexes without bounds checks, checked field by
field on what a model file describes (`mlgate.store.skopsview`), before anything is built.

Each check takes the object as the file describes it and raises `Malformed(field, why)` for
state that scikit-learn (or scipy) would follow outside its arrays: a tree's child and feature
indices, a neighbour tree's sample and node indices, a sparse matrix's index arrays, a one-hot
encoder's output columns, a gradient-boosting model's stage layout. What numpy indexes itself
(and so refuses with an exception) is left to numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlgate.store.skopsview import ArrayRef, Obj, ObjArray, SparseRef

TREE = "sklearn.tree._tree.Tree"
TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
KD_TREE = "sklearn.neighbors._kd_tree.KDTree"
BALL_TREE = "sklearn.neighbors._ball_tree.BallTree"
_METRICS = "sklearn.metrics._dist_metrics."
DISTANCE_METRICS = tuple(
    _METRICS + name
    for name in (
        "EuclideanDistance64",
        "ManhattanDistance64",
        "ChebyshevDistance64",
        "MinkowskiDistance64",
    )
)
_TREE_FIELDS = ("left_child", "right_child", "feature", "threshold", "missing_go_to_left")
_PREDICTOR_FIELDS = (
    *("value", "feature_idx", "left", "right", "is_leaf", "is_categorical"),
    *("bitset_idx", "missing_go_to_left", "num_threshold"),
)
_NODE_DATA_FIELDS = ("idx_start", "idx_end", "is_leaf", "radius")
_LEAF = -1


class Malformed(Exception):
    """One field of an object's state that native code would follow outside its arrays."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


Loader = Callable[[ArrayRef], Any]


def array(load: Loader, value: Any, field: str, *, ndim: int | None = None) -> Any:
    """The array `value` refers to, of `ndim` dimensions when given."""
    if not isinstance(value, ArrayRef):
        raise Malformed(field, f"is not a numeric array (found {type(value).__name__})")
    arr = load(value)
    if ndim is not None and arr.ndim != ndim:
        raise Malformed(field, f"has {arr.ndim} dimension(s), expected {ndim}")
    return arr


def integer(load: Loader, value: Any, field: str, *, low: int = 0) -> int:
    """An integer (a JSON number or a numpy integer scalar) of at least `low`."""
    if isinstance(value, ArrayRef):
        arr = load(value)
        if arr.ndim != 0 or arr.dtype.kind not in "iu":
            raise Malformed(field, "is not an integer")
        value = int(arr)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(field, f"is not an integer (found {value!r:.40})")
    if value < low:
        raise Malformed(field, f"is {value}, below {low}")
    return value


def state_dict(obj: Obj) -> dict[str, Any]:
    """The object's attributes, as the file gives them to `__setstate__`."""
    if not isinstance(obj.state, dict):
        raise Malformed("(state)", "is not a mapping of attributes")
    return obj.state


def _records(arr: Any, field: str, names: tuple[str, ...]) -> Any:
    """A 1-d structured array with at least the fields `names`."""
    fields = arr.dtype.names or ()
    missing = [n for n in names if n not in fields]
    if arr.ndim != 1 or missing:
        raise Malformed(field, f"is not the node record array (missing {', '.join(missing)})")
    return arr


def node_problems(
    field: str, n: int, left: Any, right: Any, feature: Any, limit: int, leaf: Any
) -> None:
    """Children after their parent and inside the array (so traversal ends inside it), and
    split features in 0..limit-1."""
    if n < 1 or not (len(left) == len(right) == len(feature) == len(leaf) == n):
        raise Malformed(field, f"node arrays of inconsistent length for {n} nodes")
    # scikit-learn stops at a leaf without reading its children or feature, and appends
    # children after their parent: a split whose children come later cannot loop.
    index = np.arange(n)
    split = ~leaf
    bad = split & ((left <= index) | (right <= index) | (left >= n) | (right >= n))
    if np.any(bad):
        at = int(np.flatnonzero(bad)[0])
        raise Malformed(field, f"node {at}: a child index points outside the tree or back up it")
    bad = split & ((feature < 0) | (feature >= limit))
    if np.any(bad):
        at = int(np.flatnonzero(bad)[0])
        raise Malformed(field, f"node {at}: a split uses a feature outside 0..{limit - 1}")


def check_tree(obj: Obj, load: Loader, bound: int | None) -> None:
    """`sklearn.tree._tree.Tree`: (n_features, n_classes, n_outputs) and its node arrays."""
    if not isinstance(obj.args, tuple) or len(obj.args) != 3:
        raise Malformed("(constructor arguments)", "are not (n_features, n_classes, n_outputs)")
    n_features = integer(load, obj.args[0], "n_features", low=1)
    n_outputs = integer(load, obj.args[2], "n_outputs", low=1)
    # Tree reads n_outputs class counts, and checks `values` against them itself.
    classes, values = obj.args[1], state_dict(obj).get("values")
    if not isinstance(classes, ArrayRef) or not isinstance(values, ArrayRef):
        raise Malformed("n_classes", "or values is not a numeric array")
    shape, dtype = classes.header()
    if shape != (n_outputs,) or dtype.kind not in "iu":
        raise Malformed("n_classes", f"is {dtype} {shape}, not {n_outputs} class count(s)")
    count = integer(load, state_dict(obj).get("node_count"), "node_count", low=1)
    nodes = _records(array(load, state_dict(obj).get("nodes"), "nodes"), "nodes", _TREE_FIELDS)
    shape, dtype = values.header()  # its shape is what matters: skip reading the values
    if len(shape) != 3 or shape[:2] != (count, n_outputs) or dtype != np.float64:
        raise Malformed("values", f"is {dtype} {shape} for {count} nodes")
    left = np.asarray(nodes["left_child"], dtype=np.int64)
    limit = n_features if bound is None else min(bound, n_features)
    node_problems(
        "nodes",
        count,
        left,
        np.asarray(nodes["right_child"], dtype=np.int64),
        np.asarray(nodes["feature"], dtype=np.int64),
        limit,
        left == _LEAF,
    )


def check_predictor(obj: Obj, load: Loader, bound: int | None) -> None:
    """HistGradientBoosting's `TreePredictor`: its nodes and categorical bitsets."""
    st = state_dict(obj)
    nodes = _records(array(load, st.get("nodes"), "nodes"), "nodes", _PREDICTOR_FIELDS)
    leaf = nodes["is_leaf"].astype(bool)
    feature = nodes["feature_idx"].astype(np.int64)
    limit = bound if bound is not None else int(feature.max(initial=0)) + 1
    left, right = nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)
    node_problems("nodes", len(nodes), left, right, feature, limit, leaf)
    for name in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
        bitsets = array(load, st.get(name), name, ndim=2)
        if bitsets.shape[1] != 8 or bitsets.dtype != np.uint32:
            raise Malformed(name, f"is {bitsets.dtype} {bitsets.shape}, not uint32 (n, 8)")
        categorical = nodes["is_categorical"].astype(bool) & ~leaf
        idx = nodes["bitset_idx"].astype(np.int64)[categorical]
        if idx.size and (idx.min() < 0 or idx.max() >= len(bitsets)):
            raise Malformed("nodes", f"a categorical split points outside {name}")


def categorical_features(obj: Obj, load: Loader, predictors: list[Obj]) -> None:
    """HistGradientBoosting: a categorical split reads the bin mapper's bitset of its feature,
    so that feature must be one the bin mapper knows as categorical."""
    st = state_dict(obj)
    mapper = st.get("_bin_mapper")
    flags: Any = None
    if isinstance(mapper, Obj) and isinstance(mapper.state, dict):
        raw = mapper.state.get("is_categorical_")
        flags = None if raw is None else array(load, raw, "_bin_mapper.is_categorical_", ndim=1)
    for predictor in predictors:
        nodes = load(state_dict(predictor)["nodes"])
        split = nodes["is_categorical"].astype(bool) & ~nodes["is_leaf"].astype(bool)
        used = nodes["feature_idx"].astype(np.int64)[split]
        if not used.size:
            continue
        if flags is None or used.max() >= len(flags) or not np.all(flags[used]):
            raise Malformed(
                "_predictors",
                "a categorical split uses a feature the bin mapper does not know as categorical",
            )


def check_binary_tree(obj: Obj, load: Loader, rows: int) -> None:
    """KDTree (`rows` 2: lower and upper bounds) or BallTree (1: centroids): every index a
    query follows — samples, node ranges, children — inside its arrays."""
    st = obj.state
    if not isinstance(st, tuple) or len(st) != 13:
        raise Malformed("(state)", "is not the 13-item state of a neighbour tree")
    data = array(load, st[0], "data", ndim=2)
    n, d = data.shape
    if data.dtype != np.float64 or n < 1 or d < 1 or not np.isfinite(data).all():
        raise Malformed("data", f"is not finite float64 samples (found {data.dtype} {data.shape})")
    idx = array(load, st[1], "idx_array", ndim=1)
    if idx.dtype.kind != "i" or len(idx) != n:
        raise Malformed("idx_array", f"is not {n} integer sample indices")
    if idx.min() < 0 or idx.max() >= n or not np.array_equal(np.sort(idx), np.arange(n)):
        raise Malformed("idx_array", f"is not a permutation of 0..{n - 1}")
    nodes = _records(array(load, st[2], "node_data"), "node_data", _NODE_DATA_FIELDS)
    levels = integer(load, st[5], "n_levels", low=1)
    count = integer(load, st[6], "n_nodes", low=1)
    integer(load, st[4], "leaf_size", low=1)
    if levels > 62 or count != 2**levels - 1 or len(nodes) != count:
        raise Malformed("node_data", f"has {len(nodes)} nodes; n_nodes {count}, n_levels {levels}")
    start, end = nodes["idx_start"].astype(np.int64), nodes["idx_end"].astype(np.int64)
    if np.any((start < 0) | (start > end) | (end > n)):
        raise Malformed("node_data", f"a node's sample range is outside 0..{n}")
    inner = np.flatnonzero(nodes["is_leaf"] == 0)
    if inner.size and 2 * int(inner.max()) + 2 >= count:
        raise Malformed("node_data", "a node that is not a leaf has no children in the tree")
    bounds = array(load, st[3], "node_bounds", ndim=3)
    if bounds.shape != (rows, count, d) or bounds.dtype != np.float64:
        raise Malformed("node_bounds", f"has shape {bounds.shape}, expected {(rows, count, d)}")
    check_metric(st[11], load, d)
    if st[12] is not None:
        weights = array(load, st[12], "sample_weight", ndim=1)
        if len(weights) != n or weights.dtype != np.float64:
            raise Malformed("sample_weight", f"is not {n} float64 weights")


def check_metric(metric: Any, load: Loader, d: int) -> None:
    """A neighbour tree's distance: one of the metrics without arrays of their own, or
    Minkowski with a weight per feature (or none)."""
    if not isinstance(metric, Obj) or metric.type not in DISTANCE_METRICS:
        found = metric.type if isinstance(metric, Obj) else type(metric).__name__
        raise Malformed("dist_metric", f"{found} is not a distance mlgate checks")
    st = metric.state
    if not isinstance(st, tuple) or len(st) != 3 or not isinstance(st[0], int | float):
        raise Malformed("dist_metric", "is not the (p, vec, mat) state of a distance")
    if not st[0] > 0:
        raise Malformed("dist_metric.p", f"is {st[0]}, not positive")
    vec = array(load, st[1], "dist_metric.vec", ndim=1)
    array(load, st[2], "dist_metric.mat", ndim=2)
    minkowski = metric.type.endswith("MinkowskiDistance64")
    if vec.dtype != np.float64 or (minkowski and len(vec) not in (0, d)):
        raise Malformed("dist_metric.vec", f"has {len(vec)} weights for {d} features")


def check_sparse(ref: SparseRef, arrays: dict[str, Any]) -> None:
    """A CSR or CSC matrix: index pointers rising from 0 to nnz, indices inside the shape
    (scipy's kernels follow both without bounds checks)."""
    raw = arrays.get("format", np.array(b"")).item()
    fmt = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
    if fmt not in ("csr", "csc") or not ref.type.split(".")[-1].startswith(fmt):
        raise Malformed("format", f"is {fmt!r} for a {ref.type}")
    shape = arrays.get("shape")
    if shape is None or shape.shape != (2,) or shape.dtype.kind not in "iu" or shape.min() < 0:
        raise Malformed("shape", "is not two non-negative sizes")
    major, minor = (
        (int(shape[0]), int(shape[1])) if fmt == "csr" else (int(shape[1]), int(shape[0]))
    )
    indptr, indices, data = (arrays.get(k) for k in ("indptr", "indices", "data"))
    for name, arr in (("indptr", indptr), ("indices", indices), ("data", data)):
        if arr is None or arr.ndim != 1:
            raise Malformed(name, "is missing or not 1-d")
    assert indptr is not None
    assert indices is not None
    assert data is not None
    if indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu":
        raise Malformed("indices", "index arrays are not integers")
    if len(indptr) != major + 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise Malformed("indptr", f"is not {major + 1} rising offsets from 0")
    if indptr[-1] != len(indices) or len(indices) != len(data):
        raise Malformed("indptr", f"ends at {indptr[-1]} for {len(indices)} stored values")
    if len(indices) and (indices.min() < 0 or indices.max() >= minor):
        raise Malformed("indices", f"an index is outside 0..{minor - 1}")


def _categories(load: Loader, value: Any, field: str) -> int:
    """How many categories one feature has; numeric ones must be sorted (scikit-learn finds
    a value's column with a binary search)."""
    if isinstance(value, ObjArray):
        return len(value.items)
    cats = array(load, value, field, ndim=1)
    if cats.dtype.kind in "iuf":
        finite = cats[~np.isnan(cats)] if cats.dtype.kind == "f" else cats
        nan_last = cats.dtype.kind != "f" or not np.isnan(cats[: len(finite)]).any()
        if np.any(np.diff(finite) <= 0) or not nan_last:
            raise Malformed(field, "numeric categories are not sorted and unique")
    return len(cats)


def _optional_ints(load: Loader, value: Any, field: str, n: int) -> list[Any]:
    """A list (or object array) of `n` entries, each None or an integer array."""
    items = value.items if isinstance(value, ObjArray) else value
    if isinstance(value, ArrayRef):
        items = [int(v) for v in array(load, value, field, ndim=1)]
    if not isinstance(items, list | tuple) or len(items) != n:
        raise Malformed(field, f"is not {n} entries")
    out: list[Any] = []
    for item in items:
        if item is None or isinstance(item, int):
            out.append(item)
        else:
            arr = array(load, item, field)
            if arr.dtype.kind not in "iu":
                raise Malformed(field, "holds a non-integer index array")
            out.append(arr.astype(np.int64).ravel())
    return out


def encoder_state(obj: Obj, load: Loader) -> tuple[dict[str, Any], list[int]] | None:
    """An encoder's state and its features' category counts; None when it is not fitted."""
    st = state_dict(obj)
    if "categories_" not in st:  # not fitted: scikit-learn refuses to transform with it
        return None
    cats = st.get("categories_")
    if not isinstance(cats, list) or not cats:
        raise Malformed("categories_", "is not a list of category arrays")
    return st, [_categories(load, c, f"categories_[{i}]") for i, c in enumerate(cats)]


def infrequent_mappings(
    load: Loader, st: dict[str, Any], sizes: list[int], *, optional: bool = False
) -> list[Any]:
    """The infrequent categories of each feature inside its categories; their mappings (which
    an `optional` encoder, one that groups no rare categories, may not have)."""
    n = len(sizes)
    raw = st.get("_default_to_infrequent_mappings", [None] * n if optional else None)
    maps = _optional_ints(load, raw, "mappings", n)
    infrequent = _optional_ints(load, st.get("_infrequent_indices", [None] * n), "_infreq", n)
    for i in range(n):
        if infrequent[i] is not None and np.any((infrequent[i] < 0) | (infrequent[i] >= sizes[i])):
            raise Malformed(f"_infrequent_indices[{i}]", f"an index is outside 0..{sizes[i] - 1}")
    return maps


def check_one_hot(obj: Obj, load: Loader) -> None:
    """OneHotEncoder: every input category lands in its feature's block of output columns
    (the dense output is written through a CSR matrix whose indices scipy does not check)."""
    fitted = encoder_state(obj, load)
    if fitted is None:
        return
    st, sizes = fitted
    n = len(sizes)
    outs = st.get("_n_features_outs")
    if not isinstance(outs, list) or len(outs) != n or not all(type(o) is int for o in outs):
        raise Malformed("_n_features_outs", f"is not {n} column counts")
    maps = infrequent_mappings(load, st, sizes)
    raw_drop = st.get("_drop_idx_after_grouping")
    drops = [None] * n if raw_drop is None else _optional_ints(load, raw_drop, "drop_idx", n)
    for i in range(n):
        mapping = maps[i]
        if mapping is not None and (len(mapping) != sizes[i] or mapping.min(initial=0) < 0):
            raise Malformed(f"_default_to_infrequent_mappings[{i}]", "does not map every category")
        top = int(mapping.max(initial=0)) if mapping is not None else sizes[i] - 1
        drop = drops[i]
        if drop is not None and (not isinstance(drop, int) or not 0 <= drop <= top):
            raise Malformed(f"_drop_idx_after_grouping[{i}]", f"is not a category in 0..{top}")
        if top - (drop is not None) >= outs[i]:
            raise Malformed(
                f"_n_features_outs[{i}]", f"is {outs[i]}, too few for category index {top}"
            )


def check_gradient_boosting(obj: Obj, load: Loader, classifier: bool) -> None:
    """GradientBoosting: scikit-learn adds stage k's tree into column k of the initial
    predictions without bounds checks, so the stage layout, the loss and the initial model
    must agree on the number of columns."""
    st = state_dict(obj)
    if "estimators_" not in st:  # not fitted: scikit-learn refuses to predict with it
        return
    stages = st.get("estimators_")
    shape = stages.shape if isinstance(stages, ObjArray) else None
    if not (isinstance(shape, tuple) and len(shape) == 2 and all(type(s) is int for s in shape)):
        raise Malformed("estimators_", "is not a 2-d array of trees")
    assert isinstance(stages, ObjArray)
    per_stage = integer(load, st.get("n_trees_per_iteration_"), "n_trees_per_iteration_", low=1)
    rows = stages.items
    if shape[1] != per_stage or shape[0] < 1 or len(rows) != shape[0]:
        raise Malformed("estimators_", f"has shape {shape} for {per_stage} tree(s) per stage")
    if any(not isinstance(row, list) or len(row) != per_stage for row in rows):
        raise Malformed("estimators_", f"rows are not {per_stage} tree(s) each")
    tree_type = "sklearn.tree._classes.DecisionTreeRegressor"
    if any(not isinstance(t, Obj) or t.type != tree_type for row in rows for t in row):
        raise Malformed("estimators_", f"holds something other than a {tree_type}")
    loss = st.get("_loss")
    multiclass = isinstance(loss, Obj) and loss.type.endswith("HalfMultinomialLoss")
    if classifier and multiclass != (per_stage > 1):
        raise Malformed("_loss", f"does not match {per_stage} tree(s) per stage")
    init = st.get("init_")
    if init == "zero":
        return
    dummy = "sklearn.dummy.DummyClassifier" if classifier else "sklearn.dummy.DummyRegressor"
    if not isinstance(init, Obj) or init.type != dummy:
        raise Malformed("init_", f"is not 'zero' or a {dummy}")
    init_state = state_dict(init)
    if classifier:
        prior = array(load, init_state.get("class_prior_"), "init_.class_prior_", ndim=1)
        usual = init_state.get("strategy") == "prior" and init_state.get("n_outputs_") == 1
        if len(prior) != max(per_stage, 2) or not usual:
            raise Malformed("init_.class_prior_", f"has {len(prior)} classes, not {per_stage}")
    else:
        constant = array(load, init_state.get("constant_"), "init_.constant_")
        if constant.size != 1 or init_state.get("n_outputs_") != 1:
            raise Malformed("init_.constant_", "is not one value")
