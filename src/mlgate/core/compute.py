"""`compute:` in mlgate.yaml: where the fit and the search trials of a run execute.

`engine: local` (the default) fits in the process that runs mlgate; `engine: ray` sends the fit
and every hyperparameter-search trial to a Ray cluster (`mlgate.adapters.ray`). Where a model
was fitted does not change the model: the config digest leaves this section out, and a Ray fit
is the same fit, on the same rows, with the same seed. Pure: addresses are parsed, not dialled.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from mlgate.core.frozen import Frozen

ComputeEngine = Literal["local", "ray"]

# HOST:PORT (the cluster's GCS, for a driver on one of its machines) or ray://HOST:PORT (the Ray
# Client server, for a driver elsewhere); HOST a name, an IPv4 address or a bracketed IPv6 one.
_ADDRESS = re.compile(
    r"^(?:ray://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>\d{1,5})$"
)


def host_port(address: str) -> tuple[str, int]:
    """The host and port a Ray address names; ValueError naming the expected forms."""
    found = _ADDRESS.match(address.strip())
    port = int(found["port"]) if found else 0
    if found is None or not 0 < port < 65536:
        raise ValueError(
            f"{address!r} is not a Ray address: write HOST:PORT (the head's GCS port, 6379 by "
            "default) or ray://HOST:PORT (its Ray Client port, 10001 by default)"
        )
    return found["host"].strip("[]"), port


class ComputeConfig(Frozen):
    """Where the fit and the search trials run, and what each trial may use there."""

    engine: ComputeEngine = Field(
        default="local", description="local: this process. ray: a Ray cluster at `address`."
    )
    address: str | None = Field(
        default=None,
        description="HOST:PORT or ray://HOST:PORT; `--address` and RAY_ADDRESS set it too.",
    )
    cpus_per_trial: float = Field(
        default=1.0, gt=0, le=1024, description="Ray CPUs each trial and the fit reserve."
    )
    retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Times Ray reruns a trial whose worker died, before the run fails (exit 3).",
    )
    connect_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds to wait for the cluster to answer."
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            host_port(value)
        return value
