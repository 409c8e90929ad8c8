"""`mlgate run` against the article's plain training script, on the same 200,000-row dataset.

    .venv/bin/python -m benchmarks.bench_pipeline [--rows 200000] [--repeat 1] [--quick]

The plain script reads the CSV, splits 80/20, fits RandomForestClassifier(100 trees), prints
accuracy and dumps the model with joblib; it one-hot encodes and fills missing values, the least
a random forest needs. mlgate runs the same estimator (same parameters) through its whole
pipeline: schema + drift validation, the preprocessing Pipeline, the bundle (MLflow Model,
lineage, profile, SHA256SUMS), holdout metrics and gates. Both run as fresh processes, one after
the other, in the same run; the table reports seconds and the ratio, and where mlgate's time
goes (from `mlgate run --json`). `--quick` uses 20,000 rows, where the target does not apply.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from benchmarks.summary import Row, add_quick_flag, write_summary

TIMEOUT_S = 1200
TARGET_RATIO = 1.3
TARGET_ROWS = 200_000
QUICK_ROWS = 20_000
ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "pipeline"
MLGATE = str(Path(sys.executable).with_name("mlgate"))

PLAIN = textwrap.dedent(
    """
    import sys, joblib, pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(sys.argv[1])
    y = df.pop("churned")
    X = pd.get_dummies(df.drop(columns=["customer_id"])).fillna(0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    model = RandomForestClassifier(n_estimators=100, random_state=42)
    model.fit(X_train, y_train)
    print("accuracy", accuracy_score(y_test, model.predict(X_test)))
    joblib.dump(model, sys.argv[2])
    """
)

CONFIG_ESTIMATOR = """\
model:
  estimator: sklearn.ensemble.RandomForestClassifier
  params:
    n_estimators: 100
"""


def _timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done.stdout


def prepare(rows: int) -> Path:
    """A demo project on `rows` rows whose model is the plain script's random forest."""
    project = WORK / f"demo-{rows}"
    subprocess.run(
        [MLGATE, "init", "--demo", str(project), "--rows", str(rows), "--force", "--no-dvc"],
        check=True,
        capture_output=True,
    )
    config = project / "mlgate.yaml"
    text = config.read_text()
    start = text.index("model:\n")
    end = text.index("split:\n")
    config.write_text(text[:start] + CONFIG_ESTIMATOR + "\n" + text[end:])
    return project


def main() -> None:
    """Run both, print and record the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=TARGET_ROWS)
    parser.add_argument("--repeat", type=int, default=1)
    add_quick_flag(parser, f"{QUICK_ROWS:,} rows (the target is for {TARGET_ROWS:,})")
    args = parser.parse_args()
    if args.quick:
        args.rows = QUICK_ROWS

    WORK.mkdir(parents=True, exist_ok=True)
    project = prepare(args.rows)
    script = WORK / "plain_train.py"
    script.write_text(PLAIN)
    data = project / "data" / "churn.csv"

    plain_times: list[float] = []
    mlgate_times: list[float] = []
    stages: dict[str, float] = {}
    for _ in range(args.repeat):
        t, _out = _timed([sys.executable, str(script), str(data), str(WORK / "plain.joblib")], WORK)
        plain_times.append(t)
        t, out = _timed([MLGATE, "run", "--json"], project)
        mlgate_times.append(t)
        stages = {s["name"]: s["seconds"] for s in json.loads(out)["stages"]}

    help_times = [_timed([MLGATE, "--help"], ROOT)[0] for _ in range(5)]
    plain = statistics.median(plain_times)
    ours = statistics.median(mlgate_times)
    accounted = sum(stages.values())
    lines = [
        f"rows: {args.rows}, repeats: {args.repeat} (median), cores: {os.cpu_count()}",
        "",
        "| what | seconds |",
        "| --- | --- |",
        f"| plain script (read, split, RF 100, accuracy, joblib) | {plain:.2f} |",
        f"| `mlgate run` (validate, train, gate, bundle) | {ours:.2f} |",
        f"| **ratio mlgate / plain** | **{ours / plain:.2f}x** |",
        *(f"| - stage `{k}` | {v:.2f} |" for k, v in stages.items()),
        f"| - start-up, data load, rendering | {ours - accounted:.2f} |",
        f"| `mlgate --help` (median of 5) | {statistics.median(help_times):.3f} |",
    ]
    print("\n".join(lines))
    result_file = WORK / "result.md"
    result_file.write_text("\n".join(lines) + "\n")
    ratio = ours / plain
    row = Row(
        what=f"`mlgate run` vs plain training script, {args.rows:,} rows",
        target=f"<= {TARGET_RATIO}x at {TARGET_ROWS:,} rows",
        measured=f"{ratio:.2f}x ({ours:.1f} s vs {plain:.1f} s)",
        met=ratio <= TARGET_RATIO if args.rows == TARGET_ROWS else None,
    )
    write_summary([row], quick=args.quick)


if __name__ == "__main__":
    main()
