"""The embedded demo dataset: synthetic customer churn, deterministic for a seed.

Tabular, numeric and categorical features, some missing values, a binary target. `drift=True`
produces the population after a price rise and a campaign, so the data
gate has something real to catch: `DRIFTED_FEATURES` lists what changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlgate.store import atomic

if TYPE_CHECKING:
    import pandas as pd

TARGET = "churned"
ID_COLUMN = "customer_id"
# A price rise, a campaign that brought in younger month-to-month customers paying by
# electronic check; total_charges follows from tenure and price.
DRIFTED_FEATURES = (
    "monthly_charges",
    "total_charges",
    "contract",
    "tenure_months",
    "age",
    "payment_method",
)


def generate(rows: int = 12_000, *, seed: int = 7, drift: bool = False) -> pd.DataFrame:
    """Generate `rows` demo customers; the same arguments always give the same frame."""

    rng = np.random.default_rng(seed)
    contract_p = [0.80, 0.15, 0.05] if drift else [0.50, 0.28, 0.22]
    contract = rng.choice(["month-to-month", "one-year", "two-year"], size=rows, p=contract_p)
    tenure_scale = 12.0 if drift else 24.0
    tenure = np.clip(rng.exponential(tenure_scale, rows).round() + 1, 1, 72).astype(np.int64)
    internet = rng.choice(["fiber", "dsl", "none"], size=rows, p=[0.45, 0.35, 0.20])
    base_charge = np.where(internet == "fiber", 85.0, np.where(internet == "dsl", 55.0, 25.0))
    monthly = base_charge + rng.normal(0.0, 12.0, rows) + (25.0 if drift else 0.0)
    monthly = np.clip(monthly, 15.0, 150.0).round(2)
    total = (tenure * monthly * rng.uniform(0.9, 1.05, rows)).round(2)
    age = rng.normal(33.0 if drift else 45.0, 14.0, rows).clip(18, 90).round()
    calls = rng.poisson(1.4, rows).astype(np.int64)
    payment = rng.choice(
        ["card", "bank-transfer", "electronic-check", "mailed-check"],
        size=rows,
        p=[0.15, 0.15, 0.6, 0.1] if drift else [0.3, 0.25, 0.3, 0.15],
    )
    region = rng.choice(["north", "south", "east", "west"], size=rows)
    paperless = rng.random(rows) < 0.6

    logit = (
        -1.2
        + 1.6 * (contract == "month-to-month")
        - 1.1 * (contract == "two-year")
        - 0.045 * tenure
        + 0.022 * (monthly - 65.0)
        + 0.38 * calls
        + 0.7 * (payment == "electronic-check")
        + 0.5 * (internet == "fiber")
        + 0.25 * paperless
        - 0.008 * (age - 45.0)
    )
    churned = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    frame = pd.DataFrame(
        {
            ID_COLUMN: [f"C{seed:03d}-{i:07d}" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "age": age,
            "support_calls": calls,
            "contract": contract,
            "internet": internet,
            "payment_method": payment,
            "region": region,
            "paperless_billing": np.where(paperless, "yes", "no"),
            TARGET: churned,
        }
    )
    # Real exports have holes: blank totals for brand-new customers, unknown ages and plans.
    frame.loc[rng.random(rows) < 0.01, "total_charges"] = np.nan
    frame.loc[rng.random(rows) < 0.03, "age"] = np.nan
    frame.loc[rng.random(rows) < 0.01, "internet"] = None
    return frame


def write_csv(out: Path, rows: int = 12_000, *, seed: int = 7, drift: bool = False) -> Path:
    """`mlgate demo-data`: a sample of the demo distribution (or its drifted variant) as CSV,
    or, for a `.json` name, as the body of one `POST /predict` (`{"instances": [row, ...]}`:
    the rows without their target, a missing value as null)."""
    if out.suffix.lower() == ".json":
        frame = generate(rows, seed=seed, drift=drift).drop(columns=[TARGET])
        body = '{"instances": ' + frame.to_json(orient="records") + "}\n"
        atomic.write_text(out, body)
        return out

    with atomic.replacing(out) as tmp:
        generate(rows, seed=seed, drift=drift).to_csv(tmp, index=False)
    return out
