"""Typed, frozen settings of the model server (the flags of `mlgate serve`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlgate.model.trust import Trust

Runtime = Literal["auto", "sklearn", "onnx"]


class ServeSettings(BaseModel):
    """How the server loads, validates, batches and logs; every limit has a safe default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    log_dir: Path | None = Field(default=None, description="Prediction log directory.")
    log_queue: int = Field(default=10_000, ge=1, description="Log records held in memory.")
    log_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    log_keep: int = Field(default=20, ge=1, description="Rotated log files kept.")

    def trust(self) -> Trust:
        """The keys and types the workers load the bundle with (resolved by `mlgate serve`)."""
        return Trust(public_key=self.public_key, types=self.trusted_types)
