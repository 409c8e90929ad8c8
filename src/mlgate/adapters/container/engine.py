"""The container engine: podman or docker, found on PATH, driven through its CLI.

Both speak the same command line for what mlgate needs (build, run, inspect, push, rm), so one
class covers both; the few differences (podman's `--digestfile`, `--format docker` for
HEALTHCHECK, `--tls-verify`) are branches here and nowhere else.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mlgate.errors import InfraError, UsageError

EngineName = Literal["podman", "docker"]
ENGINES: tuple[EngineName, ...] = ("podman", "docker")
INSTALL_HINT = (
    "install podman (Debian/Ubuntu: `apt-get install -y podman runc`; "
    "see scripts/setup-containers.sh) or Docker, or pass --engine with one that is on PATH"
)


@dataclass(frozen=True)
class Engine:
    """A container engine binary and its flavour."""

    name: EngineName
    path: str
    # Flags before the subcommand, e.g. podman's `--root DIR` for a separate image store.
    global_args: tuple[str, ...] = ()

    def command(self, *args: str) -> list[str]:
        """The argv for `ENGINE [global args] args...`."""
        return [self.path, *self.global_args, *args]

    def run(
        self,
        args: Sequence[str],
        *,
        what: str,
        timeout: float | None = None,
        capture: bool = True,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run one engine command; a failure is an InfraError quoting the engine's stderr."""
        argv = self.command(*args)
        try:
            proc = subprocess.run(
                argv,
                text=True,
                capture_output=capture,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise InfraError(
                f"{self.name} disappeared from {self.path}", hint=INSTALL_HINT
            ) from None
        except subprocess.TimeoutExpired:
            raise InfraError(
                f"{what}: `{' '.join(argv)}` did not finish in {timeout:.0f}s"
            ) from None
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout or "").strip()
            raise InfraError(f"{what} failed ({self.name} exit {proc.returncode}): {_tail(detail)}")
        return proc

    def image_exists(self, ref: str) -> bool:
        """Whether `ref` is in the engine's local image store."""
        return (
            self.run(["image", "inspect", ref], what="image inspect", check=False).returncode == 0
        )

    def inspect_image(self, ref: str) -> dict[str, Any]:
        """`image inspect` of one image, parsed."""
        out = self.run(["image", "inspect", ref], what=f"inspecting {ref}").stdout
        data = json.loads(out)
        if not isinstance(data, list) or not data:
            raise InfraError(f"{self.name} image inspect {ref} returned nothing")
        first: dict[str, Any] = data[0]
        return first

    def container_state(self, container: str) -> dict[str, Any]:
        """The `State` block of a container (Running, ExitCode, ...)."""
        out = self.run(
            ["container", "inspect", "--format", "{{json .State}}", container],
            what="container inspect",
        ).stdout
        state: dict[str, Any] = json.loads(out)
        return state

    def logs(self, container: str, tail: int = 40) -> str:
        """The last lines the container wrote (stdout and stderr), for error messages."""
        proc = self.run(["logs", "--tail", str(tail), container], what="logs", check=False)
        return ((proc.stdout or "") + (proc.stderr or "")).strip()

    def container_exists(self, container: str) -> bool:
        """True while the engine still lists the container (running, exited or being removed).

        `ps --all` rather than `container exists`: podman stops reporting a container as
        existing once its removal has started, while `ps` still lists it until it is gone.
        """
        proc = self.run(
            ["ps", "--all", "--filter", f"name=^{container}$", "--format", "{{.Names}}"],
            what="container lookup",
            check=False,
        )
        return proc.returncode != 0 or container in proc.stdout.split()

    def remove(self, container: str, *, timeout_s: float = 30.0) -> None:
        """Stop and remove a container; the error, if any, is raised (never swallowed).

        A container that is exiting on its own races with its removal (podman's cleanup
        process holds it for a moment), so removal is retried until it is gone or time is up.
        """
        # podman waits 10s for SIGTERM by default; docker's `rm --force` kills at once.
        grace = ["--time", "5"] if self.name == "podman" else []
        deadline = time.monotonic() + timeout_s
        while True:
            proc = self.run(
                ["rm", "--force", *grace, container],
                what=f"removing container {container}",
                check=False,
            )
            if not self.container_exists(container):
                return
            if time.monotonic() > deadline:
                raise InfraError(
                    f"could not remove container {container}: "
                    + (proc.stderr or proc.stdout).strip(),
                    hint=f"remove it by hand: {self.name} rm --force {container}",
                )
            time.sleep(0.2)


def find_engine(preferred: str | None = None, *, path: str | None = None) -> Engine:
    """The engine to use: `preferred` if given, else podman, else docker, from PATH.

    `path` overrides the PATH searched (tests pass an empty one). A docker client without a
    reachable daemon is found here and fails at its first command, with docker's own message.
    """
    if preferred is not None and preferred not in ENGINES:
        raise UsageError(f"--engine {preferred!r}: choose one of {', '.join(ENGINES)}")
    names: tuple[EngineName, ...] = (preferred,) if preferred else ENGINES
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return Engine(name=name, path=found)
    wanted = " or ".join(names)
    raise InfraError(f"no container engine: {wanted} is not on PATH", hint=INSTALL_HINT)


def _tail(text: str, lines: int = 15) -> str:
    parts = text.splitlines()
    return "\n".join(parts[-lines:]) if parts else "(no output)"
