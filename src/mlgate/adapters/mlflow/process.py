"""Who is writing: a process identity recorded on registry runs, and whether it still lives.

A pid alone is reused; a pid with its start time (in clock ticks since boot, from
/proc/PID/stat) and the boot id names one process for the machine's lifetime. A run tagged with
an identity of this machine whose process is gone was abandoned (SIGKILL, OOM, power loss) and
will never finish; one from another machine cannot be judged from here.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass

from mlgate.store import procfs

PROCESS_TAG = "mlgate.process"


def _boot_id() -> str:
    return procfs.boot_id()


def _start_ticks(pid: int) -> int | None:
    # A zombie still counts here: its PID is not free for another process yet.
    found = procfs.stat(pid)
    return found.start if found is not None else None


@dataclass(frozen=True)
class ProcessId:
    """One process on one machine, for as long as the machine has been up."""

    host: str
    boot: str
    pid: int
    start: int | None

    @classmethod
    def current(cls) -> ProcessId:
        """This process."""
        pid = os.getpid()
        return cls(socket.gethostname(), _boot_id(), pid, _start_ticks(pid))

    def to_tag(self) -> str:
        """The tag value recorded on a registry run."""
        return json.dumps(
            {"host": self.host, "boot": self.boot, "pid": self.pid, "start": self.start},
            sort_keys=True,
        )

    @classmethod
    def from_tag(cls, value: str | None) -> ProcessId | None:
        """Parse a tag value; None when absent or not ours."""
        if not value:
            return None
        try:
            raw = json.loads(value)
            return cls(str(raw["host"]), str(raw["boot"]), int(raw["pid"]), raw.get("start"))
        except (ValueError, KeyError, TypeError):
            return None

    def here(self) -> bool:
        """True when this identity is of this machine, so its liveness can be judged."""
        return self.host == socket.gethostname()

    def dead(self) -> bool:
        """True when this machine's process is certainly gone (rebooted, or pid gone/reused)."""
        if not self.here():
            return False
        if self.boot and self.boot != _boot_id():
            return True
        if self.start is None:  # no /proc when it was recorded: the pid is all there is
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        return _start_ticks(self.pid) != self.start
