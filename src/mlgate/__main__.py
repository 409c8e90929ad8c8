"""`python -m mlgate`: the command line, as the `mlgate` console script runs it."""

from __future__ import annotations

from mlgate.cli import main

raise SystemExit(main())
