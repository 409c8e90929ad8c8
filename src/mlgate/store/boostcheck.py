"""The gradient boosting libraries' classes a model file may hold, and the check of their state.

LightGBM, XGBoost and CatBoost keep a fitted model as the library's own native model: LightGBM
as its model text (in the Booster's `_handle`), XGBoost as UBJSON bytes (the Booster's
`handle`), CatBoost as its binary model (`__model`). Loading hands them to the library's own
parser (C++), which checks their format. mlgate checks what it can read before that:

- LightGBM's text, tree by tree: each split's children inside the tree and after their node
  (so traversal ends), its feature inside `max_feature_idx`, the node arrays of the lengths
  `num_leaves` says, and a categorical split's bitset range inside `cat_boundaries`; the
  estimator's feature count equal to the model's;
- XGBoost and CatBoost: the native model is bytes where the library keeps it, nothing else.
  Their binary formats are left to their own parsers.
"""

from __future__ import annotations

import itertools

from mlgate.store import statefields as sf
from mlgate.store.skopsview import Obj, Opaque

LGBM_CLASSIFIER = "lightgbm.sklearn.LGBMClassifier"
LGBM_REGRESSOR = "lightgbm.sklearn.LGBMRegressor"
LGBM_BOOSTER = "lightgbm.basic.Booster"
XGB_CLASSIFIER = "xgboost.sklearn.XGBClassifier"
XGB_REGRESSOR = "xgboost.sklearn.XGBRegressor"
XGB_BOOSTER = "xgboost.core.Booster"
CATBOOST_CLASSIFIER = "catboost.core.CatBoostClassifier"
CATBOOST_REGRESSOR = "catboost.core.CatBoostRegressor"
ALLOWED = (
    LGBM_CLASSIFIER,
    LGBM_REGRESSOR,
    LGBM_BOOSTER,
    XGB_CLASSIFIER,
    XGB_REGRESSOR,
    XGB_BOOSTER,
    CATBOOST_CLASSIFIER,
    CATBOOST_REGRESSOR,
    # What they keep beside the native model: evaluation results and the model's bytes.
    "collections.OrderedDict",
    "collections.defaultdict",
    "builtins.bytes",
    "builtins.bytearray",
)
_CATEGORICAL = 1  # LightGBM's decision_type bit for a categorical split


def check_lightgbm(obj: Obj, load: sf.Loader) -> None:
    """An LGBM estimator: its Booster's model text, and the feature count both agree on."""
    st = sf.state_dict(obj)
    booster = st.get("_Booster")
    if booster is None:  # not fitted
        return
    if not isinstance(booster, Obj) or booster.type != LGBM_BOOSTER:
        raise sf.Malformed("_Booster", "is not a LightGBM Booster")
    text = sf.state_dict(booster).get("_handle")
    if not isinstance(text, str):
        raise sf.Malformed("_Booster._handle", "is not LightGBM's model text")
    features = model_text(text)
    own = sf.integer(load, st.get("_n_features"), "_n_features", low=1)
    if own != features:
        raise sf.Malformed("_n_features", f"is {own}, the model text has {features} features")


def model_text(text: str) -> int:
    """Check LightGBM's model text tree by tree; its number of features."""
    head, _, body = text.partition("\nTree=")
    header = _fields(head)
    if not head.startswith("tree\n") or "max_feature_idx" not in header:
        raise sf.Malformed("_Booster._handle", "is not LightGBM's model text")
    features = _int(header["max_feature_idx"], "max_feature_idx") + 1
    blocks = ("Tree=" + body).split("\nTree=") if body else []
    for i, block in enumerate(blocks):
        _tree(_fields(block.split("\nend of trees")[0]), features, f"Tree={i}")
    return features


def _fields(block: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise sf.Malformed(field, f"is not an integer ({value[:40]!r})") from None


def _ints(tree: dict[str, str], key: str, n: int, where: str) -> list[int]:
    raw = tree.get(key, "").split()
    if len(raw) != n:
        raise sf.Malformed(f"{where}.{key}", f"holds {len(raw)} values, expected {n}")
    return [_int(v, f"{where}.{key}") for v in raw]


def _tree(tree: dict[str, str], features: int, where: str) -> None:
    """One tree: children after their node and inside it, features and bitsets in range."""
    leaves = _int(tree.get("num_leaves", ""), f"{where}.num_leaves")
    if leaves < 1:
        raise sf.Malformed(f"{where}.num_leaves", f"is {leaves}")
    splits = leaves - 1
    if len(tree.get("leaf_value", "").split()) != leaves:
        raise sf.Malformed(f"{where}.leaf_value", f"does not hold {leaves} values")
    if splits == 0:
        return
    left = _ints(tree, "left_child", splits, where)
    right = _ints(tree, "right_child", splits, where)
    feature = _ints(tree, "split_feature", splits, where)
    kinds = _ints(tree, "decision_type", splits, where)
    if len(tree.get("threshold", "").split()) != splits:
        raise sf.Malformed(f"{where}.threshold", f"does not hold {splits} values")
    for node in range(splits):
        for child in (left[node], right[node]):
            # A leaf is ~index (negative); a split must come after its parent, inside the tree.
            inside = node < child < splits if child >= 0 else ~child < leaves
            if not inside:
                raise sf.Malformed(f"{where}.left_child", f"node {node}: a child points outside")
        if not 0 <= feature[node] < features:
            raise sf.Malformed(f"{where}.split_feature", f"node {node}: feature outside range")
    if any(k & _CATEGORICAL for k in kinds):
        _categorical(tree, kinds, where)


def _categorical(tree: dict[str, str], kinds: list[int], where: str) -> None:
    """A categorical split's threshold names a bitset of `cat_threshold` by `cat_boundaries`."""
    count = _int(tree.get("num_cat", "0"), f"{where}.num_cat")
    bounds = _ints(tree, "cat_boundaries", count + 1, where)
    words = len(tree.get("cat_threshold", "").split())
    if bounds[0] != 0 or bounds[-1] != words or any(a > b for a, b in itertools.pairwise(bounds)):
        raise sf.Malformed(f"{where}.cat_boundaries", "do not partition cat_threshold")
    for node, (kind, raw) in enumerate(zip(kinds, tree["threshold"].split(), strict=True)):
        if kind & _CATEGORICAL:
            try:
                index = float(raw)
            except ValueError:
                raise sf.Malformed(f"{where}.threshold", f"node {node}: not a number") from None
            if not (index.is_integer() and 0 <= index < count):
                raise sf.Malformed(f"{where}.threshold", f"node {node}: no such category set")


def check_native_bytes(obj: Obj, field: str, kinds: tuple[str, ...]) -> None:
    """An XGBoost Booster's `handle` or a CatBoost model's `__model`: bytes, or absent."""
    value = sf.state_dict(obj).get(field)
    if value is None:
        return
    if not isinstance(value, Opaque) or value.type not in kinds:
        raise sf.Malformed(field, "is not the library's model bytes")


def check(kind: str, obj: Obj, load: sf.Loader) -> None:
    """The check of one boosting-library object, by its type name (none for other types)."""
    if kind in (LGBM_CLASSIFIER, LGBM_REGRESSOR):
        check_lightgbm(obj, load)
    elif kind == XGB_BOOSTER:
        check_native_bytes(obj, "handle", ("builtins.bytearray", "builtins.bytes"))
    elif kind in (XGB_CLASSIFIER, XGB_REGRESSOR):
        booster = sf.state_dict(obj).get("_Booster")
        if booster is not None and not (isinstance(booster, Obj) and booster.type == XGB_BOOSTER):
            raise sf.Malformed("_Booster", "is not an XGBoost Booster")
    elif kind in (CATBOOST_CLASSIFIER, CATBOOST_REGRESSOR):
        check_native_bytes(obj, "__model", ("builtins.bytes",))


CHECKED = frozenset(ALLOWED[:8]) - {LGBM_BOOSTER}
