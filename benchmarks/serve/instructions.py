"""Instructions per single-row ONNX /predict of `mlgate serve`, counted by callgrind: the work
tree against the source trees of earlier revisions.

Run: `.venv/bin/python -m benchmarks.serve.instructions --rev 1c14dec [--rev 9ec7b07]
[--requests 2000] [--twice] [--train-rev REV]` (results: benchmarks/RESULTS_serve.md, its
section "Instructions per request against earlier revisions"; the rest of the file is kept).

The serving benchmark's model (`benchmarks.serve.run.make_model`: RandomForest, 100 trees,
20 numeric features, exported to ONNX) is trained once, with the work tree or, given
`--train-rev`, with that revision's tree (in a process of its own). Each revision's
`src/` is taken with `git archive` (no checkout, no git state changes) and put first on the
server's PYTHONPATH; every server is `mlgate serve BUNDLE --runtime onnx`, one worker, under
callgrind (`benchmarks.bench_limits.instructions_per_request`: 200 requests to warm up, then
`--requests` single-row requests from 8 keep-alive connections, counters zeroed in between),
two servers at a time, one per core.
`--twice` counts the work tree a second time, in the same run, to show the count's own spread.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from benchmarks.bench_limits import instructions_per_request, serve_cmd
from benchmarks.serve.run import ROOT, make_model
from benchmarks.summary import this_command

TIMEOUT_S = 3600
RESULTS = ROOT / "benchmarks" / "RESULTS_serve.md"
HEADING = "## Instructions per request against earlier revisions"
WORK_TREE = "work tree"
AGAIN = "work tree, again"


def source_tree(rev: str, dest: Path) -> Path:
    """`src/` as it was at `rev`, extracted under `dest` (read from git; nothing checked out)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def commit_of(rev: str) -> str:
    """The short commit `rev` names (HEAD moves; a commit does not)."""
    return subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def dirty() -> bool:
    """Whether the work tree's `src/` differs from HEAD."""
    shown = subprocess.run(
        ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
    )
    return bool(shown.stdout.strip())


def trained(work: Path, tree: Path | None = None) -> tuple[Path, list[float]]:
    """The model bundle and one row to send: trained in this process (the work tree), or by
    the source tree `tree` in a process of its own."""
    if tree is None:
        bundle_dir, _, rows = make_model(work)
        return bundle_dir, rows[0]
    out = work / "trained.json"
    code = (
        "import json, sys; from pathlib import Path; from benchmarks.serve.run import make_model;"
        " b, _, rows = make_model(Path(sys.argv[1]));"
        " Path(sys.argv[2]).write_text(json.dumps([str(b), rows[0]]))"
    )
    env = {**os.environ, "PYTHONPATH": f"{tree}:{ROOT}"}
    subprocess.run([sys.executable, "-c", code, str(work), str(out)], env=env, check=True)
    bundle, row = json.loads(out.read_text())
    return Path(bundle), row


def section(
    command: str, counted: dict[str, float], revs: list[str], requests: int, trained_by: str
) -> str:
    """The Markdown section: each tree's count and its ratio to the work tree's."""
    now = counted[WORK_TREE]
    head = commit_of("HEAD") + ("-dirty" if dirty() else "")
    lines = [
        HEADING,
        "",
        f"Command: `{command}`",
        "",
        f"`mlgate serve BUNDLE --runtime onnx` (one worker) from each source tree, under "
        f"callgrind: {requests:,} single-row `POST /predict` from 8 keep-alive connections "
        "after 200 to warm up. Model: the serving benchmark's forest (100 trees, 20 numeric "
        f"features) exported to ONNX, trained once with {trained_by}.",
        "",
        "| source tree | instructions per request | work tree / this |",
        "| --- | ---: | ---: |",
        f"| the work tree (`{head}`) | {now:,.0f} | 1.0000 |",
    ]
    if AGAIN in counted:
        again = counted[AGAIN]
        lines.append(f"| the work tree, counted again | {again:,.0f} | {now / again:.4f} |")
    for rev in revs:
        then = counted[rev]
        lines.append(
            f"| `{commit_of(rev)}` | {then:,.0f} | {now / then:.4f} ({now / then - 1:+.2%}) |"
        )
    return "\n".join([*lines, ""])


def put_section(text: str) -> None:
    """Replace (or add) this section of RESULTS_serve.md; keep what comes before it."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Serving: detail\n"
    before = old.partition(HEADING)[0].rstrip("\n")
    RESULTS.write_text(before + "\n\n" + text)


def main() -> None:
    """Count each tree's instructions per request; write the section."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rev", action="append", default=[], help="a revision to compare")
    parser.add_argument("--requests", type=int, default=2000, help="requests counted per server")
    parser.add_argument("--twice", action="store_true", help="count the work tree twice")
    parser.add_argument(
        "--train-rev", metavar="REV", help="train the model with this revision's tree"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-instructions-"))
    try:
        if args.train_rev is None:
            bundle_dir, row = trained(work)
        else:
            tree = source_tree(args.train_rev, work / "tree-train")
            bundle_dir, row = trained(work, tree)
        cmd = [*serve_cmd(bundle_dir, "onnx", True), "--port", "PORT"]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
        servers = {WORK_TREE: cmd, **({AGAIN: cmd} if args.twice else {})}
        extra: dict[str, dict[str, str]] = {}
        for rev in args.rev:
            servers[rev] = cmd
            extra[rev] = {"PYTHONPATH": str(source_tree(rev, work / f"tree-{rev}"))}
        body = json.dumps({"features": row}).encode()
        counted: dict[str, float] = {}
        names = list(servers)
        # Two at a time, one per core (the harness names its dump files by core).
        for i in range(0, len(names), 2):
            pair = {name: servers[name] for name in names[i : i + 2]}
            batch = work / f"batch-{i}"
            batch.mkdir()
            got = instructions_per_request(pair, env, body, batch, args.requests, extra)
            if got is None:
                raise SystemExit("valgrind (callgrind_control) is not installed")
            counted |= got
        by = "the work tree" if args.train_rev is None else f"`{commit_of(args.train_rev)}`"
        text = section(this_command(), counted, args.rev, args.requests, by)
        put_section(text)
        print(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
