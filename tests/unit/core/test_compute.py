"""`compute:`: Ray addresses parsed (not dialled), closed keys, left out of the config digest."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlgate.core.compute import ComputeConfig, host_port
from mlgate.core.config import Config

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:6379", ("127.0.0.1", 6379)),
        ("ray://head.cluster.local:10001", ("head.cluster.local", 10001)),
        ("[::1]:6379", ("::1", 6379)),
        (" head:1 ", ("head", 1)),
    ],
)
def test_an_address_names_its_host_and_port(address: str, expected: tuple[str, int]) -> None:
    assert host_port(address) == expected


@pytest.mark.parametrize(
    "address", ["head", "head:0", "head:65536", "http://head:8265", "head:port", ":6379", ""]
)
def test_anything_else_is_refused_naming_both_forms(address: str) -> None:
    with pytest.raises(ValueError, match=r"HOST:PORT .* or ray://HOST:PORT") as raised:
        host_port(address)
    assert repr(address) in str(raised.value)


def test_the_config_checks_the_address_and_its_bounds() -> None:
    assert ComputeConfig().engine == "local"
    assert ComputeConfig(engine="ray", address="h:6379").address == "h:6379"
    with pytest.raises(ValidationError, match="is not a Ray address"):
        ComputeConfig(engine="ray", address="h")
    with pytest.raises(ValidationError, match="retries"):
        ComputeConfig(retries=-1)
    with pytest.raises(ValidationError, match="cpus_per_trial"):
        ComputeConfig(cpus_per_trial=0)


def test_where_the_fit_runs_is_not_part_of_the_config_digest() -> None:
    base = {"name": "churn", "data": {"path": "d.csv", "target": "y"}}
    local = Config.model_validate(base)
    ray = Config.model_validate({**base, "compute": {"engine": "ray", "address": "h:1"}})
    other = Config.model_validate({**base, "split": {"seed": 1}})
    assert ray.digest() == local.digest()
    assert other.digest() != local.digest()
