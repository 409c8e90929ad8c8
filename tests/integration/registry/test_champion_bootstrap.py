"""The champion gate judged by a paired bootstrap on the same holdout: the same config trained
with another seed passes against itself (noise is not a regression); a 3-tree forest against
the 100-tree champion fails; the interval is in the gate table, gate.json and the PR report.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.registry.conftest import Cli, Env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
    ),
]


def _champion_check(env: Env) -> dict[str, Any]:
    gate = json.loads((env.root / "reports" / "gate.json").read_text())
    (check,) = [c for c in gate["checks"] if c["kind"] == "min_absolute_change"]
    assert isinstance(check, dict)
    return check


def test_noise_passes_and_a_real_regression_fails(mlgate: Cli, env: Env) -> None:
    env.edit("n_estimators: 40", "n_estimators: 100")
    res = mlgate("run", "--config", env.config)
    assert res.code == 0, res.err
    assert mlgate("promote", "--reason", "first", "--config", env.config).code == 0

    # The same config, another seed for the forest: a different model, the same quality.
    env.edit("    min_samples_leaf: 2\n", "    min_samples_leaf: 2\n    random_state: 7\n")
    res = mlgate("run", "--json", "--config", env.config)
    assert res.code == 0, res.out + res.err
    check = _champion_check(env)
    assert check["passed"] is True
    low, high = (float(x) for x in check["interval"])
    assert low < 0.0 < high  # noise both ways: the point difference alone decides nothing
    (shown,) = [c for c in json.loads(res.out)["gate"]["checks"] if c["interval"]]
    assert shown["interval"] == check["interval"]
    assert "95% interval" in shown["message"]

    # Three trees against the hundred-tree champion: worse beyond the tolerance, surely.
    env.edit("n_estimators: 100", "n_estimators: 3")
    res = mlgate("run", "--config", env.config)
    assert res.code == 1
    check = _champion_check(env)
    assert check["passed"] is False
    low, high = (float(x) for x in check["interval"])
    assert high < -0.01
    assert "fails only when the whole interval is below" in str(check["message"])

    report = mlgate("report", "--config", env.config)
    assert report.code == 0, report.err
    assert "95% interval of the improvement" in report.out
    assert f"{low:+.4f} … {high:+.4f}" in report.out


def test_a_champion_bundle_kept_beside_the_data_is_gated_against(mlgate: Cli, env: Env) -> None:
    """No champion in the registry (a CI job without a tracking server): the bundle named in
    evaluation.champion_bundle (fetched by `dvc pull` in CI) is the model to beat."""
    import shutil

    res = mlgate("run", "--no-register", "--config", env.config)
    assert res.code == 0, res.err
    assert "champion gate(s) on roc_auc did not run" in res.out
    shutil.copytree(env.root / "models" / "model", env.root / "champion")
    path = env.root / "mlgate.yaml"
    path.write_text(path.read_text() + "\nevaluation:\n  champion_bundle: champion\n")
    res = mlgate("run", "--json", "--no-register", "--config", env.config)
    assert res.code == 0, res.err
    gate = json.loads(res.out)["gate"]
    assert gate["champion"]["label"] == "champion bundle champion"
    check = _champion_check(env)
    assert check["passed"] is True
    assert check["interval"] == [0.0, 0.0]  # the same model: no difference on any resample

    shutil.rmtree(env.root / "champion")
    res = mlgate("run", "--no-register", "--config", env.config)
    assert res.code == 2
    assert "evaluation.champion_bundle" in res.err
