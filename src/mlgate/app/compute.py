"""Where a run's fit executes (`compute:`): in this process, or on a Ray cluster.

`fit_where` is the one place that chooses; the training use case calls it instead of fitting
itself. `check_compute` is called before a run does any work, so an unreachable cluster fails
in seconds (exit 3) with nothing written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mlgate.core.compute import ComputeEngine, host_port
from mlgate.core.config import Config
from mlgate.core.records.lineage import ComputeRecord
from mlgate.core.schema import Schema
from mlgate.errors import ConfigError
from mlgate.model.search import fit_searched
from mlgate.model.train import Fitted

if TYPE_CHECKING:
    import pandas as pd


def with_compute(
    config: Config,
    engine: ComputeEngine | None,
    address: str | None,
    environ_address: str | None,
) -> Config:
    """`config` with `--compute` / `--address` over `compute:`, and RAY_ADDRESS (passed in by
    the caller) when neither names an address."""
    compute = config.compute
    update: dict[str, object] = {}
    if engine is not None:
        update["engine"] = engine
    ray = (engine or compute.engine) == "ray"
    chosen = address or compute.address or (environ_address if ray else None)
    if chosen != compute.address:
        update["address"] = chosen
    if not update:
        return config
    if chosen is not None:
        try:
            host_port(chosen)
        except ValueError as exc:
            raise ConfigError(
                f"--address / RAY_ADDRESS: {exc}", hint="write HOST:PORT or ray://HOST:PORT"
            ) from None
    # Both checked: the engine by the option's choices, the address just above.
    return config.model_copy(update={"compute": compute.model_copy(update=update)})


def ray_address(config: Config) -> str:
    """The cluster a `compute.engine: ray` run uses; ConfigError when none is named, or when
    the model is one the cluster could not build from what it verified."""
    compute, model = config.compute, config.model
    if compute.address is None:
        raise ConfigError(
            "compute.engine is ray but no cluster address is set",
            hint="set compute.address in mlgate.yaml, pass --address HOST:PORT, or export "
            "RAY_ADDRESS",
        )
    if model.pipeline is not None or model.command is not None:
        what = "model.pipeline" if model.pipeline is not None else "model.command"
        raise ConfigError(
            f"compute.engine: ray does not run {what} yet: the cluster's workers would import "
            "or run the project's own code unverified",
            hint="set compute.engine: local for this project",
        )
    return compute.address


def check_compute(config: Config) -> None:
    """Before any work: a Ray run's cluster answers (InfraError, exit 3, otherwise)."""
    if config.compute.engine != "ray":
        return
    address = ray_address(config)
    from mlgate.adapters.ray import probe  # the `ray` extra, imported only for a Ray run

    probe(address, config.compute.connect_timeout)


def fit_where(
    config: Config,
    schema: Schema,
    frame: pd.DataFrame,
    progress: Callable[[str], None] | None = None,
) -> tuple[Fitted, ComputeRecord | None]:
    """The configured search and fit, where `compute.engine` says; the record of a cluster
    fit (None for a local one)."""
    if config.compute.engine == "local":
        return fit_searched(config, schema, frame, progress), None
    address = ray_address(config)
    # The `ray` extra: Ray costs a second or two to import, paid only by a Ray run.
    from mlgate.adapters import ray as on_ray

    return on_ray.fit(config, schema, frame, address, progress)
