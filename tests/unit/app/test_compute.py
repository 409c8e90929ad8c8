"""`app.compute`: `--compute` / `--address` / RAY_ADDRESS over `compute:`, the refusals of a Ray
run, and a local run that never touches Ray."""

from __future__ import annotations

import socket

import pandas as pd
import pytest

from mlgate.app.compute import check_compute, fit_where, ray_address, with_compute
from mlgate.core.config import Config
from mlgate.core.infer import infer_schema
from mlgate.errors import ConfigError, InfraError

pytestmark = pytest.mark.unit


def _config(**compute: object) -> Config:
    return Config.model_validate(
        {"name": "m", "data": {"path": "d.csv", "target": "y"}, "compute": compute}
    )


def test_the_flag_wins_then_the_config_then_the_environment() -> None:
    config = _config(engine="ray", address="cfg:1")
    assert with_compute(config, None, "flag:2", "env:3").compute.address == "flag:2"
    assert with_compute(config, None, None, "env:3").compute.address == "cfg:1"
    assert with_compute(_config(engine="ray"), None, None, "env:3").compute.address == "env:3"
    turned = with_compute(_config(), "ray", None, "env:3").compute
    assert (turned.engine, turned.address) == ("ray", "env:3")


def test_a_local_run_ignores_ray_address_and_keeps_its_config() -> None:
    config = _config()
    assert with_compute(config, None, None, "not an address") is config


def test_a_bad_address_flag_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"^--address / RAY_ADDRESS: 'nowhere' is not a Ray"):
        with_compute(_config(), "ray", "nowhere", None)


def test_a_ray_run_needs_an_address() -> None:
    with pytest.raises(ConfigError, match="no cluster address") as raised:
        ray_address(_config(engine="ray"))
    assert "RAY_ADDRESS" in (raised.value.hint or "")


def test_a_ray_run_refuses_the_projects_own_code() -> None:
    config = Config.model_validate(
        {
            "name": "m",
            "data": {"path": "d.csv", "target": "y"},
            "model": {"pipeline": "team.pipeline:build"},
            "compute": {"engine": "ray", "address": "h:1"},
        }
    )
    with pytest.raises(ConfigError, match=r"does not run model\.pipeline"):
        ray_address(config)


def test_an_unreachable_cluster_is_exit_3_before_any_work() -> None:
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(InfraError, match=f"127.0.0.1:{port}: no Ray cluster answers") as e:
            check_compute(_config(engine="ray", address=f"127.0.0.1:{port}"))
    assert e.value.exit_code == 3


def test_a_local_fit_has_no_compute_record() -> None:
    frame = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [i % 2 for i in range(40)]})
    schema = infer_schema(frame, target="y")
    config = Config.model_validate(
        {
            "name": "m",
            "data": {"path": "d.csv", "target": "y"},
            "model": {"estimator": "sklearn.linear_model.LogisticRegression"},
            "evaluation": {"min_holdout_rows": 1},
        }
    )
    fitted, record = fit_where(config, schema, frame)
    assert record is None
    assert len(fitted.predictions) == len(fitted.split.y_test)
