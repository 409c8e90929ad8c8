"""What a model file may contain, and who may have written it.

A scikit-learn model is stored with skops, never pickle: loading builds only allow-listed types
and refuses anything else *before* constructing a single object, naming the type. Trusted:

- skops' own defaults: every scikit-learn estimator and its internal types, numpy and scipy
  ufuncs and dtypes, Python's primitive containers;
- any other class defined in a scikit-learn module, and the scoring functions of
  `sklearn.metrics` (`sklearn_type`): what meta-estimators such as TunedThresholdClassifierCV
  keep (scorers, splitters, metadata routing);
- `numpy.dtype` (an empty array of that dtype, read with numpy's own format reader);
- the two tree node stores skops leaves out, `sklearn.tree._tree.Tree` and
  HistGradientBoosting's `TreePredictor`: scikit-learn follows their child and feature indices
  without bounds checks, so a crafted file could make `predict` read outside its arrays. mlgate
  trusts them because `check_trees` checks every index after loading and before any prediction;
- mlgate's own estimators: any class defined in an `mlgate.*` module that subclasses
  scikit-learn's `BaseEstimator` (a transformer added to mlgate is covered without a list to
  update; a function or any other class under `mlgate.` is not);
- what the user lists in `trust.trusted_types` / `MLGATE_TRUSTED_TYPES` / `--trust-type`.

The allow-list is mlgate's, never the bundle's: MLflow's own loader reads the list of trusted
types from the model's MLmodel file, which whoever wrote the model controls.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.core.config import Project
from mlgate.errors import BundleError, UsageError
from mlgate.store.project import find_project

ENV_PUBLIC_KEY = "MLGATE_PUBLIC_KEY"
ENV_SIGNING_KEY = "MLGATE_SIGNING_KEY"
ENV_SIGNING_PASSWORD = "MLGATE_SIGNING_KEY_PASSWORD"
ENV_TRUSTED_TYPES = "MLGATE_TRUSTED_TYPES"

TREE = "sklearn.tree._tree.Tree"
TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
# Trusted beyond skops' defaults; the tree stores only together with `check_trees`.
CHECKED_TYPES = ("numpy.dtype", TREE, TREE_PREDICTOR)
OWN_PREFIX = "mlgate."


@dataclass(frozen=True)
class Trust:
    """The keys and extra types in force for one command. `password` unlocks the private key;
    it comes from the environment only (never from a file) and stays out of the repr."""

    public_key: Path | None = None
    private_key: Path | None = None
    types: tuple[str, ...] = ()
    password: str | None = field(default=None, repr=False)


def split_types(raw: str | None) -> tuple[str, ...]:
    """`a.B, c.D` -> ("a.B", "c.D")."""
    return tuple(t.strip() for t in (raw or "").split(",") if t.strip())


def resolve(
    *,
    root: Path | None = None,
    public_key: str | Path | None = None,
    private_key: str | Path | None = None,
    types: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Trust:
    """Trust from the environment (first), then the given values (config or flags): the one
    place trust is read from the environment (`environ`, default the process's).

    Relative key paths are resolved against `root` (the project directory); a key that is
    configured but missing is a UsageError naming it.
    """
    env = os.environ if environ is None else environ

    def key(env_name: str, given: str | Path | None, what: str) -> Path | None:
        raw = env.get(env_name) or (str(given) if given else None)
        if not raw:
            return None
        path = Path(raw)
        if not path.is_absolute() and root is not None and not env.get(env_name):
            path = root / path
        if not path.is_file():
            source = env_name if env.get(env_name) else f"trust.{what}"
            raise UsageError(
                f"{source}: {what.replace('_', ' ')} {path} does not exist",
                hint="generate a key pair with `openssl ecparam -name prime256v1 -genkey "
                "-noout -out signing.pem && openssl ec -in signing.pem -pubout -out signing.pub`",
            )
        return path

    return Trust(
        public_key=key(ENV_PUBLIC_KEY, public_key, "public_key"),
        private_key=key(ENV_SIGNING_KEY, private_key, "private_key"),
        types=tuple(dict.fromkeys((*types, *split_types(env.get(ENV_TRUSTED_TYPES))))),
        password=env.get(ENV_SIGNING_PASSWORD) or None,
    )


# -- which types ---------------------------------------------------------------------------


def own_type(name: str) -> bool:
    """True for a scikit-learn estimator class defined in an mlgate module (by its full name).

    Only mlgate's installed modules are imported (never a module named by a file), and they
    have no side effects at import.
    """
    if not name.startswith(OWN_PREFIX):
        return False
    module_name, _, attr = name.rpartition(".")
    try:
        if importlib.util.find_spec(module_name) is None:
            return False
        module = importlib.import_module(module_name)
    except (ImportError, ValueError):
        return False
    cls = getattr(module, attr, None)
    if not inspect.isclass(cls) or cls.__module__ != module_name or cls.__qualname__ != attr:
        return False
    from sklearn.base import BaseEstimator

    return issubclass(cls, BaseEstimator)


def sklearn_type(name: str) -> bool:
    """True for a class defined in a scikit-learn module, or a scoring function of
    `sklearn.metrics` (a pure computation on arrays): what a fitted scikit-learn meta-estimator
    keeps besides estimators (scorers, splitters, metadata routing; TunedThresholdClassifierCV
    holds all of them). Other functions stay untrusted: a function reference in a model file
    is called with the model's own data, and not every function in scikit-learn is harmless.
    """
    if not name.startswith("sklearn."):
        return False
    module_name, _, attr = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    obj = getattr(module, attr, None)
    defined = getattr(obj, "__module__", "") or ""
    if inspect.isclass(obj):
        return defined.startswith("sklearn.")
    return inspect.isfunction(obj) and defined.startswith("sklearn.metrics.")


def refused_types(found: Iterable[str], trust: Trust) -> list[str]:
    """The types skops does not trust by default that mlgate does not trust either."""
    allowed = set(CHECKED_TYPES) | set(trust.types)
    return sorted(
        t for t in set(found) if t not in allowed and not own_type(t) and not sklearn_type(t)
    )


def own_types_in(model: Any) -> list[str]:
    """Full names of mlgate's own estimator classes inside a fitted model."""
    names = set()
    for obj in _objects(model):
        cls = type(obj)
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name.startswith(OWN_PREFIX) and own_type(name):
            names.add(name)
    return sorted(names)


def save_allow_list(model: Any, trust: Trust) -> list[str]:
    """The types to record as trusted when saving `model` (MLflow checks the file loads)."""
    import skops.io

    found = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    extra = [t for t in found if own_type(t) or sklearn_type(t)]
    return sorted({*CHECKED_TYPES, *trust.types, *own_types_in(model), *extra})


def audit_sklearn(data: bytes, trust: Trust, source: str) -> list[str]:
    """Refuse a model file holding a type nobody trusts, naming it, without building anything
    (skops reads the file's schema only). Returns the non-default types it holds, all trusted.
    `serve` and `build` call it before starting, so a bad file fails them at once (exit 2)."""
    import skops.io

    try:
        found: list[str] = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # a damaged or non-skops file: skops raises many types
        raise BundleError(f"{source} is not a readable skops file: {type(exc).__name__}") from None
    refused = refused_types(found, trust)
    if refused:
        raise BundleError(
            f"{source} contains type(s) mlgate does not trust: {', '.join(refused)}; "
            "loading it would run their code, so it was not loaded",
            hint="if the model is yours and these are your classes, list them in "
            "trust.trusted_types in mlgate.yaml (or MLGATE_TRUSTED_TYPES / --trust-type)",
        )
    return sorted(found)


def load_sklearn(data: bytes, trust: Trust, source: str) -> Any:
    """Build a model from skops bytes: refuse untrusted types by name, then check its trees."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    allowed = audit_sklearn(data, trust, source)
    try:
        model = skops.io.loads(data, trusted=allowed)
    except UntrustedTypesFoundException as exc:  # pragma: no cover - the audit above matches
        raise BundleError(f"{source}: {exc}") from None
    except Exception as exc:
        # For the operator (CLI, server log); clients only ever see that loading failed.
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise BundleError(f"{source} could not be loaded: {type(exc).__name__}: {detail}") from None
    check_trees(model, source)
    return model


# -- checking trees ------------------------------------------------------------------------

_TREE_FAMILIES = ("sklearn.tree.", "sklearn.ensemble.")
_LEAF = -1


def _objects(root: Any) -> Iterator[Any]:
    """Every object reachable from `root` through attributes, containers and object arrays."""
    import numpy as np

    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float | bool):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())


def check_trees(model: Any, source: str) -> None:
    """Refuse a model whose trees would make scikit-learn index outside its arrays.

    Every split node's children must come after it and inside the node array (so traversal
    ends), and every split feature must be below the number of features the enclosing
    estimators validate inputs against.
    """
    import numpy as np

    problems: list[str] = []
    # (object, feature bound of the enclosing tree-family estimators, family chain unbroken)
    stack: list[tuple[Any, int | None, bool]] = [(model, None, False)]
    seen: set[int] = set()
    while stack and not problems:
        obj, bound, in_family = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float | bool):
            continue
        seen.add(id(obj))
        name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        if name == TREE:
            problems.extend(_tree_problems(obj, bound))
            continue
        if name == TREE_PREDICTOR:
            problems.extend(_predictor_problems(obj, bound))
            continue
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((o, bound, in_family) for o in obj.ravel().tolist())
            continue
        if isinstance(obj, dict):
            stack.extend((o, bound, in_family) for o in obj.values())
            continue
        if isinstance(obj, list | tuple | set | frozenset):
            stack.extend((o, bound, in_family) for o in obj)
            continue
        if not hasattr(obj, "__dict__"):
            continue
        family = name.startswith(_TREE_FAMILIES)
        own = vars(obj).get("n_features_in_")
        inner = bound if family and in_family else None
        if isinstance(own, int | np.integer):
            inner = int(own) if inner is None else min(inner, int(own))
        stack.extend((o, inner, family) for o in vars(obj).values())
    if problems:
        raise BundleError(
            f"{source} contains a malformed decision tree: {problems[0]}; it was not loaded",
            hint="the file was not written by scikit-learn as is: retrain, or restore the bundle",
        )


def _tree_problems(tree: Any, bound: int | None) -> list[str]:
    import numpy as np

    n = int(tree.node_count)
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    feature = np.asarray(tree.feature, dtype=np.int64)
    limit = int(tree.n_features) if bound is None else min(bound, int(tree.n_features))
    return _node_problems(n, left, right, feature, limit, left == _LEAF)


def _predictor_problems(predictor: Any, bound: int | None) -> list[str]:
    import numpy as np

    nodes = predictor.nodes
    n = len(nodes)
    leaf = nodes["is_leaf"].astype(bool)
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    feature = nodes["feature_idx"].astype(np.int64)
    limit = bound if bound is not None else int(feature.max(initial=0)) + 1
    problems = _node_problems(n, left, right, feature, limit, leaf)
    categorical = nodes["is_categorical"].astype(bool) & ~leaf
    bitsets = np.asarray(predictor.raw_left_cat_bitsets)
    idx = nodes["bitset_idx"].astype(np.int64)[categorical]
    if idx.size and (idx.min() < 0 or idx.max() >= len(bitsets)):
        problems.append("a categorical split points outside its bitsets")
    return problems


def _node_problems(n: int, left: Any, right: Any, feature: Any, limit: int, leaf: Any) -> list[str]:
    import numpy as np

    if n < 1 or not (len(left) == len(right) == len(feature) == len(leaf) == n):
        return [f"node arrays of inconsistent length for {n} nodes"]
    # scikit-learn stops at a leaf without reading its children or feature, and appends
    # children after their parent: a split whose children come later cannot loop.
    index = np.arange(n)
    split = ~leaf
    if np.any(split & ((left <= index) | (right <= index) | (left >= n) | (right >= n))):
        return ["a child index points outside the tree or back up it"]
    if np.any(split & ((feature < 0) | (feature >= limit))):
        return [f"a split uses a feature outside 0..{limit - 1}"]
    return []


def project_trust(project: Project, *, environ: Mapping[str, str] | None = None) -> Trust:
    """The trust in force for a project: its `trust:` config, overridden by `environ` (default
    the process's environment)."""
    cfg = project.config.trust
    return resolve(
        root=project.root,
        public_key=cfg.public_key,
        private_key=cfg.private_key,
        types=cfg.trusted_types,
        environ=environ,
    )


def command_trust(
    config: Path | None,
    public_key: Path | None = None,
    types: Iterable[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
) -> Trust:
    """The trust of a command that takes a bundle rather than a project (`serve`, `build`):
    `--public-key`, else `MLGATE_PUBLIC_KEY` (in `environ`), else the project's
    `trust.public_key` when `config` (mlgate.yaml or its directory) exists; trusted types from
    all three."""
    project = find_project(config)
    base = (
        project_trust(project, environ=environ) if project is not None else resolve(environ=environ)
    )
    return Trust(public_key=public_key or base.public_key, types=(*base.types, *types))
