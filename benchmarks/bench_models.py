"""The default model: the random forest `init` wrote before vs histogram gradient boosting.

On public tables that ship inside pip packages (those the first-contact tests use, and tables
with several categorical columns of many levels), each table goes through `mlgate init`'s own
code (`init_from_data` in a scratch directory: the roles, schema, split and config a user
gets), then mlgate's own training (`fit_frame`: the split, the Pipeline, threshold tuning where
the positive class is rare) and is scored on mlgate's holdout by mlgate's metrics, with:

- `forest`: the previous default, RandomForest (100 trees, max_depth 12, min_samples_leaf 2),
  categories one-hot encoded;
- `boosting`: the HistGradientBoosting config `init` writes now (for tables of 500 labelled
  rows or more; the forest below that), with native categories (ordinal codes, at most 255 per
  column);
- `lightgbm`: LightGBM (`lightgbm.LGBM*` as `model.estimator`, the boost extra) through the
  same Pipeline: native categories, up to 300 rounds at a learning rate of 0.05 stopped early
  on a tenth of the training rows (`model.early_stopping: auto`), threshold tuning where the
  boosting column has it;
- `sklearn`: the reference, plain scikit-learn `HistGradientBoosting*` with its defaults on the
  same training rows, categories as a pandas `category` dtype (the 254 most frequent training
  values; the rest missing) and dates as seconds since 1970, scored on the same holdout.

Run: `.venv/bin/python -m benchmarks.bench_models [--quick]` (results:
benchmarks/RESULTS_models.md). `--quick`: two tables.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from tests.tables import penguins, rdataset, seattle_weather

from benchmarks.summary import Row, add_quick_flag, detail_path, write_summary
from mlgate.app.config_text import BOOSTING, BOOSTING_PARAMS, FOREST
from mlgate.app.scaffold import init_from_data
from mlgate.core.config import Config
from mlgate.core.dates import parse_dates
from mlgate.core.metrics import compute_metrics
from mlgate.core.vocab import Task
from mlgate.model.train import Fitted, Split, fit_frame
from mlgate.store import demo
from mlgate.store.files import read_schema
from mlgate.store.project import load_project
from mlgate.store.tables import load_table

FOREST_PARAMS = {"n_estimators": 100, "max_depth": 12, "min_samples_leaf": 2, "n_jobs": -1}
MODELS = ("forest", "boosting", "lightgbm", "sklearn")
LIGHTGBM = {
    "binary": "lightgbm.LGBMClassifier",
    "multiclass": "lightgbm.LGBMClassifier",
    "regression": "lightgbm.LGBMRegressor",
}
LIGHTGBM_PARAMS = {"n_estimators": 300, "learning_rate": 0.05, "reg_lambda": 1.0}
CODES = 254  # categories the reference keeps per column (HGB takes at most 255 codes)


def _demo() -> pd.DataFrame:
    return demo.generate(12_000, seed=7)


@dataclass(frozen=True)
class Table:
    label: str
    load: Callable[[], pd.DataFrame]
    target: str
    many: str = ""  # the categorical columns of many levels, for the table


TABLES = (
    Table("Titanic (Stat2Data)", rdataset("Stat2Data", "Titanic"), "Survived"),
    Table("seattle_weather (vega)", seattle_weather, "weather"),
    Table("Caravan (ISLR)", rdataset("ISLR", "Caravan"), "Purchase"),
    Table("penguins", penguins, "species"),
    Table("Computers (Ecdat)", rdataset("Ecdat", "Computers"), "price"),
    Table("Hitters (ISLR)", rdataset("ISLR", "Hitters"), "Salary"),
    Table("TitanicSurvival (carData)", rdataset("carData", "TitanicSurvival"), "survived"),
    Table(
        "mn_police_use_of_force (openintro)",
        rdataset("openintro", "mn_police_use_of_force"),
        "subject_injury",
        "primary_offense 253, problem 126, neighborhood 86, force_type_action 41",
    ),
    Table(
        "hotel_rates (modeldata)",
        rdataset("modeldata", "hotel_rates"),
        "avg_price_per_room",
        "company 167, agent 125, country 98",
    ),
    Table(
        "lending_club (modeldata)",
        rdataset("modeldata", "lending_club"),
        "Class",
        "addr_state 50, sub_grade 35",
    ),
    Table("mlc_churn (modeldata)", rdataset("modeldata", "mlc_churn"), "churn", "state 51"),
    Table(
        "Sacramento (modeldata)",
        rdataset("modeldata", "Sacramento"),
        "price",
        "zip 68, city 37",
    ),
    Table(
        "ames (modeldata)",
        rdataset("modeldata", "ames"),
        "Sale_Price",
        "40 categorical columns: Neighborhood 28, Exterior_2nd 17",
    ),
    Table(
        "nycflights (openintro)",
        rdataset("openintro", "nycflights"),
        "arr_delay",
        "tailnum 3490, dest 102",
    ),
    Table(
        "loans_full_schema (openintro)",
        rdataset("openintro", "loans_full_schema"),
        "interest_rate",
        "state 50, sub_grade 32",
    ),
    Table("demo churn (mlgate)", _demo, "churned", "payment_method, contract (few levels)"),
)
QUICK = ("mn_police_use_of_force (openintro)", "Computers (Ecdat)")


def with_model(config: Config, name: str) -> Config:
    """The same config with the forest `init` wrote before, the boosting it writes now, or
    LightGBM."""
    assert config.task is not None  # init writes the task
    params: dict[str, Any]
    if name == "forest":
        estimator, params = FOREST[config.task], dict(FOREST_PARAMS)
    elif name == "lightgbm":
        estimator, params = LIGHTGBM[config.task], dict(LIGHTGBM_PARAMS)
    else:
        estimator, params = BOOSTING[config.task], yaml.safe_load(BOOSTING_PARAMS)["params"]
    model = config.model.model_copy(update={"estimator": estimator, "params": params})
    return config.model_copy(update={"model": model})


def score(
    task: Task, y: Any, pred: Any, proba: Any, classes: Any, positive: Any
) -> dict[str, float]:
    return compute_metrics(task, y, pred, proba, tuple(classes), positive)


def reference_frame(fitted: Fitted, x: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """Plain scikit-learn input: categories as pandas categories, dates as seconds."""
    out: dict[str, Any] = {}
    for spec in fitted.features:
        col = x[spec.name]
        if spec.kind == "categorical":
            top = train[spec.name].value_counts().index[:CODES]
            out[spec.name] = pd.Categorical(col.where(col.isin(top)), categories=top)
        elif spec.kind == "datetime":
            parsed = parse_dates(col, spec.format)
            out[spec.name] = (parsed - pd.Timestamp("1970-01-01")).dt.total_seconds()
        else:
            out[spec.name] = col.astype(np.float64)
    return pd.DataFrame(out, index=x.index)


def reference(fitted: Fitted, seed: int) -> tuple[dict[str, float], float]:
    """scikit-learn's HistGradientBoosting on mlgate's split, scored on its holdout."""
    split: Split = fitted.split
    x_train = reference_frame(fitted, split.x_train, split.x_train)
    x_test = reference_frame(fitted, split.x_test, split.x_train)
    cls = HistGradientBoostingRegressor if fitted.task == "regression" else None
    model: Any = (cls or HistGradientBoostingClassifier)(
        categorical_features="from_dtype", random_state=seed
    )
    t0 = time.perf_counter()
    model.fit(x_train, split.y_train)
    seconds = time.perf_counter() - t0
    pred = model.predict(x_test)
    proba = model.predict_proba(x_test) if fitted.task != "regression" else None
    classes = getattr(model, "classes_", ())
    return score(fitted.task, split.y_test, pred, proba, classes, fitted.positive), seconds


def run_table(table: Table, scratch: Path) -> dict[str, tuple[dict[str, float], float, str]]:
    """The three models on one table: metrics, fit seconds, notes."""
    frame = table.load()
    csv = scratch / "data.csv"
    frame.to_csv(csv, index=False)
    root = scratch / "project"
    init_from_data(root, data=csv, target=table.target, force=True)
    project = load_project(root)
    schema = read_schema(project.schema_path)
    data = load_table(project.data_path)
    out: dict[str, tuple[dict[str, float], float, str]] = {}
    boosted: Fitted | None = None
    for name in ("forest", "boosting", "lightgbm"):
        config = with_model(project.config, name)
        t0 = time.perf_counter()
        fitted = fit_frame(config, schema, data)
        seconds = time.perf_counter() - t0
        classes = getattr(fitted.model, "classes_", ())
        metrics = score(
            fitted.task,
            fitted.split.y_test,
            fitted.predictions,
            fitted.probabilities,
            classes,
            fitted.positive,
        )
        tuned = any("threshold tuned" in n for n in fitted.notes)
        out[name] = (metrics, seconds, "threshold tuned" if tuned else "")
        boosted = fitted if name == "boosting" else boosted
    assert boosted is not None
    metrics, seconds = reference(boosted, project.config.split.seed)
    out["sklearn"] = (metrics, seconds, "")
    out["_task"] = ({}, 0.0, boosted.task)
    writes = project.config.model.estimator or ""
    out["_init"] = ({}, 0.0, "boosting" if "HistGradient" in writes else "forest")
    out["_rows"] = ({}, float(len(boosted.split.y_train)), str(len(boosted.split.y_test)))
    return out


def shortfall(value: float, best: float, higher: bool) -> float:
    """How far `value` falls short of `best`, relative to it (0 when it is the best)."""
    return (best - value) / abs(best) if higher else (value - best) / abs(best)


def versus(gap: float) -> str:
    return "best" if gap <= 0 else f"-{gap:.1%}"


def headline(task: str, metrics: dict[str, float]) -> tuple[str, float, bool]:
    """The metric the table is judged by, its value, and whether higher is better."""
    if task == "regression":
        return "RMSE", metrics["rmse"], False
    if task == "binary":
        return "ROC-AUC", metrics["roc_auc"], True
    return "accuracy", metrics["accuracy"], True


def cell(task: str, metrics: dict[str, float]) -> str:
    if task == "regression":
        return f"{metrics['rmse']:.4g} / {metrics['r2']:.3f}"
    auc = metrics.get("roc_auc")
    first = f"{auc:.3f}" if auc is not None else "-"
    return f"{first} / {metrics['accuracy']:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_quick_flag(parser, "two tables")
    args = parser.parse_args(argv)
    tables = [t for t in TABLES if t.label in QUICK] if args.quick else list(TABLES)
    command = "    .venv/bin/python -m benchmarks.bench_models" + (" --quick" if args.quick else "")
    lines = [
        "# The default model: random forest vs histogram gradient boosting vs LightGBM",
        "",
        "Command:",
        "",
        command,
        "",
        "Each table through `mlgate init`'s own code (roles, schema, split, config), trained by "
        "mlgate's `fit_frame` on its split and scored on its holdout. Classification: ROC-AUC "
        "(binary) / accuracy; regression: RMSE / R². `forest`: the previous default "
        "(RandomForest 100 trees, depth 12, one-hot); `boosting`: the HistGradientBoosting config "
        "`init` writes now (native categories, through mlgate's Pipeline); `init writes`: which "
        "of the two `init` chose for the table (the forest under 500 labelled rows); `sklearn`: "
        "plain scikit-learn HistGradientBoosting on the same rows (pandas categories, dates as "
        "seconds); `lightgbm`: LightGBM through the same Pipeline (native categories, up to 300 "
        "rounds at 0.05, early stopping on a tenth of the training rows). Fit seconds on the "
        "shared 2-core machine (the mlgate columns include threshold tuning where it applies).",
        "",
        "| table | task | train / holdout rows | many-level categories | forest | boosting "
        "| lightgbm | sklearn HGB | forest s | boosting s | lightgbm s | sklearn s "
        "| boosting vs best | init writes | init's vs best |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| --- | ---: |",
    ]
    summary: list[Row] = []
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        for i, table in enumerate(tables):
            scratch = Path(tmp) / str(i)
            scratch.mkdir()
            out = run_table(table, scratch)
            task = out["_task"][2]
            values = {m: headline(task, out[m][0]) for m in MODELS}
            metric, _, higher = values["forest"]
            best = (max if higher else min)(v[1] for v in values.values())
            writes = out["_init"][2]
            gap = shortfall(values["boosting"][1], best, higher)
            init_gap = shortfall(values[writes][1], best, higher)
            worst = max(worst, init_gap)
            note = " (threshold tuned)" if out["boosting"][2] else ""
            row = (
                f"| {table.label} | {task}{note} | {int(out['_rows'][1])} / {out['_rows'][2]} "
                f"| {table.many or '-'} | "
                + " | ".join(cell(task, out[m][0]) for m in MODELS)
                + " | "
                + " | ".join(f"{out[m][1]:.1f}" for m in MODELS)
                + f" | {versus(gap)} {metric} | {writes} | {versus(init_gap)} |"
            )
            print(row, flush=True)
            lines.append(row)
            summary.append(
                Row(
                    what=f"{metric}, {table.label}: forest / boosting / lightgbm / sklearn HGB",
                    target=f"init's choice ({writes}) within 1% of the best",
                    measured=" / ".join(f"{values[m][1]:.4g}" for m in MODELS),
                    met=init_gap <= 0.01,
                )
            )
    lines.append("")
    lines.append(f"Largest shortfall of init's choice from the best of the four: {worst:.1%}.")
    lines.append("")
    detail = detail_path("models", args.quick)
    detail.parent.mkdir(parents=True, exist_ok=True)
    old = detail.read_text(encoding="utf-8") if detail.is_file() else ""
    analysis = old[old.find("\n## ") :] if "\n## " in old else ""
    detail.write_text("\n".join(lines) + analysis, encoding="utf-8")
    print(f"wrote {detail}", file=sys.stderr)
    write_summary(summary, quick=args.quick)


if __name__ == "__main__":
    main()
