"""The smoke test's waiting and the failed image's untagging against a fake container engine:
what they ask of the engine, and what they say when the container dies. The real engine is
exercised by the e2e tests (tests/e2e)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from mlgate.adapters.procs import free_port
from mlgate.app.image.build import _untag
from mlgate.app.image.smoke import wait_ready
from mlgate.errors import GateFailed, InfraError

pytestmark = pytest.mark.unit


@dataclass
class FakeEngine:
    """A container engine whose one container has exited with `exit_code`."""

    exit_code: int = 1
    rmi_status: int = 0
    commands: list[list[str]] = field(default_factory=list)
    name: str = "podman"

    def run(
        self,
        args: Sequence[str],
        *,
        what: str,
        timeout: float | None = None,
        capture: bool = True,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(args))
        return subprocess.CompletedProcess(list(args), self.rmi_status, "", "no such image")

    def inspect_image(self, ref: str) -> dict[str, Any]:
        return {}

    def container_state(self, container: str) -> dict[str, Any]:
        return {"Running": False, "ExitCode": self.exit_code}

    def logs(self, container: str, tail: int = 40) -> str:
        return f"{container}: ModuleNotFoundError: onnxruntime"

    def remove(self, container: str, *, timeout_s: float = 30.0) -> None:
        self.commands.append(["rm", container])


def test_a_container_that_exits_before_ready_fails_the_smoke_test_with_its_logs() -> None:
    engine = FakeEngine(exit_code=3)
    # Nothing listens on the port: the container "exited" before it served.
    base_url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(GateFailed, match=r"exited \(code 3\)") as caught:
        wait_ready(engine, "smoke-1", base_url, deadline_s=30)
    assert "smoke-1: ModuleNotFoundError: onnxruntime" in caught.value.message


def test_an_image_that_failed_is_untagged() -> None:
    engine = FakeEngine()
    _untag(engine, "localhost/churn:abc")
    assert engine.commands == [["rmi", "localhost/churn:abc"]]


def test_an_image_that_cannot_be_untagged_is_an_infrastructure_error() -> None:
    with pytest.raises(InfraError, match="could not untag localhost/churn:abc"):
        _untag(FakeEngine(rmi_status=1), "localhost/churn:abc")
