"""A local release of images: the variants run as podman containers, the splitter and
Prometheus reach them on published ports, and promotion removes the old container."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from mlgate.adapters.container.engine import Engine
from mlgate.app.image.build import BuildResult
from mlgate.app.rollout import state as release_state
from mlgate.app.rollout import variants
from mlgate.app.rollout.controller import RolloutRequest, run_rollout
from mlgate.app.rollout.sources import ReleaseCheck
from mlgate.app.rollout.stop import stop_rollout
from mlgate.core.policy import CanaryConfig

pytestmark = pytest.mark.e2e
# An image carries no gate verdict mlgate can check: releasing one takes an override.
IMAGE = ReleaseCheck(override="a test of releasing images")


def test_a_canary_of_images_runs_in_containers_and_promotes(
    engine: Engine, built: BuildResult, tmp_path: Path
) -> None:
    # The same image under a second name: a candidate that behaves like the incumbent.
    candidate = f"{built.image.rsplit(':', 1)[0]}:release-candidate"
    engine.run(["tag", built.image, candidate], what="tag")
    state_dir = tmp_path / "release"
    policy = CanaryConfig(interval=1.5, step_weight=50, min_requests=3, max_p99_increase_ms=1000)
    try:
        first = run_rollout(
            RolloutRequest(state_dir, "direct", built.image, policy, engine="podman", check=IMAGE),
            registry=None,
        )
        old = release_state.load(state_dir).stable
        assert old is not None
        assert old.kind == "container"
        stop = threading.Event()
        answers: list[int] = []

        def load() -> None:
            schema = httpx.get(f"{first.url}/metadata").json()["schema"]
            row = {f["name"]: (f.get("categories") or [f.get("min")])[0] for f in schema}
            with httpx.Client(timeout=30) as client:
                while not stop.is_set():
                    r = client.post(f"{first.url}/predict", json={"instances": [row]})
                    answers.append(r.status_code)

        thread = threading.Thread(target=load)
        thread.start()
        try:
            outcome = run_rollout(
                RolloutRequest(
                    state_dir, "canary", candidate, policy, engine="podman", check=IMAGE
                ),
                registry=None,
            )
        finally:
            stop.set()
            thread.join()
        assert outcome.phase == "succeeded", outcome.reason
        assert answers
        assert set(answers) == {200}
        new = release_state.load(state_dir).stable
        assert new is not None
        assert new.source == candidate
        assert not variants.running(old)
        assert not engine.container_exists(old.container or "")
    finally:
        stop_rollout(state_dir, registry=None)
        engine.run(["rmi", candidate], what="untag", check=False)
