"""`Frozen`: the base of mlgate's value models, frozen and closed (an unknown key is an error
naming it, never silently ignored)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """A pydantic model that cannot be changed and refuses keys it does not declare."""

    model_config = ConfigDict(extra="forbid", frozen=True)
