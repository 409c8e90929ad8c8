"""`mlgate serve` without its limits, for measuring what they cost (never for serving).

The same app, settings and bundle as `mlgate serve BUNDLE --runtime RUNTIME`, run by plain
`uvicorn.run` with uvicorn's stock httptools protocol (the limits live in mlgate's protocol):
what mlgate served before the limits existed.

Usage: python -m benchmarks.serve.unguarded BUNDLE PORT RUNTIME
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from mlgate.serve.app import create_app
from mlgate.serve.settings import ServeSettings


def main() -> None:
    """Serve BUNDLE on 127.0.0.1:PORT with the limits removed."""
    bundle, port, runtime = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    app = create_app(bundle, ServeSettings(runtime=runtime))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
