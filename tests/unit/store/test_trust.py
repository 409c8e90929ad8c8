"""Loading a model file builds only allow-listed types and checks every tree it builds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlgate.errors import BundleError, ConfigError, UsageError
from mlgate.store.trust import (
    Trust,
    load_sklearn,
    refused_types,
    resolve,
    save_allow_list,
)

pytestmark = pytest.mark.unit


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    x = rng.rand(200, 4)
    return x, (x[:, 0] + x[:, 1] > 1).astype(int)


def _forest() -> Pipeline:
    x, y = _data()
    model = RandomForestClassifier(n_estimators=3, random_state=0)
    return Pipeline([("scale", StandardScaler()), ("rf", model)]).fit(x, y)


def test_a_forest_round_trips_with_the_default_allow_list() -> None:
    model = _forest()
    loaded = load_sklearn(skops.io.dumps(model), Trust(), "model.skops")
    x, _ = _data()
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_hist_gradient_boosting_round_trips() -> None:
    x, y = _data()
    model = HistGradientBoostingClassifier(max_iter=5).fit(x, y)
    loaded = load_sklearn(skops.io.dumps(model), Trust(), "model.skops")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_a_function_that_runs_commands_is_refused_by_name(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    x, y = _data()
    model = Pipeline([("f", FunctionTransformer(os.system)), ("rf", RandomForestClassifier(2))])
    model.steps[1][1].fit(x, y)
    data = skops.io.dumps(model)
    with pytest.raises(BundleError) as info:
        load_sklearn(data, Trust(), "model.skops")
    assert "posix.system" in str(info.value)
    assert "trust.trusted_types" in str(info.value)
    assert not marker.exists()


def test_a_pickle_in_place_of_the_model_is_not_loaded(tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    with pytest.raises(BundleError, match="not a readable skops file"):
        load_sklearn(pickle.dumps(Payload()), Trust(), "model.skops")
    assert not marker.exists()


def _tampered_tree(field: str, value: int) -> bytes:
    model = _forest()
    tree = model.named_steps["rf"].estimators_[1].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    split = int(np.flatnonzero(nodes["left_child"] != -1)[0])
    nodes[field][split] = value
    state["nodes"] = nodes
    tree.__setstate__(state)  # scikit-learn itself accepts it
    return bytes(skops.io.dumps(model))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("left_child", 10**9, "child index"),
        ("right_child", 0, "child index"),  # back up to the root: prediction would never end
        ("feature", 4, r"feature outside 0\.\.3"),
        ("feature", -7, "feature outside"),
    ],
)
def test_a_tree_whose_indices_point_outside_is_refused(
    field: str, value: int, message: str
) -> None:
    with pytest.raises(BundleError, match=message):
        load_sklearn(_tampered_tree(field, value), Trust(), "model.skops")


def test_a_tree_may_not_claim_more_features_than_its_forest_checks() -> None:
    model = _forest()
    forest = model.named_steps["rf"]
    tree = forest.estimators_[0]
    tree.n_features_in_ = 50  # the forest validates inputs against 4 columns
    state = tree.tree_.__getstate__()
    nodes = state["nodes"].copy()
    split = int(np.flatnonzero(nodes["left_child"] != -1)[0])
    nodes["feature"][split] = 40
    state["nodes"] = nodes
    tree.tree_.__setstate__(state)
    with pytest.raises(BundleError, match=r"feature outside 0\.\.3") as info:
        load_sklearn(bytes(skops.io.dumps(model)), Trust(), "model.skops")
    assert "sklearn.tree._tree.Tree (at model.steps[1][1].estimators_[0].tree_)" in str(info.value)


class OwnScaler(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Stands for a transformer of mlgate's own (its module is renamed below)."""

    def fit(self, x: Any, y: Any = None) -> OwnScaler:
        return self

    def transform(self, x: Any) -> Any:
        return x


def test_the_allow_list_names_classes_not_modules() -> None:
    # Listed by name: mlgate's own transformer, and KDTree (which skops leaves out) with its
    # state check; not listed: other classes of the same modules, whatever skops trusts.
    listed = [
        "mlgate.model.features.DatetimeParts",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.tree._tree.Tree",
        "numpy.dtype",
        # The histogram boosting's own input check, listed with a state check of what it holds.
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.utils.validation.check_array",
    ]
    assert refused_types(listed, Trust()) == []
    unlisted = [
        "mlgate.model.features.to_frame",  # a function of the same module
        "mlgate.store.bundle.Bundle",
        "sklearn.svm._classes.SVC",  # skops trusts every estimator; mlgate does not
        "sklearn.neighbors._quad_tree._QuadTree",
        "sklearn.utils.validation.check_is_fitted",  # another function of the same module
        "mlgatex.evil.Thing",
    ]
    assert refused_types(unlisted, Trust()) == sorted(unlisted)


def test_refused_types_lists_only_what_no_rule_trusts() -> None:
    found = ["numpy.dtype", "sklearn.tree._tree.Tree", "acme.Thing", "posix.system"]
    assert refused_types(found, Trust()) == ["acme.Thing", "posix.system"]
    assert refused_types(found, Trust(types=("acme.Thing",))) == ["posix.system"]


def test_an_estimator_skops_trusts_but_mlgate_does_not_list_is_refused() -> None:
    from sklearn.svm import SVC

    x, y = _data()
    data = bytes(skops.io.dumps(SVC().fit(x, y)))
    assert skops.io.get_untrusted_types(data=data) == []  # skops alone would load it
    with pytest.raises(BundleError, match=r"sklearn\.svm\._classes\.SVC"):
        load_sklearn(data, Trust(), "model.skops")
    with pytest.raises(ConfigError, match=r"model\.estimator: .*SVC"):
        save_allow_list(SVC().fit(x, y), Trust())


def test_user_trusted_types_load(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _data()
    model = Pipeline([("own", OwnScaler()), ("rf", RandomForestClassifier(2))]).fit(x, y)
    data = skops.io.dumps(model)
    name = "tests.unit.store.test_trust.OwnScaler"
    with pytest.raises(BundleError, match=name):
        load_sklearn(data, Trust(), "model.skops")
    loaded = load_sklearn(data, Trust(types=(name,)), "model.skops")
    assert isinstance(loaded.steps[0][1], OwnScaler)
    assert save_allow_list(model, Trust(types=(name,))) == sorted([name, "sklearn.tree._tree.Tree"])
    with pytest.raises(ConfigError, match=name):
        save_allow_list(model, Trust())


def test_resolve_reads_the_environment_and_names_a_missing_key(tmp_path: Path) -> None:
    key = tmp_path / "k.pub"
    key.write_text("x")
    trust = resolve(
        root=tmp_path,
        public_key="k.pub",
        types=("a.B",),
        environ={"MLGATE_TRUSTED_TYPES": "c.D, e.F"},
    )
    assert trust.public_key == key
    assert trust.types == ("a.B", "c.D", "e.F")
    with pytest.raises(UsageError, match="MLGATE_PUBLIC_KEY"):
        resolve(environ={"MLGATE_PUBLIC_KEY": str(tmp_path / "missing.pub")})
    with pytest.raises(UsageError, match=r"trust\.private_key"):
        resolve(root=tmp_path, private_key="missing.pem", environ={})


def test_a_tuned_threshold_classifier_loads_and_other_sklearn_functions_do_not() -> None:
    from sklearn.metrics import f1_score, make_scorer
    from sklearn.model_selection import StratifiedKFold, TunedThresholdClassifierCV

    x, y = _data()
    tuned = TunedThresholdClassifierCV(
        RandomForestClassifier(n_estimators=3, random_state=0),
        scoring=make_scorer(f1_score, pos_label=1),
        cv=StratifiedKFold(n_splits=3),
    ).fit(x, y)
    loaded = load_sklearn(skops.io.dumps(tuned), Trust(), "model.skops")
    np.testing.assert_array_equal(loaded.predict(x), tuned.predict(x))
    assert loaded.best_threshold_ == tuned.best_threshold_

    from sklearn.datasets import load_iris  # a function outside sklearn.metrics

    model = Pipeline([("f", FunctionTransformer(load_iris)), ("rf", RandomForestClassifier(2))])
    model.steps[1][1].fit(x, y)
    with pytest.raises(BundleError, match="load_iris"):
        load_sklearn(skops.io.dumps(model), Trust(), "model.skops")


def test_resolve_takes_the_key_password_from_the_environment_and_hides_it() -> None:
    trust = resolve(environ={"MLGATE_SIGNING_KEY_PASSWORD": "s3cret"})
    assert trust.password == "s3cret"
    assert "s3cret" not in repr(trust)
    assert resolve(environ={}).password is None
