"""The Ray adapter's edges that need no cluster: the reachability probe and the message of a
lost task (tests/integration/test_ray.py runs the rest against a real cluster)."""

from __future__ import annotations

import socket

import pytest

from mlgate.adapters.ray import _lost, probe
from mlgate.errors import InfraError

pytestmark = pytest.mark.unit


def test_a_port_nothing_listens_on_is_exit_3_naming_the_address() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(InfraError, match=f"compute.address {address}: no Ray cluster") as e:
            probe(address, timeout=1.0)
    assert e.value.exit_code == 3
    assert "ray start --head" in (e.value.hint or "")


def test_a_listening_port_passes_the_probe() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        probe(f"ray://127.0.0.1:{s.getsockname()[1]}", timeout=1.0)


def test_a_lost_task_names_the_node_rays_message_gives() -> None:
    node = "b5676da99954c5ac310d44228adf8324a33a44c6e038c7077675fe3c"
    crash = RuntimeError(
        f"The worker died unexpectedly while executing this task.\nWorker ID: 1f Node ID: {node}"
    )
    error = _lost(crash, ref=None)  # no cluster: the state API cannot say, the message can
    assert error.message.startswith(f"the Ray cluster lost a task (node {node}): The worker died")
    assert "nothing was registered" in (error.hint or "")
    assert "node unknown" in _lost(RuntimeError("gone"), ref=None).message
