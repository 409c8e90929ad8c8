"""Config fixtures: every valid one loads, every invalid one names its key and exits 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlgate.cli import app, main
from mlgate.core.config import GateConfig
from mlgate.errors import ConfigError, UsageError
from mlgate.store.project import load_project

pytestmark = pytest.mark.unit

CONFS = Path(__file__).resolve().parents[2] / "confs"
VALID = sorted((CONFS / "valid").glob("*.yaml"))
INVALID = sorted((CONFS / "invalid").glob("*.yaml"))


def _expected_key(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: KEY'"
    return first.removeprefix("# expect: ").strip()


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_configs_load(path: Path) -> None:
    project = load_project(path)
    assert project.root == path.parent.resolve()
    assert project.config.digest().startswith("sha256:")


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_config_names_the_key(path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert _expected_key(path) in str(info.value)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_config_exits_2_from_the_cli(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mlgate.yaml"
    shutil.copyfile(path, target)
    assert main(["config", "--config", str(target)]) == 2
    err = capsys.readouterr().err
    assert _expected_key(path) in err


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--config", str(tmp_path)]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_config_is_frozen() -> None:
    project = load_project(VALID[0])
    with pytest.raises(ValueError, match="frozen"):
        project.config.name = "other"  # type: ignore[misc]


def test_digest_changes_with_content() -> None:
    a = load_project(CONFS / "valid" / "minimal.yaml").config
    b = a.model_copy(update={"name": "other"})
    assert a.digest() != b.digest()


def test_greater_is_better_defaults_from_metric() -> None:
    assert GateConfig(metric="roc_auc", threshold=0.5).higher_is_better
    assert not GateConfig(metric="rmse", threshold=1.0).higher_is_better
    assert GateConfig(metric="rmse", threshold=1.0, greater_is_better=True).higher_is_better


def test_schema_command_prints_json_schema() -> None:
    result = CliRunner().invoke(app, ["config", "--schema"])
    assert result.exit_code == 0
    assert '"gates"' in result.output
    assert '"additionalProperties": false' in result.output


def test_the_canary_policy_reads_flagger_durations() -> None:
    config = load_project(CONFS / "valid" / "full.yaml").config
    assert config.canary.interval == 30.0
    assert config.canary.divergence == "psi"
    minimal = load_project(CONFS / "valid" / "minimal.yaml").config
    # Flagger's defaults: a check a minute, the first failed check rolls back.
    assert (minimal.canary.interval, minimal.canary.threshold) == (60.0, 1)


def test_the_canary_policy_is_not_part_of_the_model_digest() -> None:
    config = load_project(CONFS / "valid" / "minimal.yaml").config
    tuned = config.model_copy(update={"canary": config.canary.model_copy(update={"threshold": 5})})
    assert tuned.digest() == config.digest()


def test_policy_overrides_name_their_flag() -> None:
    from mlgate.app.rollout.service import policy_from

    project = load_project(CONFS / "valid" / "full.yaml")
    assert policy_from(project, {"interval": "2s", "threshold": None}).interval == 2.0
    assert policy_from(project, {"threshold": None}).threshold == 3
    with pytest.raises(UsageError, match="--step-weight"):
        policy_from(project, {"step_weight": 300})
