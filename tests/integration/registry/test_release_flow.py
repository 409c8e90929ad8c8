"""The governed release through the CLI, against SQLite and against the MLflow server:
run -> challenger; promote -> champion; rerun passes the relative gate against the champion
re-evaluated on the same holdout; a worse model fails with exit 1 and changes nothing;
rollback restores the previous champion.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.registry.conftest import Cli, Env

pytestmark = [
    pytest.mark.integration,
    # SQLAlchemy 2.1 deprecates a loader strategy MLflow's store still configures at import.
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
    ),
]

WORSE_MODEL = """\
model:
  estimator: sklearn.tree.DecisionTreeClassifier
  params:
    max_depth: 1
"""


def _models(mlgate: Cli, env: Env) -> list[dict[str, object]]:
    res = mlgate("models", "--json", "--config", env.config)
    assert res.code == 0, res.err
    data: list[dict[str, object]] = json.loads(res.out)
    return data


def _aliases(mlgate: Cli, env: Env) -> dict[str, int]:
    return {
        alias: int(str(v["version"]))
        for v in _models(mlgate, env)
        for alias in v["aliases"]  # type: ignore[attr-defined]
    }


def _replace_model_block(env: Env) -> None:
    path = env.root / "mlgate.yaml"
    text = path.read_text()
    start = text.index("model:\n")
    end = text.index("\nsplit:")
    path.write_text(text[:start] + WORSE_MODEL + text[end:])


def test_release_flow(mlgate: Cli, env: Env) -> None:
    # 1. First run: no champion, only absolute gates, registered as challenger.
    res = mlgate("run", "--config", env.config)
    assert res.code == 0, res.err
    assert "no champion" in res.out
    versions = _models(mlgate, env)
    assert [v["version"] for v in versions] == [1]
    assert versions[0]["aliases"] == ["challenger"]
    lineage = versions[0]["lineage"]
    assert isinstance(lineage, dict)
    assert lineage["data_fingerprint"].startswith("md5:")
    assert lineage["config_hash"].startswith("sha256:")
    metrics = versions[0]["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["roc_auc"] > 0.7

    # 2. Promote the challenger; who/when/why are recorded on the version.
    res = mlgate("promote", "--reason", "first model", "--config", env.config)
    assert res.code == 0, res.err
    assert _aliases(mlgate, env) == {"challenger": 1, "champion": 1}
    tags = _models(mlgate, env)[0]["tags"]
    assert isinstance(tags, dict)
    assert tags["mlgate.promoted_by"] == "ci-bot"
    assert tags["mlgate.promotion_reason"] == "first model"
    assert tags["mlgate.promoted_at"]

    # 3. Same data again: the champion is downloaded, re-evaluated on the same holdout, and the
    #    relative gate passes.
    res = mlgate("run", "--config", env.config)
    assert res.code == 0, res.err
    gate = json.loads((env.root / "reports" / "gate.json").read_text())
    assert gate["champion"]["label"] == "champion v1"
    relative = [c for c in gate["checks"] if c["kind"] == "min_absolute_change"]
    assert relative
    assert all(c["passed"] for c in relative)
    assert _aliases(mlgate, env) == {"challenger": 2, "champion": 1}
    res = mlgate("promote", "2", "--reason", "retrained", "--config", env.config)
    assert res.code == 0, res.err
    assert _aliases(mlgate, env) == {"challenger": 2, "champion": 2}

    # 4. A depth-1 tree: the relative gate fails, exit 1, nothing registered, aliases unmoved.
    _replace_model_block(env)
    res = mlgate("run", "--config", env.config)
    assert res.code == 1, res.out + res.err
    gate = json.loads((env.root / "reports" / "gate.json").read_text())
    assert gate["passed"] is False
    assert any(not c["passed"] for c in gate["checks"] if c["kind"] == "min_absolute_change")
    assert [v["version"] for v in _models(mlgate, env)] == [2, 1]
    assert _aliases(mlgate, env) == {"challenger": 2, "champion": 2}
    report = mlgate("report", "--config", env.config)
    assert report.code == 0, report.err
    assert report.out.startswith(f"<!-- mlgate-report:{env.name} -->")
    assert "failed" in report.out.splitlines()[1]

    # 5. Rollback: the champion moves back to v1 and the demotion is recorded on v2.
    res = mlgate("rollback", "--reason", "v2 misbehaves", "--config", env.config)
    assert res.code == 0, res.err
    assert _aliases(mlgate, env) == {"challenger": 2, "champion": 1}
    v2 = next(v for v in _models(mlgate, env) if v["version"] == 2)
    assert v2["tags"]["mlgate.rollback_reason"] == "v2 misbehaves"  # type: ignore[index]
    # Nothing older to go back to.
    res = mlgate("rollback", "--config", env.config)
    assert res.code == 2
    assert "no previous champion" in res.err


def test_unknown_model_version_and_alias_are_usage_errors(mlgate: Cli, env: Env) -> None:
    res = mlgate("promote", "--config", env.config)
    assert res.code == 2
    assert env.name in res.err
    assert "not in the registry" in res.err

    res = mlgate("models", "--model", "no-such-model", "--config", env.config)
    assert res.code == 2
    assert "no-such-model" in res.err

    assert mlgate("run", "--config", env.config).code == 0
    res = mlgate("promote", "7", "--config", env.config)
    assert res.code == 2
    assert "no version 7" in res.err
    from mlgate.errors import UsageError

    with pytest.raises(UsageError, match="no alias 'staging'"):
        env.registry().require_alias(env.name, "staging")
    res = mlgate("rollback", "--config", env.config)
    assert res.code == 2
    assert "champion" in res.err


def test_no_register_gates_against_champion_but_writes_nothing(mlgate: Cli, env: Env) -> None:
    assert mlgate("run", "--config", env.config).code == 0
    assert mlgate("promote", "--config", env.config).code == 0
    res = mlgate("run", "--no-register", "--json", "--config", env.config)
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["registered"] is None
    assert data["champion"]["version"] == 1
    assert data["stages"][-1] == {
        "name": "register",
        "status": "skipped",
        "detail": "--no-register",
        "seconds": 0.0,
    }
    assert [v["version"] for v in _models(mlgate, env)] == [1]
    # The gated bundle can still be registered on its own (e.g. by a later CI job).
    res = mlgate("register", "--json", "--config", env.config)
    assert res.code == 0, res.err
    assert json.loads(res.out)["aliases"] == ["challenger"]
    assert _aliases(mlgate, env) == {"challenger": 2, "champion": 1}
