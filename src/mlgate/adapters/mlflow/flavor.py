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
