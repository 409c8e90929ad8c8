"""A project shaped like a team's own, for the tests of project code: `src/teamfeat/` holds a
custom transformer (features.py) and the Pipeline builder ending in LightGBM (pipeline.py),
`tests/` tests the transformer, `pyproject.toml` declares the package, and `model.pipeline`
names the builder. Written over a small demo project."""

from __future__ import annotations

from pathlib import Path

from mlgate.cli import main

FEATURES = '''\
"""The team's feature engineering."""

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


class Ratios(BaseEstimator, TransformerMixin):
    """Adds charges per month of tenure; text columns become learned categories."""

    def __init__(self, floor: float = 1.0) -> None:
        self.floor = floor

    def fit(self, X: pd.DataFrame, y: object = None) -> "Ratios":
        self.categories_ = {
            c: sorted(X[c].dropna().astype(str).unique())
            for c in X.columns
            if not pd.api.types.is_numeric_dtype(X[c])
        }
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        months = X["tenure_months"].clip(lower=self.floor)
        out["charges_per_month"] = X["total_charges"] / months
        for c, known in self.categories_.items():
            values = X[c].astype(object).where(X[c].isin(known))
            out[c] = pd.Categorical(values, categories=known)
        return out
'''

PIPELINE = """\
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from teamfeat.features import Ratios


def build(n_estimators: int = 100) -> Pipeline:
    model = LGBMClassifier(n_estimators=n_estimators, num_leaves=15, verbose=-1)
    return Pipeline([("features", Ratios()), ("model", model)])
"""

UNIT_TEST = """\
import pandas as pd

from teamfeat.features import Ratios


def test_charges_per_month_and_unknown_categories() -> None:
    train = pd.DataFrame(
        {"tenure_months": [0, 10], "total_charges": [5.0, 100.0], "contract": ["a", "b"]}
    )
    out = Ratios().fit(train).transform(train.assign(contract=["b", "new"]))
    assert out["charges_per_month"].tolist() == [5.0, 10.0]
    assert out["contract"].isna().tolist() == [False, True]
"""


def write_team_project(root: Path, *, rows: int = 1200, trees: int = 40) -> Path:
    """The team's project at `root` (not trained); returns `root`."""
    assert main(["init", "--demo", str(root), "--rows", str(rows), "--no-dvc"]) == 0
    package = root / "src" / "teamfeat"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""The team\'s model code."""\n')
    (package / "features.py").write_text(FEATURES)
    (package / "pipeline.py").write_text(PIPELINE)
    (root / "tests").mkdir()
    (root / "tests" / "test_features.py").write_text(UNIT_TEST)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "teamfeat"\nversion = "1.2.0"\n'
        'dependencies = ["lightgbm", "pandas"]\n\n'
        '[tool.pytest.ini_options]\npythonpath = ["src"]\n'
    )
    config = root / "mlgate.yaml"
    text = config.read_text()
    start, end = text.index("model:\n"), text.index("split:\n")
    model = f"model:\n  pipeline: teamfeat.pipeline:build\n  params:\n    n_estimators: {trees}\n\n"
    config.write_text(text[:start] + model + text[end:])
    return root
