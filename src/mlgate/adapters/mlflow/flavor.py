"""The bundle as an MLflow Model directory: the scikit-learn flavor in skops format (never
pickle), with signature and input example, so `mlflow models serve` and the MLflow UI work on
it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.sklearn
import skops.io
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from mlgate.errors import ConfigError
from mlgate.store.trust import Trust, refused_types, save_allow_list


def save_sklearn(
    model: Any,
    dest: Path,
    trust: Trust,
    *,
    input_example: Any,
    example_predictions: Any,
    pip_requirements: list[str],
) -> None:
    """Save the Pipeline as an MLflow Model in skops format at `dest`.

    MLflow records the types beyond skops' defaults in MLmodel (`skops_trusted_types`), so
    `mlflow models serve` can load the bundle; mlgate itself never reads that list (the file's
    author controls it) and loads with its own (`mlgate.store.trust`). A model holding a type
    mlgate does not trust is a ConfigError naming it: nobody could load the bundle.
    """
    try:
        mlflow.sklearn.save_model(
            model,
            path=str(dest),
            serialization_format="skops",
            skops_trusted_types=save_allow_list(model, trust),
            signature=infer_signature(input_example, example_predictions),
            input_example=input_example,
            pip_requirements=pip_requirements,
        )
    except MlflowException as exc:
        # MLflow wraps every failure of the skops writer, a full disk included.
        if isinstance(exc.__cause__, OSError):
            raise exc.__cause__ from None
        found = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        refused = refused_types(found, trust) or ["(a type skops cannot store)"]
        raise ConfigError(
            f"model.estimator: the fitted model contains type(s) that no mlgate process would "
            f"load: {', '.join(refused)}",
            hint="use scikit-learn estimators, or list your own classes in trust.trusted_types",
        ) from None


def save_onnx(
    onnx_bytes: bytes,
    dest: Path,
    *,
    input_example: Any,
    example_predictions: Any,
    pip_requirements: list[str],
) -> None:
    """Save a model.onnx (one `model.command` wrote) as an MLflow Model of the onnx flavor at
    `dest`: MLmodel, signature and input example beside the very bytes that were checked."""
    # The onnx extra: only a project whose model.command writes ONNX needs it.
    import mlflow.onnx
    import onnx

    mlflow.onnx.save_model(
        onnx.load_from_string(onnx_bytes),
        path=str(dest),
        signature=infer_signature(input_example, example_predictions),
        input_example=input_example,
        pip_requirements=pip_requirements,
        save_as_external_data=False,
    )
    # MLflow re-serialises the graph; the bundle keeps the bytes whose digest lineage records.
    (dest / "model.onnx").write_bytes(onnx_bytes)
