"""Predict with a bundle whose project code is not the code importable here, in a process of
its own: the champion of a `model.pipeline` project, judged after the team's code moved on.

Two versions of one package cannot be imported into one process, and the champion must be
judged with the code it was trained with. The child process imports that code from the
bundle's own copy (`code/`, listed in SHA256SUMS and covered by the signature, so verified like
every other file of the bundle) through the same check as any load (`mlgate.store.code`),
never from the project, and writes its predictions (and probabilities) on the given rows as
JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import BundleError
from mlgate.model.features import to_frame
from mlgate.model.train import predict_all
from mlgate.store.bundle import Bundle, load_bundle
from mlgate.store.code import BUNDLE_CODE_DIR, check_code
from mlgate.store.trust import Trust

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Deferred imports: NumPy and pandas load when a prediction is actually made in (or read back
# from) the child process; `mlgate gate` imports this module whether or not it needs one.

TIMEOUT_S = 3600.0


def code_is_here(bundle: Bundle) -> bool:
    """Whether the code the bundle was trained with is what this process would import."""
    if bundle.meta.code is None:
        return True
    try:
        check_code(bundle.meta.code, bundle.trust.code_root)
    except BundleError:
        return False
    return True


def predict_isolated(bundle: Bundle, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """The bundle's predictions (and probabilities) on `rows` (raw rows, as read from the data
    file), made by a child process importing the bundle's own copy of its code."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="mlgate-isolated-") as tmp:
        rows_path, out_path = Path(tmp) / "rows.parquet", Path(tmp) / "out.json"
        rows.to_parquet(rows_path)
        argv = [sys.executable, "-m", "mlgate.app.isolated", str(bundle.path), str(rows_path)]
        argv += [str(out_path), str(bundle.trust.public_key or ""), *bundle.trust.types]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise BundleError(
                f"predicting with {bundle.path} took over {TIMEOUT_S:.0f} s"
            ) from None
        if done.returncode != 0 or not out_path.is_file():
            tail = "\n".join(done.stderr.strip().splitlines()[-8:])
            raise BundleError(
                f"predicting with {bundle.path} and the code it was trained with failed "
                f"(exit {done.returncode}): {tail}"
            )
        answer = json.loads(out_path.read_text(encoding="utf-8"))
    proba = answer["probabilities"]
    return np.asarray(answer["predictions"]), None if proba is None else np.asarray(proba)


def main(argv: list[str]) -> int:
    """`python -m mlgate.app.isolated BUNDLE ROWS.parquet OUT.json PUBLIC_KEY [TYPE...]`."""
    import pandas as pd

    bundle_dir, rows_path, out_path, public_key, *types = argv
    root = Path(bundle_dir)
    trust = Trust(
        public_key=Path(public_key) if public_key else None,
        types=tuple(types),
        code_root=root / BUNDLE_CODE_DIR,
    )
    bundle = load_bundle(root, trust=trust)
    x = to_frame(pd.read_parquet(rows_path), bundle.schema.features)
    pred, proba = predict_all(bundle.load_model(), x)
    answer: dict[str, Any] = {
        "predictions": pred.tolist(),
        "probabilities": None if proba is None else proba.tolist(),
    }
    Path(out_path).write_text(json.dumps(answer), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
