"""Install uv into a virtualenv at exactly the version, and with the hashes, that uv.lock pins.

    python3 scripts/bootstrap_uv.py VENV [LOCK]

`make setup` runs this before `uv sync`, so the tool that installs everything else is itself
pinned and hash-checked. It does nothing when VENV already has that uv. uv is in the lock (the
`dev` extra), so the exact sync that follows keeps it and removes pip, which the lock does not
list; a later bootstrap (the lock moved uv) brings pip back with ensurepip first.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path


def locked_uv(lock: Path) -> tuple[str, list[str]]:
    """The version of uv that `lock` pins, and the hashes of its files."""
    with lock.open("rb") as f:
        packages = tomllib.load(f)["package"]
    for package in packages:
        if package["name"] == "uv":
            hashes = [wheel["hash"] for wheel in package.get("wheels", [])]
            if "sdist" in package:
                hashes.append(package["sdist"]["hash"])
            return str(package["version"]), hashes
    raise SystemExit(f"{lock} pins no uv: keep uv in the dev extra and run `make lock`")


def installed_uv(venv: Path) -> str | None:
    """The version of VENV's uv, or None when it has none that runs."""
    try:
        out = subprocess.run(
            [venv / "bin" / "uv", "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    # "uv 0.13.9 (x86_64-unknown-linux-gnu)"
    words = out.split()
    return words[1] if len(words) > 1 else None


def main(argv: list[str]) -> int:
    """Bootstrap uv into argv[1] from the lock at argv[2] (default uv.lock)."""
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    venv = Path(argv[1])
    lock = Path(argv[2]) if len(argv) == 3 else Path("uv.lock")
    version, hashes = locked_uv(lock)
    if installed_uv(venv) == version:
        return 0
    python = str(venv / "bin" / "python")
    has_pip = subprocess.run([python, "-m", "pip", "--version"], capture_output=True)
    if has_pip.returncode != 0:
        ensurepip = [python, "-m", "ensurepip", "--default-pip"]
        subprocess.run(ensurepip, check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        requirement = Path(tmp) / "uv.txt"
        requirement.write_text(f"uv=={version} " + " ".join(f"--hash={h}" for h in hashes) + "\n")
        installed = subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--require-hashes", "--requirement", str(requirement)],
        )  # fmt: skip
    if installed.returncode != 0:
        # pip has said why (a download failed, or a file does not match the lock's hashes).
        print(f"bootstrap_uv: could not install uv {version} into {venv}", file=sys.stderr)
    return installed.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
