"""Run every benchmark, each in a fresh process, and refresh the summary tables of RESULTS.md.

    .venv/bin/python -m benchmarks.run_all [--list] [--only NAME]... [--quick] [--timeout S]
    make bench BENCH_ARGS="--quick --only cli"

A benchmark is `benchmarks/bench_NAME.py` or `benchmarks/NAME/run.py` with a `main()`; what it
must do is in `benchmarks/summary.py` (and benchmarks/README.md). They run one after the other,
never in parallel (two cores), each as `python -m MODULE [--quick]` in its own process group,
output to `benchmarks/.work/results/NAME.log`. One that fails or times out is reported in the
table and the rest still run; the exit status is then 1.

RESULTS.md keeps two tables between markers: full runs, and the latest `--quick` smoke. A run
replaces the rows of the benchmarks it ran and keeps every other row as it was (each row says
when, at which commit and by which command it was measured). Everything outside the markers is
left alone.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.summary import (
    BENCH_DIR,
    PACKAGE,
    RESULTS_DIR,
    ROOT,
    benchmark_name,
    python_path,
    results_file,
    revision,
)

RESULTS_MD = BENCH_DIR / "RESULTS.md"
DEFAULT_TIMEOUT_S = 1800.0
COLUMNS = ("benchmark", "what", "target", "measured", "met", "when", "command")
FAILED = "**FAILED**"
# The two tables in RESULTS.md, each between a begin and an end marker.
TABLES = {False: "summary", True: "quick"}


@dataclass(frozen=True)
class Benchmark:
    """One discovered benchmark."""

    name: str
    module: str
    path: Path
    title: str
    timeout_s: float


@dataclass(frozen=True)
class Outcome:
    """How one benchmark's run ended, and its rows when it ended well."""

    benchmark: Benchmark
    command: str
    status: str  # "ok", "failed" or "timeout"
    seconds: float
    detail: str
    summary: dict[str, Any] | None


# --- discovery -------------------------------------------------------------------------------


def discover(bench_dir: Path = BENCH_DIR) -> list[Benchmark]:
    """Every `bench_NAME.py` and `NAME/run.py` under `bench_dir`, sorted by name."""
    paths = [*bench_dir.glob("bench_*.py"), *bench_dir.glob("*/run.py")]
    found: dict[str, Benchmark] = {}
    problems: list[str] = []
    for path in paths:
        rel = path.relative_to(bench_dir)
        if rel.parts[0].startswith((".", "_")):
            continue
        module = ".".join((PACKAGE, *rel.with_suffix("").parts))
        name = benchmark_name(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        if not any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
            problems.append(f"{path.relative_to(ROOT)}: no top-level main()")
            continue
        if name in found:
            problems.append(f"two benchmarks named {name!r}: {found[name].path} and {path}")
            continue
        doc = ast.get_docstring(tree) or ""
        found[name] = Benchmark(
            name=name,
            module=module,
            path=path,
            title=doc.strip().splitlines()[0] if doc.strip() else "",
            timeout_s=_timeout_of(tree, path),
        )
    if problems:
        raise SystemExit("benchmarks/ does not follow the convention:\n  " + "\n  ".join(problems))
    return [found[k] for k in sorted(found)]


def _timeout_of(tree: ast.Module, path: Path) -> float:
    """The module's `TIMEOUT_S = <number>`, read without importing it."""
    for node in tree.body:
        target: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id == "TIMEOUT_S":
            literal = ast.literal_eval(value)
            if not isinstance(literal, int | float) or literal <= 0:
                raise SystemExit(f"{path}: TIMEOUT_S must be a positive number of seconds")
            return float(literal)
    return DEFAULT_TIMEOUT_S


# --- running ---------------------------------------------------------------------------------


def run_one(bench: Benchmark, quick: bool, timeout_s: float) -> Outcome:
    """Run one benchmark in a fresh process group; read and check its JSON summary."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    summary_path = results_file(bench.name)
    summary_path.unlink(missing_ok=True)  # never read an earlier run's numbers
    log = RESULTS_DIR / f"{bench.name}.log"
    flags = ["--quick"] if quick else []
    argv = [sys.executable, "-m", bench.module, *flags]
    shown = shlex.join([python_path(), "-m", bench.module, *flags])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            seconds = time.perf_counter() - start
            return Outcome(
                bench, shown, "timeout", seconds, f"timed out after {timeout_s:.0f} s", None
            )
    seconds = time.perf_counter() - start
    if _stop_group(proc):
        print(f"  {bench.name} left processes running; stopped them", flush=True)
    if code != 0:
        return Outcome(bench, shown, "failed", seconds, f"exit {code} after {seconds:.0f} s", None)
    try:
        summary = check_summary(json.loads(summary_path.read_text(encoding="utf-8")), bench, quick)
    except FileNotFoundError:
        return Outcome(bench, shown, "failed", seconds, "exit 0 but wrote no summary JSON", None)
    except (ValueError, KeyError, TypeError) as exc:
        return Outcome(bench, shown, "failed", seconds, f"bad summary JSON: {exc}", None)
    return Outcome(bench, shown, "ok", seconds, f"{seconds:.0f} s", summary)


def _stop_group(proc: subprocess.Popen[bytes]) -> bool:
    """Stop whatever is left in the benchmark's process group; True if anything was."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        proc.poll()  # reap the leader, or it stays in the group as a zombie
        time.sleep(0.1)
    if _group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def check_summary(data: Any, bench: Benchmark, quick: bool) -> dict[str, Any]:
    """The summary JSON, checked against the contract in benchmarks/summary.py."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    if data["benchmark"] != bench.name:
        raise ValueError(f"benchmark is {data['benchmark']!r}, expected {bench.name!r}")
    if data["quick"] is not quick:
        raise ValueError(f"quick is {data['quick']!r}, expected {quick}")
    for key in ("command", "revision", "finished"):
        if not isinstance(data[key], str):
            raise TypeError(f"{key} is not a string")
    rows = data["rows"]
    if not isinstance(rows, list) or not rows:
        raise ValueError("rows must be a non-empty list")
    for row in rows:
        for key in ("what", "target", "measured", "command"):
            if not isinstance(row[key], str):
                raise TypeError(f"row {key} is not a string: {row!r}")
        if row["met"] not in (True, False, None):
            raise TypeError(f"row met must be true, false or null: {row!r}")
    return data


# --- RESULTS.md ------------------------------------------------------------------------------


def markers(table: str) -> tuple[str, str]:
    """The comment lines around one table in RESULTS.md."""
    return f"<!-- {table}: begin (written by benchmarks/run_all.py) -->", f"<!-- {table}: end -->"


def read_table(text: str, table: str) -> list[dict[str, str]]:
    """The rows of one table of RESULTS.md, as {column: cell}."""
    begin, end = markers(table)
    if begin not in text or end not in text:
        raise SystemExit(f"{RESULTS_MD} lacks the lines {begin!r} and {end!r}")
    body = text[text.index(begin) + len(begin) : text.index(end)]
    lines = [ln.strip() for ln in body.strip().splitlines() if ln.strip().startswith("|")]
    rows = []
    for line in lines[2:]:  # header and separator
        cells = [_unescape(c.strip()) for c in _split_cells(line.strip()[1:-1])]
        if len(cells) != len(COLUMNS):
            raise SystemExit(f"{RESULTS_MD}: a {table} row has {len(cells)} cells: {line}")
        rows.append(dict(zip(COLUMNS, cells, strict=True)))
    return rows


def _split_cells(inner: str) -> list[str]:
    cells: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in inner:
        if ch == "|" and not escaped:
            cells.append("".join(current))
            current = []
        else:
            current.append(ch)
        escaped = ch == "\\" and not escaped
    cells.append("".join(current))
    return cells


def _unescape(cell: str) -> str:
    return cell.replace("\\|", "|")


def _escape(cell: str) -> str:
    return " ".join(cell.replace("|", "\\|").split())


def render_table(rows: Iterable[dict[str, str]]) -> str:
    """A Markdown table with COLUMNS."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(_escape(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def write_table(text: str, table: str, rows: list[dict[str, str]]) -> str:
    """`text` with one table replaced by `rows`."""
    begin, end = markers(table)
    head, rest = text.split(begin, 1)
    _old, tail = rest.split(end, 1)
    return f"{head}{begin}\n{render_table(rows)}\n{end}{tail}"


def rows_of(outcome: Outcome) -> list[dict[str, str]]:
    """The table rows one run contributes: its measurements, or one row saying it failed."""
    name = outcome.benchmark.name
    if outcome.summary is not None:
        when = f"{outcome.summary['finished'][:10]}, {outcome.summary['revision']}"
        return [
            {
                "benchmark": name,
                "what": r["what"],
                "target": r["target"],
                "measured": r["measured"],
                "met": {True: "yes", False: "**no**", None: "n/a"}[r["met"]],
                "when": when,
                "command": f"`{r['command']}`",
            }
            for r in outcome.summary["rows"]
        ]
    return [
        {
            "benchmark": name,
            "what": "the benchmark run",
            "target": "finishes and writes its summary",
            "measured": f"{outcome.detail}; log: benchmarks/.work/results/{name}.log",
            "met": FAILED,
            "when": f"{datetime.now(UTC):%Y-%m-%d}, {revision()}",
            "command": f"`{outcome.command}`",
        }
    ]


def merge(
    old: list[dict[str, str]], outcomes: list[Outcome], order: list[str]
) -> list[dict[str, str]]:
    """Replace the rows of benchmarks that ran well; on a failure, keep the earlier numbers
    (each dated) under a row that says it failed. Rows of benchmarks not run stay as they were.
    """
    by_name: dict[str, list[dict[str, str]]] = {}
    for row in old:
        by_name.setdefault(row["benchmark"], []).append(row)
    for outcome in outcomes:
        name = outcome.benchmark.name
        if outcome.summary is not None:
            by_name[name] = rows_of(outcome)
        else:
            earlier = [r for r in by_name.get(name, []) if r["met"] != FAILED]
            by_name[name] = rows_of(outcome) + earlier
    names = [n for n in order if n in by_name] + [n for n in by_name if n not in order]
    return [row for n in names for row in by_name[n]]


# --- command line ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, run the chosen benchmarks, rewrite the table; 1 if any failed."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run_all", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only NAME (repeatable, or a,b)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="each at its smaller --quick size (a smoke run)"
    )
    parser.add_argument(
        "--timeout", type=float, metavar="S", help="seconds per benchmark (default: its TIMEOUT_S)"
    )
    args = parser.parse_args(argv)

    benches = discover()
    if args.list:
        for b in benches:
            print(f"{b.name:<12} {b.module:<28} timeout {b.timeout_s:>5.0f} s  {b.title}")
        return 0
    if args.only:
        wanted = {n.strip() for item in args.only for n in item.split(",") if n.strip()}
        unknown = wanted - {b.name for b in benches}
        if unknown:
            known = ", ".join(b.name for b in benches)
            parser.error(f"unknown benchmark {', '.join(sorted(unknown))} (known: {known})")
        benches = [b for b in benches if b.name in wanted]

    text = RESULTS_MD.read_text(encoding="utf-8")
    table = TABLES[args.quick]
    read_table(text, table)  # fail on a broken RESULTS.md before hours of work

    outcomes: list[Outcome] = []
    for i, bench in enumerate(benches, 1):
        timeout = args.timeout or bench.timeout_s
        print(f"[{i}/{len(benches)}] {bench.name} ({bench.module}, timeout {timeout:.0f} s)")
        outcome = run_one(bench, args.quick, timeout)
        outcomes.append(outcome)
        print(f"  {outcome.status}: {outcome.detail}", flush=True)
        if outcome.summary is None:
            log = RESULTS_DIR / f"{bench.name}.log"
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            print("  | " + "\n  | ".join(tail) if tail else "  (no output)")
        else:
            for row in outcome.summary["rows"]:
                met = {True: "yes", False: "NO", None: "n/a"}[row["met"]]
                print(f"  {met:>3}  {row['what']}: {row['measured']} (target {row['target']})")

    # Re-read: a benchmark may have rewritten its own part of the file meanwhile.
    text = RESULTS_MD.read_text(encoding="utf-8")
    rows = merge(read_table(text, table), outcomes, [b.name for b in discover()])
    tmp = RESULTS_MD.with_suffix(".md.tmp")
    tmp.write_text(write_table(text, table, rows), encoding="utf-8")
    tmp.replace(RESULTS_MD)
    failed = [o.benchmark.name for o in outcomes if o.status != "ok"]
    print(f"{RESULTS_MD.relative_to(ROOT)}: {table} table updated for {len(outcomes)} benchmarks")
    if failed:
        print(f"failed or timed out: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
