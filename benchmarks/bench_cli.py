"""Start-up cost of the `mlgate` console script: --help, --version and usage errors.

    .venv/bin/python -m benchmarks.bench_cli [--runs 15] [--quick]

Every case is a fresh process of the installed console script, started from an empty directory
with stdout and stderr captured. Each case runs once to warm the page cache, then `--runs`
rounds run every case once in turn, so background noise falls on all of them alike. The floors
`python -c pass` and `python -c "import typer"` run in the same rounds; the table reports
median and p90 and the ratios to the floors. Target: under 0.3 s each, and no heavy library
(pandas, scikit-learn, MLflow, ...) imported, checked with `python -X importtime` on the same
arguments. `--version` is timed only when it exits 0. Writes benchmarks/RESULTS_cli.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from benchmarks.summary import Row, add_quick_flag, detail_path, this_command, write_summary

TIMEOUT_S = 600
TARGET_S = 0.3
# Libraries that only commands need: none may load for --help or a usage error.
HEAVY = (
    "pandas",
    "sklearn",
    "mlflow",
    "numpy",
    "scipy",
    "onnxruntime",
    "fastapi",
    "uvicorn",
    "dvc",
)
# What the console script does, with -X importtime in front.
ENTRY = "import sys; from mlgate.cli import main; sys.exit(main(sys.argv[1:]))"


@dataclass
class Case:
    """One command line, its timings and what it printed."""

    label: str
    argv: list[str]
    mlgate_args: list[str] | None = None  # None for the floors
    times: list[float] = field(default_factory=list)
    exits: set[int] = field(default_factory=set)
    stderr_head: str = ""
    heavy: list[str] = field(default_factory=list)
    imports_ms: dict[str, float] = field(default_factory=dict)

    @property
    def timed(self) -> bool:
        """False for `--version` when the CLI has no such option (it does not exit 0)."""
        return self.label != "mlgate --version" or self.exits == {0}


def run_once(case: Case, cwd: Path) -> None:
    """One fresh process; records its wall time and exit code."""
    start = time.perf_counter()
    done = subprocess.run(case.argv, cwd=cwd, capture_output=True, text=True, check=False)
    case.times.append(time.perf_counter() - start)
    case.exits.add(done.returncode)
    if not case.stderr_head and done.returncode != 0:
        case.stderr_head = error_line(done.stderr)


def error_line(stderr: str) -> str:
    """The error a failed command reports: after a traceback, the exception line (the first
    unindented line after it), not a closing notice; otherwise the last line."""
    lines = stderr.splitlines()
    if "Traceback (most recent call last):" in lines:
        after = lines[lines.index("Traceback (most recent call last):") + 1 :]
        for line in after:
            if line.strip() and not line[0].isspace():
                return line.strip()
    rest = [ln.strip() for ln in lines if ln.strip()]
    return rest[-1] if rest else ""


def import_profile(case: Case, cwd: Path, repeat: int = 3) -> None:
    """Heavy modules imported, and import time per top-level package: the sum of its modules'
    own times in `-X importtime` (additive, unlike cumulative times), best of `repeat` runs."""
    assert case.mlgate_args is not None
    argv = [sys.executable, "-X", "importtime", "-c", ENTRY, *case.mlgate_args]
    best: dict[str, float] = {}
    for _ in range(repeat):
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
        packages: dict[str, float] = {}
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "imported package" in line:
                continue
            own, _cumulative, name = line.removeprefix("import time:").split("|", 2)
            top = name.strip().split(".")[0]
            packages[top] = packages.get(top, 0.0) + int(own) / 1000
        best = {k: min(v, best.get(k, v)) for k, v in packages.items()}
    case.heavy = [h for h in HEAVY if h in best]
    case.imports_ms = best


def p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 9 // 10) - 1)]


def main() -> None:
    """Time every case, check imports, write the summary and RESULTS_cli.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    add_quick_flag(parser, "5 rounds instead of 15")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs

    mlgate = Path(sys.executable).with_name("mlgate")
    if not mlgate.exists():
        raise SystemExit(f"{mlgate} not found: install mlgate into this environment first")
    py = sys.executable
    cases = [
        Case("python -c pass", [py, "-c", "pass"]),
        Case('python -c "import typer"', [py, "-c", "import typer"]),
        *(
            Case(f"mlgate {' '.join(a)}", [str(mlgate), *a], a)
            for a in (["--help"], ["--version"], ["run", "--bogus"], ["rnu"])
        ),
    ]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-cli-") as tmp:
        cwd = Path(tmp)
        for case in cases:
            run_once(case, cwd)  # warm-up, and the exit code that decides --version
            case.times.clear()
        timed = [c for c in cases if c.timed]
        for _ in range(runs):
            for case in timed:
                run_once(case, cwd)
        for case in cases:
            if case.mlgate_args is not None:
                import_profile(case, cwd)

    rows = summary_rows(cases)
    for row in rows:
        print(f"{row.what}: {row.measured} (target {row.target}, met {row.met})")
    detail = detail_path("cli", args.quick)
    detail.parent.mkdir(parents=True, exist_ok=True)
    load = (load_before, os.getloadavg()[0])
    detail.write_text(render(cases, runs, this_command(), load), encoding="utf-8")
    write_summary(rows, quick=args.quick)


def summary_rows(cases: list[Case]) -> list[Row]:
    """One row per mlgate case: median and p90 against 0.3 s, and no heavy import."""
    floor = statistics.median(cases[0].times)
    typer_floor = statistics.median(cases[1].times)
    target = f"< {TARGET_S} s median, no heavy import"
    rows = []
    for case in cases[2:]:
        what = f"`{case.label}`, fresh process"
        if not case.timed:
            code = ", ".join(map(str, sorted(case.exits)))
            rows.append(Row(what, target, f"n/a: exits {code} (no such option yet)", None))
            continue
        med = statistics.median(case.times)
        measured = (
            f"{med:.3f} s median, p90 {p90(case.times):.3f} s "
            f"({med / typer_floor:.1f}x `import typer`, {med / floor:.1f}x `python -c pass`)"
        )
        if case.heavy:
            measured += "; imports " + ", ".join(case.heavy)
        expected = 0 if case.label in ("mlgate --help", "mlgate --version") else 2
        if case.exits != {expected}:
            measured += f"; exit {', '.join(map(str, sorted(case.exits)))}, expected {expected}"
        rows.append(Row(what, target, measured, med < TARGET_S and not case.heavy))
    return rows


def render(cases: list[Case], runs: int, command: str, load: tuple[float, float]) -> str:
    """benchmarks/RESULTS_cli.md."""
    floor = statistics.median(cases[0].times)
    typer_floor = statistics.median(cases[1].times)
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("typer", "click", "rich"))
    lines = [
        "# CLI start-up: `mlgate --help`, `--version` and usage errors",
        "",
        "Command (from the repository root):",
        "",
        f"    {command}",
        "",
        "Each case is a fresh process of the installed console script (`.venv/bin/mlgate`),",
        "started from an empty temporary directory with stdout and stderr captured (no terminal).",
        f"One warm-up run per case, then {runs} rounds that run every case once in turn, so",
        "background load falls on all cases alike: compare the ratios, not the seconds across",
        f"runs. Target: < {TARGET_S} s median and no heavy module imported.",
        "",
        f"Machine: {platform.machine()}, {_cores()} cores shared with other jobs (load average "
        f"{load[0]:.1f} before, {load[1]:.1f} after), Python {platform.python_version()}, "
        f"{versions}.",
        "",
        "| case | exit | median s | p90 s | x `python -c pass` | x `import typer` | heavy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for case in cases:
        code = ", ".join(map(str, sorted(case.exits)))
        if not case.timed:
            lines.append(f"| `{case.label}` | {code} | n/a | n/a | n/a | n/a | — |")
            continue
        med = statistics.median(case.times)
        heavy = "—" if case.mlgate_args is None else (", ".join(case.heavy) or "none")
        lines.append(
            f"| `{case.label}` | {code} | {med:.3f} | {p90(case.times):.3f} | "
            f"{med / floor:.1f} | {med / typer_floor:.2f} | {heavy} |"
        )
    lines += [
        "",
        f"Heavy modules looked for: {', '.join(HEAVY)} — in `python -X importtime -c "
        f'"{ENTRY}" ARGS`, the console script\'s own code path.',
        "",
        "## Exit codes and the error on stderr",
        "",
        "mlgate's convention: 0 for `--help`/`--version`, 2 for a usage error, 70 for a bug.",
        "",
        "| case | exit | error line on stderr |",
        "| --- | ---: | --- |",
    ]
    for case in cases[2:]:
        code = ", ".join(map(str, sorted(case.exits)))
        head = case.stderr_head.replace("|", "\\|") or "—"
        lines.append(f"| `{case.label}` | {code} | {head} |")
    lines += [
        "",
        "## Where the import time goes",
        "",
        "Import time of each top-level package: the sum of its modules' own times (ms,",
        "`-X importtime`, best of 3 runs), the largest 12, and all imports together.",
        "",
        "| package | " + " | ".join(f"`{c.label}`" for c in cases[2:]) + " |",
        "| --- |" + " ---: |" * len(cases[2:]),
    ]
    totals: dict[str, float] = {}
    for case in cases[2:]:
        for pkg, ms in case.imports_ms.items():
            totals[pkg] = max(totals.get(pkg, 0.0), ms)
    for pkg in sorted(totals, key=lambda p: -totals[p])[:12]:
        cells = [f"{c.imports_ms[pkg]:.0f}" if pkg in c.imports_ms else "—" for c in cases[2:]]
        lines.append(f"| {pkg} | " + " | ".join(cells) + " |")
    sums = [f"{sum(c.imports_ms.values()):.0f}" for c in cases[2:]]
    lines.append("| **all imports** | " + " | ".join(sums) + " |")
    return "\n".join(lines) + "\n"


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    main()
