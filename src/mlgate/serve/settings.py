"""Typed, frozen settings of the model server (the flags of `mlgate serve`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from mlgate.core.frozen import Frozen
from mlgate.store.trust import Trust

Runtime = Literal["auto", "sklearn", "onnx"]
# The minimum body rate and its grace (mlgate.serve.limits): a body must average this many
# bytes per second once the grace is over, so a 1 MiB body may take 5 s + 256 s.
MIN_BODY_RATE = 4096
BODY_RATE_GRACE_S = 5.0


class ServeSettings(Frozen):
    """How the server loads, validates, batches and logs; every limit has a safe default."""

    runtime: Runtime = Field(
        default="auto", description="auto: ONNX Runtime when the bundle has model.onnx."
    )
    verify: bool = Field(
        default=True, description="Check SHA256SUMS (and the signature) before loading."
    )
    public_key: Path | None = Field(
        default=None, description="Refuse a bundle whose signature this key does not verify."
    )
    trusted_types: tuple[str, ...] = Field(
        default=(), description="Types beyond the default allow-list the model file may hold."
    )
    code_root: Path | None = Field(
        default=None, description="The project whose own code (model.pipeline) is looked for."
    )
    code_from_bundle: bool = Field(
        default=False,
        description="Import the project's code (model.pipeline) from the bundle's own copy, "
        "the code it was trained and gated with, instead of looking for it in the project.",
    )
    allow_code_drift: bool = Field(
        default=False,
        description="Load a model whose project code differs from the code it was trained "
        "with, warning, instead of refusing it.",
    )
    max_rows: int = Field(default=10_000, ge=1, description="Rows allowed in one request.")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_batch: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Micro-batch size for single-row requests; 1 disables. Default: 32 with scikit-learn,"
            " off with ONNX Runtime (measured: on one core it costs ONNX more than it saves)."
        ),
    )
    max_wait_ms: float = Field(
        default=0.0,
        ge=0.0,
        le=1000.0,
        description="How long a micro-batch waits to fill; 0 batches only what is queued.",
    )
    # Limits per worker (see mlgate.serve.limits for what uvicorn bounds and what it does not).
    max_connections: int = Field(
        default=512,
        ge=1,
        description="Open connections per worker; beyond it the longest-idle one is closed, "
        "or, when none is idle, the newcomer is answered 503 + Retry-After. Keep it below the "
        "process's open-file limit.",
    )
    max_header_bytes: int = Field(
        default=32 * 1024, ge=1024, description="Request line + headers, bytes (431 beyond)."
    )
    max_headers: int = Field(default=100, ge=1, description="Request headers (431 beyond).")
    header_timeout: float = Field(
        default=10.0,
        gt=0.0,
        description="Seconds from connecting (or a request's first byte) to the end of its "
        "headers; 408, or a plain close for a connection that sent nothing.",
    )
    body_timeout: float = Field(
        default=10.0, gt=0.0, description="Seconds between two reads of a request body (408)."
    )
    min_body_rate: int = Field(
        default=MIN_BODY_RATE,
        ge=0,
        description="Bytes per second a request body must average once --body-rate-grace "
        "is over (408 below it); 0: no minimum.",
    )
    body_rate_grace: float = Field(
        default=BODY_RATE_GRACE_S,
        gt=0.0,
        description="Seconds a request body may take before --min-body-rate applies.",
    )
    keepalive_timeout: float = Field(
        default=5.0, gt=0.0, description="Seconds an idle connection stays open between requests."
    )
    max_body_bytes_in_flight: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Request body bytes held at once across requests, per worker (503 "
        "beyond): what has arrived of each body plus a 64 KiB window, never its declared "
        "length up front.",
    )
    retry_after: int = Field(default=1, ge=0, description="Retry-After of a 503, seconds.")
    log_dir: Path | None = Field(default=None, description="Prediction log directory.")
    log_queue: int = Field(default=10_000, ge=1, description="Log records held in memory.")
    log_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    log_keep: int = Field(default=20, ge=1, description="Rotated log files kept.")
    # Online features (serve/online.py), for a bundle trained from Feast.
    online_features: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+",
        description="Feast's feature server (`feast serve`): rows that carry only their entity "
        "keys get the other features from its online store.",
    )
    online_timeout: float = Field(
        default=1.0,
        gt=0.0,
        description="Seconds an online lookup may take before the request is answered 503.",
    )
    # Monitoring (serve/drift.py, serve/feedback.py).
    log_probabilities: bool = Field(
        default=True,
        description="Log the class probabilities of every prediction, asked for or not: "
        "`mlgate monitor` estimates accuracy from them before labels arrive.",
    )
    drift_window: int = Field(
        default=2000, ge=0, description="Recent rows the drift gauges test; 0 turns them off."
    )
    feedback_memory: int = Field(
        default=100_000,
        ge=0,
        description="Predicted rows a worker remembers to score POST /feedback at once.",
    )

    def trust(self) -> Trust:
        """The keys and types the workers load the bundle with (resolved by `mlgate serve`)."""
        return Trust(
            public_key=self.public_key,
            types=self.trusted_types,
            code_root=self.code_root,
            allow_code_drift=self.allow_code_drift,
        )
