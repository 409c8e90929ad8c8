"""Ship commands: `build`, `push`, over `mlgate.app.image` and `mlgate.adapters.container`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from mlgate.cli.app import (
    DEFAULT_CONFIG,
    ConfigOpt,
    EngineOpt,
    JsonOpt,
    PublicKeyOpt,
    TrustTypeOpt,
    app,
    err_console,
    print_json,
    progress,
)

# Deferred imports: each command imports its use case when it runs, so that `mlgate --help`, a
# usage error and every command's start-up import only the CLI (tests/unit/cli/test_help.py).

DEFAULT_BUNDLE = Path("models/model")


@app.command("build")
def build_cmd(
    bundle: Annotated[
        Path,
        typer.Argument(metavar="BUNDLE", help="Model bundle directory (default: models/model)."),
    ] = DEFAULT_BUNDLE,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag",
            "-t",
            help="REGISTRY/NAME; tagged with the git SHA (default: localhost/MODEL_NAME).",
        ),
    ] = None,
    engine: EngineOpt = None,
    base_image: Annotated[
        str,
        typer.Option(
            "--base-image",
            envvar="MLGATE_BASE_IMAGE",
            help="Base image with the same Python minor version as this host.",
        ),
    ] = "python:3.11-slim",
    revision: Annotated[
        str | None,
        typer.Option("--revision", help="Git SHA to tag and label with (default: the bundle's)."),
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Repository URL for the OCI source label.")
    ] = None,
    no_smoke: Annotated[
        bool, typer.Option("--no-smoke", help="Skip the smoke test (not in CI).")
    ] = False,
    public_key: PublicKeyOpt = None,
    trust_type: TrustTypeOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
) -> None:
    """Build the serving image of a model bundle, then smoke-test it (a failure exits 1)."""
    # A spinner on a terminal; in a CI log, a line when it starts, ends, and every 10 s.
    # On stderr: stdout holds the image reference alone (`IMAGE=$(mlgate build)`).
    with progress(f"building the image of {bundle}, then the smoke test", to_stderr=True):
        from mlgate.app.image.build import BuildOptions, build_image
        from mlgate.core.ci import CiEnv

        result = build_image(
            BuildOptions(
                bundle_dir=bundle,
                tag=tag,
                engine=engine,
                base_image=base_image,
                smoke=not no_smoke,
                source_url=source,
                revision=revision,
                config=config,
                public_key=public_key,
                trusted_types=tuple(trust_type or ()),
                ci=CiEnv.from_environ(os.environ),
            )
        )
    if as_json:
        print_json(result.to_dict())
        return
    term = err_console()
    term.print(f"[green]built[/] {result.image}", markup=True)
    term.print(f"  id       {result.image_id[:19]}", markup=False)
    term.print(f"  size     {result.size_bytes / 1e6:.0f} MB", markup=False)
    term.print(f"  took     {result.build_seconds:.1f}s", markup=False)
    if result.smoke_rows is None:
        term.print("  smoke    skipped (--no-smoke)", markup=False)
    else:
        term.print(
            f"  smoke    passed: {result.smoke_rows} rows answered as the bundle predicts "
            f"(ready after {result.smoke_ready_after_s or 0:.1f}s)",
            markup=False,
        )
    sys.stdout.write(f"{result.image}\n")


@app.command("push")
def push_cmd(
    image: Annotated[
        str, typer.Argument(metavar="IMAGE", help="Local image, e.g. from `mlgate build`.")
    ],
    registry: Annotated[
        str | None,
        typer.Option("--registry", help="Push to this registry instead (host[:port][/path])."),
    ] = None,
    tls_verify: Annotated[
        bool,
        typer.Option(
            "--tls-verify/--no-tls-verify",
            envvar="MLGATE_TLS_VERIFY",
            help="Require HTTPS with a valid certificate (podman).",
        ),
    ] = True,
    engine: EngineOpt = None,
    digest_file: Annotated[
        Path | None,
        typer.Option("--digest-file", help="Also write REPOSITORY@DIGEST to this file."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Push an image to an OCI registry and print the digest deployments should use."""
    # On stderr: stdout holds the pushed reference alone.
    with progress(f"pushing {image}", to_stderr=True):
        from mlgate.adapters.container.push import push_image

        result = push_image(
            image,
            registry=registry,
            tls_verify=tls_verify,
            engine_name=engine,
            digest_file=digest_file,
        )
    if as_json:
        print_json(result.to_dict())
        return
    # The last line is the reference alone, so scripts can take it with `tail -n1`.
    sys.stderr.write(f"pushed {result.destination}\n")
    sys.stdout.write(result.by_digest + "\n")
