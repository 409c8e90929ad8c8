"""Progress in a log (CI, a pipe): a line when a stage starts and ends, with its time; a
heartbeat whenever the interval passes without a line; GitHub's ::group:: folding; and the
interval taken from MLGATE_HEARTBEAT_SECONDS. The times shown come from a fake clock."""

from __future__ import annotations

import io
import re
import threading
import time

import pytest

from mlgate.cli.app import StageLines, heartbeat_interval
from mlgate.errors import UsageError

pytestmark = pytest.mark.unit


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Lines(io.StringIO):
    """A stream whose lines a test can wait for; `tick` moves `clock` on after each line."""

    def __init__(self, clock: Clock | None = None, tick: float = 0.0) -> None:
        super().__init__()
        self.changed = threading.Condition()
        self.clock, self.tick = clock, tick

    def write(self, text: str) -> int:
        with self.changed:
            n = super().write(text)
            if self.clock is not None:
                self.clock.now += self.tick
            self.changed.notify_all()
            return n

    def lines(self) -> list[str]:
        return self.getvalue().splitlines()

    def wait_for(self, count: int, deadline: float = 10.0) -> list[str]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.lines()) >= count, deadline), self.lines()
            return self.lines()


def test_each_stage_starts_and_ends_on_its_own_line_with_its_time() -> None:
    out, clock = Lines(), Clock()
    with StageLines(lambda: out, interval=3600, clock=clock) as lines:
        lines.stage("loading data")
        clock.now += 0.5
        lines.stage("training")
        clock.now += 12.25
    assert out.lines() == [
        "[    0.0s] loading data ...",
        "[    0.5s] loading data: done after 0.5s",
        "[    0.5s] training ...",
        "[   12.8s] training: done after 12.2s",
    ]


def test_a_stage_cut_short_by_an_error_says_so() -> None:
    out, clock = Lines(), Clock()

    def train_and_fail() -> None:
        with StageLines(lambda: out, interval=3600, clock=clock) as lines:
            lines.stage("training")
            clock.now += 2
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        train_and_fail()
    assert out.lines()[-1] == "[    2.0s] training: stopped after 2.0s"


def test_a_long_stage_gets_a_line_whenever_the_interval_passes_without_one() -> None:
    clock = Clock()
    out = Lines(clock, tick=10.0)  # ten seconds pass after every line
    with StageLines(lambda: out, interval=0.05, clock=clock) as lines:
        lines.stage("building the image")
        out.wait_for(3)
    shown = out.lines()
    assert shown[:3] == [
        "[    0.0s] building the image ...",
        "[   10.0s] building the image ... still running (10s)",
        "[   20.0s] building the image ... still running (20s)",
    ]
    assert re.fullmatch(r"\[ +\d+\.0s\] building the image: done after \d+\.0s", shown[-1])


def test_no_heartbeat_comes_between_stages_or_before_the_interval() -> None:
    out, clock = Lines(), Clock()
    with StageLines(lambda: out, interval=3600, clock=clock) as lines:
        lines.stage("validating data")
    assert not any("still running" in line for line in out.lines())


def test_under_github_actions_every_stage_is_a_group_and_its_end_shows_folded() -> None:
    out, clock = Lines(), Clock()
    with StageLines(lambda: out, interval=3600, github=True, clock=clock) as lines:
        lines.stage("looking up the champion in sqlite:///a%b\nc")
        clock.now += 1
        lines.stage("training")
    assert out.lines() == [
        "::group::looking up the champion in sqlite:///a%25b c",
        "[    0.0s] looking up the champion in sqlite:///a%b c ...",
        "::endgroup::",
        "[    1.0s] looking up the champion in sqlite:///a%b c: done after 1.0s",
        "::group::training",
        "[    1.0s] training ...",
        "::endgroup::",
        "[    1.0s] training: done after 0.0s",
    ]


def test_every_line_is_flushed_as_it_is_written() -> None:
    flushed: list[str] = []

    class Stream(io.StringIO):
        def flush(self) -> None:
            flushed.append(self.getvalue())

    stream = Stream()
    with StageLines(lambda: stream, interval=3600, clock=Clock()) as lines:
        lines.stage("training")
        assert flushed == ["[    0.0s] training ...\n"]


@pytest.mark.parametrize(("raw", "seconds"), [(None, 10.0), ("2.5", 2.5), ("3600", 3600.0)])
def test_the_interval_comes_from_the_environment(raw: str | None, seconds: float) -> None:
    environ = {} if raw is None else {"MLGATE_HEARTBEAT_SECONDS": raw}
    assert heartbeat_interval(environ) == seconds


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "nan", "7200"])
def test_a_bad_interval_is_a_usage_error_naming_the_variable_and_the_value(raw: str) -> None:
    with pytest.raises(UsageError) as info:
        heartbeat_interval({"MLGATE_HEARTBEAT_SECONDS": raw})
    assert f"MLGATE_HEARTBEAT_SECONDS={raw!r}" in str(info.value)
    assert info.value.exit_code == 2


def test_the_heartbeat_thread_ends_with_the_block() -> None:
    before = {t.name for t in threading.enumerate()}
    with StageLines(io.StringIO, interval=0.01, clock=time.monotonic) as lines:
        lines.stage("x")
    assert "mlgate-progress" not in {t.name for t in threading.enumerate()} - before
