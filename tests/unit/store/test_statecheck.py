"""The model-state check: every estimator mlgate offers loads as it was saved, and a file whose
arrays native code would follow out of bounds is refused before anything is built, naming the
type, where it sits in the model, and the field.

Only `audit_sklearn` runs on crafted files here (it builds nothing, so a miss cannot crash
pytest); tests/security runs them through real loads in child processes.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np
import pytest
import skops.io

from mlgate.errors import BundleError
from mlgate.store.skopsview import read_file
from mlgate.store.trust import Trust, audit_sklearn, load_sklearn
from tests.security.conftest import array_files, read_array, replace_array, replace_member

pytestmark = pytest.mark.unit


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    x = rng.rand(80, 3)
    return x, (x[:, 0] + x[:, 1] > 1).astype(int)


def _refused(data: bytes, *words: str, trust: Trust | None = None) -> str:
    with pytest.raises(BundleError) as info:
        audit_sklearn(data, trust or Trust(), "model.skops")
    text = str(info.value)
    for word in ("model.skops", *words):
        assert word in text, text
    return text


def _changed(data: bytes, cls: str, key: str | int, change: Any) -> bytes:
    name = array_files(data, cls, key)[0]
    arr = read_array(data, name).copy()
    return replace_array(data, name, change(arr))


def _schema_edit(data: bytes, edit: Any) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    edit(schema)
    return replace_member(data, "schema.json", json.dumps(schema).encode())


def _zoo() -> dict[str, Any]:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    x, y = _data()
    pre = ColumnTransformer(
        [
            ("num", Pipeline([("imp", SimpleImputer()), ("sc", StandardScaler())]), [0, 1]),
            ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=3), [2]),
        ]
    )
    xc = np.column_stack([x[:, :2], np.round(x[:, 2] * 5)])
    return {
        "pipeline": (Pipeline([("pre", pre), ("rf", RandomForestClassifier(3))]).fit(xc, y), xc),
        "extra": (ExtraTreesRegressor(3).fit(x, x[:, 0]), x),
        "tree": (DecisionTreeClassifier().fit(x, y), x),
        "boosting": (GradientBoostingClassifier(n_estimators=3).fit(x, (x[:, 0] * 3) // 1), x),
        "hist": (HistGradientBoostingClassifier(max_iter=3).fit(x, y), x),
        "logistic": (LogisticRegression().fit(x, y), x),
        "ridge": (Ridge().fit(x, x[:, 0]), x),
        "sgd": (SGDClassifier(random_state=0).fit(x, y), x),
        "kd": (KNeighborsClassifier(algorithm="kd_tree").fit(x, y), x),
        "ball": (KNeighborsRegressor(algorithm="ball_tree").fit(x, x[:, 0]), x),
        "dummy": (DummyClassifier().fit(x, y), x),
        "calibrated": (CalibratedClassifierCV(RandomForestClassifier(3), cv=3).fit(x, y), x),
    }


@pytest.mark.parametrize("name", list(_zoo()))
def test_every_offered_estimator_loads_and_predicts_as_saved(name: str) -> None:
    model, x = _zoo()[name]
    loaded = load_sklearn(bytes(skops.io.dumps(model)), Trust(), "model.skops")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_the_reader_sees_every_type_skops_would_check() -> None:
    for model, _ in _zoo().values():
        data = bytes(skops.io.dumps(model))
        assert set(skops.io.get_untrusted_types(data=data)) <= read_file(data, "m").types


def test_a_kd_tree_sample_index_outside_the_data_is_refused() -> None:
    x, y = _data()
    from sklearn.neighbors import KNeighborsClassifier

    data = bytes(skops.io.dumps(KNeighborsClassifier(algorithm="kd_tree").fit(x, y)))

    def huge(arr: Any) -> Any:
        arr[3] = 10**12
        return arr

    text = _refused(_changed(data, "KDTree", 1, huge), "sklearn.neighbors._kd_tree.KDTree")
    assert "(at model._tree): idx_array is not a permutation of 0..79" in text


def test_a_ball_tree_with_bounds_for_other_features_is_refused() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    x, y = _data()
    data = bytes(skops.io.dumps(KNeighborsClassifier(algorithm="ball_tree").fit(x, y)))
    changed = _changed(data, "BallTree", 3, lambda arr: arr[:, :, :2].copy())
    _refused(changed, "BallTree", "node_bounds has shape")


def test_a_histogram_tree_with_a_categorical_split_on_a_numeric_feature_is_refused() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.RandomState(0)
    codes = rng.randint(0, 4, 400)
    x = np.column_stack([codes, rng.rand(400)])
    y = ((codes == 2) ^ (x[:, 1] > 0.5)).astype(int)
    model = HistGradientBoostingClassifier(max_iter=3, categorical_features=[0]).fit(x, y)
    data = bytes(skops.io.dumps(model))
    for name in array_files(data, "TreePredictor", "nodes"):
        nodes = read_array(data, name).copy()
        split = ~nodes["is_leaf"].astype(bool)
        numeric = np.flatnonzero(split & (nodes["is_categorical"] == 0))
        if (nodes["is_categorical"][split] == 1).any() and numeric.size:
            nodes["is_categorical"][numeric[0]] = 1
            nodes["bitset_idx"][numeric[0]] = 0
            break
    else:
        raise AssertionError("no tree with both kinds of split")
    changed = replace_array(data, name, nodes)
    # Categorical features bring a preprocessor mlgate does not list: the team would.
    extra = tuple(t for t in read_file(data, "m").types if "sklearn.ensemble" not in t)
    words = ("HistGradientBoostingClassifier", "_predictors", "not know as categorical")
    _refused(changed, *words, trust=Trust(types=extra))
    audit_sklearn(data, Trust(types=extra), "model.skops")  # the file as saved passes


def test_a_sparse_matrix_index_outside_its_shape_is_refused() -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = _data()
    model = LogisticRegression().fit(x, y)
    model.sparsify()
    data = bytes(skops.io.dumps(model))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".npz"))
        with np.load(io.BytesIO(archive.read(name))) as npz:
            parts = {k: npz[k] for k in npz.files}
    parts["indices"] = parts["indices"] + 10**6
    buffer = io.BytesIO()
    np.savez(buffer, **parts)
    _refused(replace_member(data, name, buffer.getvalue()), "csr_matrix", "indices")


def test_a_one_hot_category_beyond_its_columns_is_refused() -> None:
    from sklearn.preprocessing import OneHotEncoder

    cats = np.repeat([[0], [1], [2], [7]], [10, 10, 10, 1], axis=0)
    encoder = OneHotEncoder(min_frequency=5, handle_unknown="infrequent_if_exist").fit(cats)
    data = bytes(skops.io.dumps(encoder))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = [n for n in archive.namelist() if n.endswith(".npy")]
    mapping = next(n for n in names if read_array(data, n).tolist() == [0, 1, 2, 3])
    changed = replace_array(data, mapping, np.array([0, 1, 2, 10**6]))
    _refused(changed, "OneHotEncoder", "_n_features_outs[0]")


def test_boosting_stages_that_disagree_with_their_columns_are_refused() -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    x, _ = _data()
    data = bytes(
        skops.io.dumps(GradientBoostingClassifier(n_estimators=2).fit(x, x[:, 0] * 3 // 1))
    )

    def more(schema: dict[str, Any]) -> None:
        node = schema["content"]["content"]["n_trees_per_iteration_"]
        node["content"] = "5"
        del node["__id__"]  # else skops (and the check) reuse the first node with its id

    _refused(_schema_edit(data, more), "GradientBoostingClassifier", "estimators_")


def test_a_node_kind_the_reader_does_not_know_is_refused() -> None:
    x, y = _data()
    from sklearn.linear_model import LogisticRegression

    data = bytes(skops.io.dumps(LogisticRegression().fit(x, y)))

    def unknown(schema: dict[str, Any]) -> None:
        schema["content"]["content"]["C"]["__loader__"] = "EvalNode"

    _refused(_schema_edit(data, unknown), "not a readable skops file", "EvalNode")


def test_a_node_seen_twice_is_read_once_as_skops_does() -> None:
    """skops builds the first node under an id and reuses it for any later one: the values
    checked are those, not a second copy an attacker could make differ."""
    x, y = _data()
    from sklearn.neighbors import KNeighborsClassifier

    data = bytes(skops.io.dumps(KNeighborsClassifier(algorithm="kd_tree").fit(x, y)))
    view = read_file(data, "m")
    tree = view.root.state["_tree"]
    assert tree.type == "sklearn.neighbors._kd_tree.KDTree"
    assert view.root.state["_fit_X"] is tree.state[0]  # the same array, read once
