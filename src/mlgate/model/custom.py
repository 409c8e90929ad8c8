"""The team's own model (`model.pipeline: "PACKAGE.MODULE:FUNCTION"`).

The function lives in the project's code, which the app layer has located, pinned by hash and
imported (`mlgate.store.code`) before this module imports it by name. It returns an unfitted
scikit-learn-compatible estimator, usually a Pipeline of the team's transformers and an
estimator, that takes the feature columns of the raw rows as a DataFrame (`to_frame`); mlgate's
own `preprocess:` steps do not apply. `model.params` are the function's keyword arguments.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sysconfig
import traceback
from typing import Any

from sklearn.base import clone

from mlgate.errors import ConfigError


def package_of(pipeline: str) -> str:
    """The top-level package (or module) of `PACKAGE.MODULE:FUNCTION`."""
    return pipeline.partition(":")[0].split(".")[0]


def builder(pipeline: str) -> Any:
    """The function `pipeline` names (its package already imported by the app layer)."""
    module_name, _, name = pipeline.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"model.pipeline: cannot import {module_name!r}: {type(exc).__name__}: {exc}",
            hint="the module must be inside the project's package (src/PACKAGE/ or a module "
            "at the project root) and import cleanly",
        ) from None
    func = getattr(module, name, None)
    if not callable(func):
        raise ConfigError(
            f"model.pipeline: module {module_name!r} has no function {name!r}",
            hint=f"define `def {name}(): ...` returning an unfitted estimator, or fix the name",
        )
    return func


def _where(exc: BaseException) -> str:
    """` (at file:line)` of the innermost frame of `exc` in the team's code (not in an
    installed library or Python's own), else the innermost frame, for the message."""
    frames = traceback.extract_tb(exc.__traceback__)
    libraries = (*{sysconfig.get_path("purelib"), sysconfig.get_path("stdlib")}, __file__)
    own = [f for f in frames if not f.filename.startswith(libraries)]
    shown = own or frames
    return f" (at {shown[-1].filename}:{shown[-1].lineno})" if shown else ""


def project_estimator(pipeline: str, params: dict[str, Any], seed: int) -> Any:
    """Call the team's function with `params` and check that what it returns can be fitted,
    cloned (cross-validation and threshold tuning clone it) and seeded: a ConfigError naming
    the function otherwise. Every `random_state` left unset is set to `seed`."""
    func = builder(pipeline)
    try:
        inspect.signature(func).bind(**params)
    except TypeError as exc:
        raise ConfigError(
            f"model.params: {pipeline} does not take {', '.join(sorted(params))}: {exc}",
            hint="model.params are the keyword arguments of the model.pipeline function",
        ) from None
    try:
        estimator = func(**params)
    except Exception as exc:
        raise ConfigError(
            f"model.pipeline: {pipeline} raised {type(exc).__name__}: {exc}{_where(exc)}"
        ) from None
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
        raise ConfigError(
            f"model.pipeline: {pipeline} returned {type(estimator).__name__}, which is not an "
            "estimator (it needs fit and predict)",
            hint="return an unfitted estimator, e.g. Pipeline([...]) ending in a classifier "
            "or regressor",
        )
    try:
        clone(estimator)
        seeds = [k for k, v in estimator.get_params(deep=True).items() if _unseeded(k, v)]
    except Exception as exc:
        raise ConfigError(
            f"model.pipeline: {pipeline} returned a {type(estimator).__name__} that "
            f"scikit-learn cannot clone: {type(exc).__name__}: {exc}",
            hint="derive the team's classes from sklearn.base.BaseEstimator and keep every "
            "__init__ argument as an attribute of the same name",
        ) from None
    if seeds:
        estimator.set_params(**dict.fromkeys(seeds, seed))
    return estimator


def _unseeded(key: str, value: object) -> bool:
    return re.search(r"(^|__)random_state$", key) is not None and value is None


def fit_failed(pipeline: str, exc: Exception) -> ConfigError:
    """The team's pipeline raised while fitting: its words and where."""
    return ConfigError(
        f"model.pipeline: fitting {pipeline} failed: {type(exc).__name__}: {exc}{_where(exc)}",
        hint="run the project's own tests (pytest) on its transformers, then `mlgate run`",
    )
