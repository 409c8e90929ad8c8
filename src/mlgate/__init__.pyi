"""The types of what `mlgate/__init__.py` re-exports from `mlgate.api` on first use: every
name of `mlgate.api.__all__`, so the stub needs no list of its own."""

from mlgate.api import *  # noqa: F403
from mlgate.api import __all__ as __all__

__version__: str
