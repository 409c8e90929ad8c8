"""Fixtures for local releases: small real bundles that behave differently, a registry that
holds them, steady client load, and clean-up of everything a release started.

The bundles (logistic regressions on the demo data, trained in about a second each):

    stable    the incumbent
    good      the same model with another regularisation: answers like the incumbent
    shifted   trained on labels a broken pipeline skewed towards churn: valid-looking,
              same latency, but predicts churn far more often
    worse     predicts at random with the training class prior: the same share of churn as
              the others, much lower accuracy (only fed-back labels tell)
"""

from __future__ import annotations

import math
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlgate.app.rollout import state as release_state
from mlgate.app.rollout.sources import ReleaseCheck
from mlgate.app.rollout.stop import stop_rollout
from mlgate.core.policy import CanaryConfig

# These tests are of the release itself: their bundles are trained, not gated or registered.
UNGATED = ReleaseCheck(override="a test of the release itself: its bundles are not gated")
MODEL_BLOCK = re.compile(r"model:\n(?:  .*\n|    .*\n)+")
ESTIMATORS = {
    "stable": "estimator: sklearn.linear_model.LogisticRegression\n  params: {max_iter: 300}",
    "good": "estimator: sklearn.linear_model.LogisticRegression\n  params: {max_iter: 300, C: 0.5}",
    "shifted": "estimator: sklearn.linear_model.LogisticRegression\n  params: {max_iter: 300}",
    "worse": "estimator: sklearn.dummy.DummyClassifier\n  params: {strategy: stratified}",
}


@dataclass(frozen=True)
class Bundles:
    """Trained bundles by name, and labelled rows to send them."""

    paths: dict[str, Path]
    rows: list[dict[str, Any]]
    labels: list[int]
    project: Path

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]


def _train(template: Path, root: Path, name: str) -> Path:
    from mlgate.app.train import train
    from mlgate.store.project import load_project

    project = root / name
    shutil.copytree(template, project)
    config = project / "mlgate.yaml"
    block = f"model:\n  {ESTIMATORS[name]}\n  onnx: never\n"
    config.write_text(MODEL_BLOCK.sub(block, config.read_text(), count=1))
    if name == "shifted":
        import numpy as np
        import pandas as pd

        data = project / "data" / "churn.csv"
        frame = pd.read_csv(data)
        flip = (frame["churned"] == 0) & (np.random.default_rng(3).random(len(frame)) < 0.4)
        frame.loc[flip, "churned"] = 1
        frame.to_csv(data, index=False)
    return train(load_project(project)).bundle_dir


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    """The four bundles, and 400 demo rows (JSON-ready) with their true labels."""
    import pandas as pd

    from mlgate.app.scaffold import init_demo

    root = tmp_path_factory.mktemp("release-bundles")
    template = root / "template"
    init_demo(template, rows=2000)
    paths = {name: _train(template, root, name) for name in ESTIMATORS}
    frame = pd.read_csv(template / "data" / "churn.csv").tail(400)
    labels = [int(v) for v in frame.pop("churned")]
    frame = frame.drop(columns=["customer_id"])
    rows = [
        {str(k): None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    return Bundles(paths, rows, labels, root / "stable")


@dataclass(frozen=True)
class Registered:
    """A project whose registry holds the bundles: versions by name, champion = stable."""

    config: Path
    versions: dict[str, int]
    name: str = "churn"

    def registry(self) -> Any:
        from mlgate.adapters.mlflow import open_registry

        return open_registry(self.config)


@pytest.fixture(scope="session")
def registered(bundles: Bundles, tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """Register every bundle (gate passed) in one embedded registry; stable is champion."""
    from mlgate.adapters.mlflow import RunContext, open_registry
    from mlgate.core.gates import GateVerdict
    from mlgate.core.records.gate import GateReport
    from mlgate.store.bundle import load_bundle

    project = tmp_path_factory.mktemp("release-registry") / "project"
    shutil.copytree(bundles.project, project, ignore=shutil.ignore_patterns("models", "mlruns"))
    registry = open_registry(project / "mlgate.yaml")
    versions = {}
    for name in ESTIMATORS:
        # A passed gate report for exactly these bytes, as `mlgate gate` writes it.
        bundle = load_bundle(bundles[name])
        gate = GateReport.of(
            GateVerdict(passed=True, checks=()),
            model="churn",
            bundle=bundles[name],
            evaluated_at="2026-01-01T00:00:00+00:00",
            holdout_rows=bundle.meta.data.holdout_rows,
            challenger=dict(bundle.meta.metrics),
            bundle_digest=bundle.content_digest,
        )
        info = registry.register(bundles[name], gate, RunContext("ci", "tests", ()))
        versions[name] = info.version
    registry.promote("churn", versions["stable"], reason="first release", actor="ci")
    return Registered(project / "mlgate.yaml", versions)


def fast_policy(**changes: Any) -> CanaryConfig:
    """Short intervals for tests: 2 s checks, small windows of traffic (the machine may be
    busy: a 1 s window of a 25% canary can hold too few requests to judge). Two failed checks
    roll back: on a busy machine one short window of a few requests can be slow for reasons
    that are not the candidate's (a test that needs one says threshold=1)."""
    base: dict[str, Any] = {
        "interval": 2.0,
        "threshold": 2,
        "step_weight": 25,
        "max_weight": 100,
        "iterations": 3,
        "min_requests": 5,
    }
    return CanaryConfig.model_validate({**base, **changes})


@dataclass
class Answer:
    """One client request: sent and answered (wall clock, as release reports), the outcome,
    which variant and model version answered."""

    sent: float
    at: float
    status: str
    variant: str | None = None
    version: str | None = None
    request_id: str | None = None
    key: str | None = None


@dataclass
class Load:
    """Steady client traffic through the release's address (keep-alive clients)."""

    url: str
    rows: list[dict[str, Any]]
    labels: list[int]
    clients: int = 4
    pause: float = 0.01
    key_header: str | None = None
    feedback: bool = False
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _client(self, n: int) -> None:
        i = 0
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                i += 1
                k = (n * 7919 + i) % len(self.rows)
                key = f"user-{(n * 31 + i) % 40}"
                headers = {self.key_header: key} if self.key_header else {}
                sent = time.time()
                try:
                    r = client.post(
                        f"{self.url}/predict", json={"instances": [self.rows[k]]}, headers=headers
                    )
                    body = r.json() if r.status_code == 200 else {}
                    answer = Answer(
                        sent,
                        time.time(),
                        str(r.status_code),
                        r.headers.get("x-mlgate-variant"),
                        body.get("version"),
                        r.headers.get("x-request-id"),
                        key if self.key_header else None,
                    )
                    if self.feedback and r.status_code == 200:
                        client.post(
                            f"{self.url}/feedback",
                            json={"request_id": answer.request_id, "label": self.labels[k]},
                        )
                except httpx.HTTPError as exc:
                    answer = Answer(sent, time.time(), type(exc).__name__)
                self.answers.append(answer)
                self._stop.wait(self.pause)

    def __enter__(self) -> Load:
        self._threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True)
            for n in range(self.clients)
        ]
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def failed(self, since: float = 0.0) -> list[Answer]:
        return [a for a in self.answers if a.at >= since and a.status != "200"]

    def wait_answers(self, n: int, timeout: float = 60) -> None:
        wait_until(lambda: len(self.answers) >= n, timeout, f"{n} answers")

    def sent_after(self, t: float, n: int = 20, timeout: float = 60) -> list[Answer]:
        """At least `n` answers to requests sent after `t` (waits for them)."""
        wait_until(
            lambda: sum(a.sent > t for a in self.answers) >= n, timeout, f"{n} answers after t"
        )
        return [a for a in self.answers if a.sent > t]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A release state directory; whatever the release started there is stopped after."""
    path = tmp_path / "release"
    yield path
    if (path / release_state.STATE_FILE).is_file():
        stop_rollout(path, registry=None)


@dataclass(frozen=True)
class Running:
    """A release that serves the stable bundle: its state directory and address."""

    state_dir: Path
    url: str


def _serving_stable(state_dir: Path, bundles: Bundles) -> bool:
    from mlgate.app.rollout import local, variants

    state = release_state.load(state_dir)
    return (
        (state.rollout is None or not state.rollout.active)
        and state.environment is not None
        and state.stable is not None
        and state.stable.source == str(bundles["stable"])
        and local.environment_running(state.environment)
        and variants.running(state.stable)
    )


@pytest.fixture(scope="session")
def _shared_release(bundles: Bundles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("shared-release") / "release"
    yield path
    if (path / release_state.STATE_FILE).is_file():
        stop_rollout(path, registry=None)


@pytest.fixture
def incumbent(_shared_release: Path, bundles: Bundles) -> Running:
    """The stable bundle released directly, shared by the tests whose candidates are rolled
    back (a rollback leaves it serving as it was); started again when a test left it otherwise.
    Starting servers is most of these tests' time."""
    from mlgate.app.rollout.controller import RolloutRequest, run_rollout

    state_dir = _shared_release
    if not _serving_stable(state_dir, bundles):
        if (state_dir / release_state.STATE_FILE).is_file():
            stop_rollout(state_dir, registry=None)
        run_rollout(
            RolloutRequest(
                state_dir, "direct", str(bundles["stable"]), fast_policy(), check=UNGATED
            ),
            registry=None,
        )
    env = release_state.load(state_dir).environment
    assert env is not None
    return Running(state_dir, env.url)
