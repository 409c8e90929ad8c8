"""The one reader of /proc: what the kernel says about a process (state, parent, start time)
and about the boot, for the modules that start, watch and stop processes by PID.

A PID alone is reused once its process is gone; a PID with its start time (field 22 of
/proc/PID/stat, in clock ticks since boot) names one process until the machine reboots, and the
boot id names the boot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
GONE = frozenset({"Z", "X"})  # a zombie or a dead process: it runs no more


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/PID/stat that mlgate reads."""

    pid: int
    state: str
    ppid: int
    start: int  # clock ticks since boot

    @property
    def running(self) -> bool:
        """Neither a zombie nor dead."""
        return self.state not in GONE


def parse_stat(text: str) -> Stat | None:
    """Parse /proc/PID/stat; None when it is cut short."""
    head, sep, tail = text.rpartition(")")
    # The command name (field 2) may hold spaces and parentheses: split after its last `)`.
    fields = tail.split()
    if not sep or len(fields) < 20:
        return None
    try:
        return Stat(int(head.split("(", 1)[0]), fields[0], int(fields[1]), int(fields[19]))
    except ValueError:
        return None


def stat(pid: int, root: Path = PROC) -> Stat | None:
    """The process' stat, or None when there is no such process."""
    try:
        text = (root / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return parse_stat(text)


def start_time(pid: int, root: Path = PROC) -> int | None:
    """The start time of a process that still runs (not a zombie), else None."""
    found = stat(pid, root)
    return found.start if found is not None and found.running else None


def children(pid: int, root: Path = PROC) -> set[int]:
    """The PIDs of the running (not zombie) child processes of `pid`."""
    found: set[int] = set()
    for entry in os.scandir(root):
        if not entry.name.isdigit():
            continue
        child = stat(int(entry.name), root)
        if child is not None and child.ppid == pid and child.state != "Z":
            found.add(child.pid)
    return found


def boot_id(root: Path = PROC) -> str:
    """This boot's id; empty where the kernel gives none."""
    try:
        return (root / "sys/kernel/random/boot_id").read_text(encoding="utf-8").strip()
    except OSError:
        return ""
