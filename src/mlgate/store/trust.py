"""What a model file may contain, and who may have written it.

A scikit-learn model is stored with skops, never pickle. Loading reads the file's description
first, builds nothing, and refuses it, naming the type or the field, when:

- it names a class that is not on mlgate's allow-list (`mlgate.store.statecheck`: classes by
  name, never a module: the estimators, transformers and fitted state mlgate's training
  produces) nor in `trust.trusted_types` / `MLGATE_TRUSTED_TYPES` / `--trust-type`;
- its fitted state would make native code index outside its arrays (tree nodes, neighbour
  trees, sparse matrices, one-hot columns, boosting stages: `mlgate.store.statefields`).

LightGBM, XGBoost and CatBoost estimators are listed by class name too (the `boost` extra). Each
keeps its fitted model in the library's own native format (LightGBM's model text, XGBoost's
UBJSON, CatBoost's binary model), which loading hands to the library's own parser: mlgate
checks LightGBM's text tree by tree first (children, features, category sets) and, for the
other two, only that the model is bytes where the library keeps it (`mlgate.store.boostcheck`).

Only then does skops build it, trusting exactly the names the file holds. `serve`, `build`,
`run` (its champion) and every other loader go through `audit_sklearn` / `load_sklearn`, so
they refuse the same files with the same message (exit 2).

The allow-list is mlgate's, never the bundle's: MLflow's own loader reads the list of trusted
types from the model's MLmodel file, which whoever wrote the model controls.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlgate.core.config import Project
from mlgate.errors import BundleError, ConfigError, UsageError
from mlgate.store.project import find_project
from mlgate.store.skopsview import read_file

# Deferred imports: skops (the train and serve extras) and the state checks (NumPy) load when a
# model file is audited or loaded: the server's parent process and the CLI import this module for
# the allow-list's names.

ENV_PUBLIC_KEY = "MLGATE_PUBLIC_KEY"
ENV_SIGNING_KEY = "MLGATE_SIGNING_KEY"
ENV_SIGNING_PASSWORD = "MLGATE_SIGNING_KEY_PASSWORD"
ENV_TRUSTED_TYPES = "MLGATE_TRUSTED_TYPES"


@dataclass(frozen=True)
class Trust:
    """The keys and extra types in force for one command. `password` unlocks the private key;
    it comes from the environment only (never from a file) and stays out of the repr."""

    public_key: Path | None = None
    private_key: Path | None = None
    types: tuple[str, ...] = ()
    password: str | None = field(default=None, repr=False)
    # The project's own code (`mlgate.store.code`): where it is looked for, whether a copy
    # that differs from the one trained with only warns, and the packages whose types a model
    # may hold because that code was verified (set by `Bundle.model_trust`, never configured).
    code_root: Path | None = None
    allow_code_drift: bool = False
    packages: tuple[str, ...] = ()


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


def refused_types(found: Iterable[str], trust: Trust) -> list[str]:
    """The type names in `found` that neither mlgate's allow-list nor `trust` holds."""
    # Imported here: the state checks import numpy, which `mlgate --help` must not pay for.
    from mlgate.store.statecheck import refused

    return [
        t
        for t in refused(found, trust.types)
        if not t.startswith(tuple(f"{p}." for p in trust.packages))
    ]


def save_allow_list(model: Any, trust: Trust) -> list[str]:
    """The types beyond skops' defaults to record as trusted when saving `model` (MLflow
    checks the file loads). A model holding a type no mlgate process would load is a
    ConfigError naming it: nobody could load the bundle."""
    import skops.io

    data = skops.io.dumps(model)
    found = read_file(data, "the fitted model").types
    bad = refused_types(found, trust)
    if bad:
        raise ConfigError(
            "model.estimator: the fitted model contains type(s) that no mlgate process would "
            f"load: {', '.join(bad)}",
            hint="use an estimator mlgate lists (mlgate.store.statecheck), or list your own "
            "classes in trust.trusted_types",
        )
    return sorted(skops.io.get_untrusted_types(data=data))


def audit_sklearn(data: bytes, trust: Trust, source: str) -> list[str]:
    """Refuse a model file that holds a type nobody trusts, or fitted state native code would
    follow outside its arrays, naming the type (and the field), without building anything:
    only the file's description and its arrays are read. Returns the type names it holds, all
    trusted. `serve` and `build` call it before starting, so a bad file fails them at once
    (exit 2); `load_sklearn` calls it before building the model."""
    view = read_file(data, source)
    bad = refused_types(view.types, trust)
    if bad:
        raise BundleError(
            f"{source} contains type(s) mlgate does not trust: {', '.join(bad)}; "
            "loading it would run their code, so it was not loaded",
            hint="if the model is yours and these are your classes, list them in "
            "trust.trusted_types in mlgate.yaml (or MLGATE_TRUSTED_TYPES / --trust-type)",
        )
    from mlgate.store.statecheck import check_state

    check_state(view, source, trust.packages)
    return sorted(view.types)


def load_sklearn(data: bytes, trust: Trust, source: str) -> Any:
    """Build a model from skops bytes once `audit_sklearn` passed them: refused types and
    malformed state are BundleErrors naming them, and skops trusts exactly the names checked."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    allowed = audit_sklearn(data, trust, source)
    try:
        return skops.io.loads(data, trusted=allowed)
    except UntrustedTypesFoundException as exc:  # pragma: no cover - the audit above matches
        raise BundleError(f"{source}: {exc}") from None
    except Exception as exc:
        # For the operator (CLI, server log); clients only ever see that loading failed.
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise BundleError(f"{source} could not be loaded: {type(exc).__name__}: {detail}") from None


def project_trust(project: Project, *, environ: Mapping[str, str] | None = None) -> Trust:
    """The trust in force for a project: its `trust:` config, overridden by `environ` (default
    the process's environment)."""
    cfg = project.config.trust
    trust = resolve(
        root=project.root,
        public_key=cfg.public_key,
        private_key=cfg.private_key,
        types=cfg.trusted_types,
        environ=environ,
    )
    return replace(trust, code_root=project.root)


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
    return Trust(
        public_key=public_key or base.public_key,
        types=(*base.types, *types),
        code_root=project.root if project is not None else None,
    )
