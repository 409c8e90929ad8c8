"""The one /proc reader: /proc/PID/stat parsed whatever the command name holds, processes
found by parent, zombies not counted; on a /proc tree written in a temporary directory, and
on this process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlgate.store import procfs

pytestmark = pytest.mark.unit


def stat_line(pid: int, comm: str, state: str, ppid: int, start: int) -> str:
    # Fields 4.. up to 21 are not read; field 22 is the start time.
    middle = " ".join(["0"] * 17)
    return f"{pid} ({comm}) {state} {ppid} {middle} {start} 0 0\n"


def fake_proc(tmp_path: Path, *rows: tuple[int, str, str, int, int]) -> Path:
    for pid, comm, state, ppid, start in rows:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(stat_line(pid, comm, state, ppid, start))
    (tmp_path / "self").mkdir()  # not a PID: skipped
    return tmp_path


def test_a_command_name_with_spaces_and_parentheses() -> None:
    found = procfs.parse_stat(stat_line(42, "nginx: worker (x) )", "S", 7, 123456))
    assert found == procfs.Stat(pid=42, state="S", ppid=7, start=123456)
    assert found.running


@pytest.mark.parametrize(
    "text", ["", "42 (cut) S 1 2", "x (y) S a b c d e f g h i j k l m n o p q r s"]
)
def test_a_short_or_damaged_stat_is_none(text: str) -> None:
    assert procfs.parse_stat(text) is None


def test_start_time_of_a_running_process_only(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, (10, "a", "S", 1, 500), (11, "b", "Z", 1, 600), (12, "c", "X", 1, 7))
    assert procfs.start_time(10, root) == 500
    assert procfs.start_time(11, root) is None  # a zombie
    assert procfs.start_time(12, root) is None  # dead
    assert procfs.start_time(99, root) is None  # no such process
    stat = procfs.stat(11, root)
    assert stat is not None
    assert stat.start == 600
    assert not stat.running


def test_children_are_found_by_parent_zombies_left_out(tmp_path: Path) -> None:
    root = fake_proc(
        tmp_path,
        (10, "nginx: master", "S", 1, 1),
        (11, "nginx: worker", "S", 10, 2),
        (12, "nginx: worker", "Z", 10, 3),
        (13, "nginx: worker", "R", 10, 4),
        (14, "other", "S", 11, 5),
    )
    assert procfs.children(10, root) == {11, 13}
    assert procfs.children(14, root) == set()


def test_this_process_and_the_boot(tmp_path: Path) -> None:
    me = procfs.stat(os.getpid())
    assert me is not None
    assert me.ppid == os.getppid()
    assert me.running
    assert procfs.start_time(os.getpid()) == me.start
    assert procfs.boot_id(tmp_path) == ""
    (tmp_path / "sys/kernel/random").mkdir(parents=True)
    (tmp_path / "sys/kernel/random/boot_id").write_text("abc-123\n")
    assert procfs.boot_id(tmp_path) == "abc-123"
