"""`mlgate serve`: the model server (imports nothing heavy until it runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlgate.cli.app import (
    DEFAULT_CONFIG,
    ConfigOpt,
    HostOpt,
    PortOpt,
    PublicKeyOpt,
    TrustTypeOpt,
    app,
)

# Deferred imports: each command imports its use case when it runs, so that `mlgate --help`, a
# usage error and every command's start-up import only the CLI (tests/unit/cli/test_help.py).


@app.command("serve")
def serve_cmd(
    bundle: Annotated[
        str,
        typer.Argument(
            metavar="BUNDLE",
            help="Model bundle directory, or a registry URI: models:/NAME@ALIAS, "
            "models:/NAME/VERSION (resolved in the registry of --config).",
        ),
    ],
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    runtime: Annotated[
        str, typer.Option("--runtime", help="auto (ONNX when the bundle has it), sklearn, onnx.")
    ] = "auto",
    max_batch: Annotated[
        int | None,
        typer.Option(
            "--max-batch",
            min=1,
            help="Micro-batch size for single rows; 1 = off. Default: 32 sklearn, off ONNX.",
        ),
    ] = None,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", min=0.0, help="Wait this long to fill a micro-batch.")
    ] = 0.0,
    max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="Rows per request.")] = 10_000,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", min=0.001)] = 16.0,
    log_dir: Annotated[
        Path | None, typer.Option("--log-dir", help="Write the prediction log here.")
    ] = None,
    drift_window: Annotated[
        int,
        typer.Option(
            "--drift-window", min=0, help="Recent rows the /metrics drift gauges test; 0 = off."
        ),
    ] = 2000,
    log_probabilities: Annotated[
        bool,
        typer.Option(
            "--log-probabilities/--no-log-probabilities",
            help="Log class probabilities of every prediction (label-free estimates).",
        ),
    ] = True,
    online_features: Annotated[
        str | None,
        typer.Option(
            "--online-features",
            metavar="URL",
            help="Feast's feature server (`feast serve`) for a bundle trained from Feast: rows "
            "with only their entity keys get the other features from its online store.",
        ),
    ] = None,
    online_timeout: Annotated[
        float,
        typer.Option(
            "--online-timeout", min=0.001, help="Seconds an online lookup may take (503 beyond)."
        ),
    ] = 1.0,
    graceful_timeout: Annotated[
        float,
        typer.Option(
            "--graceful-timeout",
            help="Seconds to finish accepted requests on SIGTERM (new ones get 503).",
        ),
    ] = 30.0,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections",
            min=1,
            help="Open connections per worker; beyond it the longest-idle is closed, or 503.",
        ),
    ] = 512,
    max_header_kb: Annotated[
        float,
        typer.Option("--max-header-kb", min=1.0, help="Request line + headers, KiB (431)."),
    ] = 32.0,
    max_headers: Annotated[
        int, typer.Option("--max-headers", min=1, help="Request headers (431 beyond).")
    ] = 100,
    header_timeout: Annotated[
        float,
        typer.Option("--header-timeout", min=0.001, help="Seconds to send the headers (408)."),
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option("--body-timeout", min=0.001, help="Seconds between body reads (408)."),
    ] = 10.0,
    min_body_rate: Annotated[
        int,
        typer.Option(
            "--min-body-rate",
            min=0,
            help="Bytes/s a request body must average after --body-rate-grace (408); 0 = off.",
        ),
    ] = 4096,
    body_rate_grace: Annotated[
        float,
        typer.Option(
            "--body-rate-grace",
            min=0.001,
            help="Seconds a body may take before --min-body-rate applies.",
        ),
    ] = 5.0,
    keepalive_timeout: Annotated[
        float,
        typer.Option("--keepalive-timeout", min=0.001, help="Idle seconds between requests."),
    ] = 5.0,
    max_inflight_mb: Annotated[
        float,
        typer.Option(
            "--max-inflight-mb",
            min=0.001,
            help="Request body MiB held at once per worker (503 + Retry-After beyond).",
        ),
    ] = 64.0,
    no_verify: Annotated[
        bool,
        typer.Option(
            "--no-verify",
            help="Skip the SHA256SUMS and signature checks (loudly; the type allow-list stays).",
        ),
    ] = False,
    code_from_bundle: Annotated[
        bool,
        typer.Option(
            "--code-from-bundle",
            help="Import the project's code (model.pipeline) from the bundle's own copy: the "
            "code it was trained and gated with (what a local release serves).",
        ),
    ] = False,
    allow_code_drift: Annotated[
        bool,
        typer.Option(
            "--allow-code-drift",
            help="Load a model whose project code (model.pipeline) differs from the code it "
            "was trained with, warning, instead of refusing it.",
        ),
    ] = False,
    public_key: PublicKeyOpt = None,
    trust_type: TrustTypeOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Serve a model bundle over HTTP (POST /predict, /v2 inference, /ready, /metrics)."""
    from mlgate.app.serving import serve
    from mlgate.serve.server import ServeOptions, make_settings

    settings = make_settings(
        {
            "runtime": runtime,
            "max_batch": max_batch,
            "max_wait_ms": max_wait_ms,
            "max_rows": max_rows,
            "max_body_bytes": int(max_body_mb * 1024 * 1024),
            "log_dir": log_dir,
            "drift_window": drift_window,
            "log_probabilities": log_probabilities,
            "online_features": online_features,
            "online_timeout": online_timeout,
            "verify": not no_verify,
            "public_key": public_key,
            "trusted_types": tuple(trust_type or ()),
            "allow_code_drift": allow_code_drift,
            "code_from_bundle": code_from_bundle,
            "max_connections": max_connections,
            "max_header_bytes": int(max_header_kb * 1024),
            "max_headers": max_headers,
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            "min_body_rate": min_body_rate,
            "body_rate_grace": body_rate_grace,
            "keepalive_timeout": keepalive_timeout,
            "max_body_bytes_in_flight": int(max_inflight_mb * 1024 * 1024),
        }
    )
    options = ServeOptions(
        settings=settings,
        host=host,
        port=port,
        workers=workers,
        graceful_timeout=graceful_timeout,
    )
    serve(bundle, config=config, options=options)
