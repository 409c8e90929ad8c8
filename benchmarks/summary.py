"""What a benchmark hands to `benchmarks.run_all`: its headline rows, as one JSON file.

The contract, for a benchmark named NAME:

* it lives in `benchmarks/bench_NAME.py`, or in `benchmarks/NAME/run.py` when it needs helper
  files beside it; it runs as `python -m benchmarks.bench_NAME` (or `benchmarks.NAME.run`) from
  the repository root, with its work in `main()` under `if __name__ == "__main__"`;
* it accepts `--quick` (`add_quick_flag`): a smaller size, named in the flag's help, for a fast
  smoke of the whole suite;
* it ends with `write_summary(rows, quick=...)`, which writes `benchmarks/.work/results/NAME.json`:
  `{"benchmark", "quick", "command", "revision", "finished", "rows": [{"what", "target",
  "measured", "met", "command"}]}` with `met` true, false or null (not applicable);
* it exits 0 when it measured (a missed target is a row with `met: false`) and non-zero when
  it could not;
* a Markdown detail file, if it writes one, goes to `detail_path(NAME, quick)`: the committed
  `benchmarks/RESULTS_NAME.md` on a full run, a file under `.work/` on a quick one;
* optionally, a module-level `TIMEOUT_S = <number>` bounds its run (default 1800 s).

Standard library only: run_all imports this module, and must stay light.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
RESULTS_DIR = BENCH_DIR / ".work" / "results"
PACKAGE = "benchmarks"


@dataclass(frozen=True)
class Row:
    """One line of the summary table: what was measured, against which target."""

    what: str
    target: str
    measured: str
    met: bool | None


def benchmark_name(module: str) -> str:
    """`benchmarks.bench_cli` -> `cli`; `benchmarks.image.run` -> `image`."""
    parts = module.split(".")
    if len(parts) == 2 and parts[0] == PACKAGE and parts[1].startswith("bench_"):
        return parts[1].removeprefix("bench_")
    if len(parts) == 3 and parts[0] == PACKAGE and parts[2] == "run":
        return parts[1]
    raise ValueError(f"{module} is not a benchmark: use benchmarks/bench_NAME.py or NAME/run.py")


def add_quick_flag(parser: argparse.ArgumentParser, smaller: str) -> None:
    """`--quick`, with what it makes smaller in its help text."""
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {smaller}")


def results_file(name: str) -> Path:
    """Where benchmark `name` writes its JSON summary."""
    return RESULTS_DIR / f"{name}.json"


def detail_path(name: str, quick: bool) -> Path:
    """Where benchmark `name` writes a Markdown detail file: committed only for a full run."""
    if quick:
        return RESULTS_DIR / f"{name}.md"
    return BENCH_DIR / f"RESULTS_{name}.md"


def main_module() -> str:
    """The dotted name of the module run as `__main__` (`python -m benchmarks.bench_cli`)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is not None and spec.name:
        return str(spec.name)
    script = Path(sys.argv[0]).resolve().relative_to(ROOT)
    return ".".join(script.with_suffix("").parts)


def python_path() -> str:
    """This interpreter, relative to the repository root when it lives inside it."""
    exe = Path(sys.executable)
    return str(exe.relative_to(ROOT)) if exe.is_relative_to(ROOT) else exe.name


def this_command() -> str:
    """The command line that reproduces this process, from the repository root."""
    return shlex.join([python_path(), "-m", main_module(), *sys.argv[1:]])


def revision() -> str:
    """Short commit of the work tree, `-dirty` if tracked files other than results changed."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/RESULTS*")
    return f"{head}-dirty" if dirty else head


def write_summary(rows: list[Row], *, quick: bool) -> Path:
    """Write this benchmark's rows to `benchmarks/.work/results/NAME.json`; return the path."""
    module = main_module()
    name = benchmark_name(module)
    command = this_command()
    payload = {
        "benchmark": name,
        "quick": quick,
        "command": command,
        "revision": revision(),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": [{**asdict(row), "command": command} for row in rows],
    }
    path = results_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
