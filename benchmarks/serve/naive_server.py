"""The article's server, as the baseline: FastAPI, joblib.load, `{"features": [floats]}`.

Kept as written there (a pydantic body, a numpy reshape, one predict per request) so the
benchmark measures what teams run today. The model path comes from NAIVE_MODEL.
"""

from __future__ import annotations

import os

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
model = joblib.load(os.environ["NAIVE_MODEL"])


class Features(BaseModel):
    """One row of floats."""

    features: list[float]


@app.get("/ready")
def ready() -> dict[str, str]:
    """Liveness, for the benchmark's start-up wait."""
    return {"status": "ok"}


@app.post("/predict")
def predict(body: Features) -> dict[str, int]:
    """Predict one row."""
    x = np.array(body.features).reshape(1, -1)
    return {"prediction": int(model.predict(x)[0])}
