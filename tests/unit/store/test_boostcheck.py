"""A LightGBM model file whose model text would send prediction outside its trees is refused
before LightGBM parses it; an untouched one loads through the allow-list."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest

from mlgate.errors import BundleError
from mlgate.store.boostcheck import model_text
from mlgate.store.statefields import Malformed
from mlgate.store.trust import Trust, load_sklearn

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def lightgbm_file() -> tuple[bytes, str]:
    """A small LightGBM classifier with a categorical split, as skops bytes and model text."""
    import lightgbm
    import skops.io

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=300), rng.integers(0, 5, 300)]).astype(float)
    y = ((x[:, 1] == 2) | (x[:, 0] > 1)).astype(int)
    model = lightgbm.LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1)
    model.fit(x, y, categorical_feature=[1])
    return skops.io.dumps(model), model.booster_.model_to_string()


def _tampered(data: bytes, old: str, new: str) -> bytes:
    """The skops file with one piece of the model text (inside schema.json) replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            raw = src.read(info.filename)
            if info.filename == "schema.json":
                text = raw.decode()
                assert old in text
                raw = text.replace(old, new, 1).encode()
            dst.writestr(info, raw)
    return out.getvalue()


def test_an_untouched_model_loads(lightgbm_file: tuple[bytes, str]) -> None:
    model = load_sklearn(lightgbm_file[0], Trust(), "model.skops")
    assert model.predict_proba(np.zeros((1, 2))).shape == (1, 2)


def test_a_child_outside_the_tree_is_refused_naming_the_field(
    lightgbm_file: tuple[bytes, str],
) -> None:
    data, text = lightgbm_file
    line = re.search(r"left_child=[^\n]*", text)
    assert line is not None
    _first, _, rest = line.group(0).partition(" ")
    bad = _tampered(data, line.group(0), f"left_child=999 {rest}".strip())
    with pytest.raises(BundleError, match=r"LGBMClassifier.*Tree=0\.left_child.*outside"):
        load_sklearn(bad, Trust(), "model.skops")


def test_a_split_on_a_feature_the_model_lacks_is_refused(lightgbm_file: tuple[bytes, str]) -> None:
    _, text = lightgbm_file
    line = re.search(r"split_feature=(\d+)", text)
    assert line is not None
    with pytest.raises(Malformed, match="split_feature"):
        model_text(text.replace(line.group(0), "split_feature=7", 1))


def test_a_category_set_outside_cat_boundaries_is_refused(lightgbm_file: tuple[bytes, str]) -> None:
    _, text = lightgbm_file
    assert model_text(text) == 2
    line = re.search(r"num_cat=(\d+)", text)
    assert line is not None
    assert int(line.group(1)) > 0
    with pytest.raises(Malformed, match="cat_boundaries"):
        model_text(text.replace("cat_boundaries=0 ", "cat_boundaries=1 ", 1))
