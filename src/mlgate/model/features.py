"""Turn raw rows into the exact frame the fitted Pipeline was trained on.

Training and serving both go through `to_frame`, so a column means the same thing in both:
numbers as float64 (booleans as 0/1), categories as strings, missing values as NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlgate.data.schema import ColumnSpec

if TYPE_CHECKING:
    import pandas as pd


def to_frame(data: pd.DataFrame, features: Sequence[ColumnSpec]) -> pd.DataFrame:
    """Select the feature columns in training order, with the dtypes the model expects."""
    import numpy as np
    import pandas as pd

    out: dict[str, object] = {}
    for spec in features:
        col = data[spec.name]
        if spec.kind == "categorical":
            values = col.astype(object)
            mask = values.isna().to_numpy()
            arr = values.map(str).to_numpy(dtype=object)
            arr[mask] = np.nan
            out[spec.name] = arr
        else:
            out[spec.name] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    # Object-dtype column labels: MLflow's signature code compares labels with a range, which
    # pandas 3 deprecates for its string dtype.
    return pd.DataFrame(out, index=data.index, columns=pd.Index(list(out), dtype=object))
