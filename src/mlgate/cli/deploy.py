"""`mlgate deploy`: release on this machine (`--target local`: direct, canary, A/B, shadow,
promoted or rolled back by the analysis), or write Kubernetes manifests (`--target kubernetes`:
rolling, or canary with Argo Rollouts or Flagger running the same analysis)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlgate.cli import render
from mlgate.cli.app import DEFAULT_CONFIG, ConfigOpt, JsonOpt, app, console, print_json
from mlgate.errors import GateFailed, InfraError, UsageError

if TYPE_CHECKING:
    from mlgate.app.rollout.service import LocalOptions

# Deferred imports: each command imports its use case when it runs, so that `mlgate --help`, a
# usage error and every command's start-up import only the CLI (tests/unit/cli/test_help.py).

Interval = Annotated[
    str | None,
    typer.Option("--interval", help="Seconds (or 30s, 1m) between checks [policy: 60s]."),
]
Threshold = Annotated[
    int | None, typer.Option("--threshold", help="Failed checks before rollback [policy: 1].")
]
StepWeight = Annotated[
    int | None, typer.Option("--step-weight", help="Canary weight step, % [policy: 20].")
]
MaxWeight = Annotated[
    int | None, typer.Option("--max-weight", help="Canary weight to promote at, % [policy: 100].")
]
Iterations = Annotated[
    int | None,
    typer.Option("--iterations", help="A/B and shadow: passing checks to promote [policy: 10]."),
]


@app.command("deploy")
def deploy_cmd(
    target: Annotated[
        str,
        typer.Option(
            "--target", help="local (release on this machine) or kubernetes (write manifests)."
        ),
    ] = "kubernetes",
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            help="local: direct, canary (default), ab, shadow. kubernetes: rolling (default), "
            "canary.",
        ),
    ] = None,
    candidate: Annotated[
        str | None,
        typer.Option(
            "--candidate",
            help="local: what to release: models:/NAME@ALIAS or /VERSION, a bundle directory, "
            "an image, or http://HOST:PORT [default: models:/NAME@challenger].",
        ),
    ] = None,
    incumbent: Annotated[
        str | None,
        typer.Option(
            "--incumbent",
            help="local: what to compare with when nothing runs yet [default: the champion].",
        ),
    ] = None,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="local: the release's port.")
    ] = 8080,
    host: Annotated[str, typer.Option("--host", help="local: the release's address.")] = (
        "127.0.0.1"
    ),
    ab_key: Annotated[
        str | None,
        typer.Option("--ab-key", help="local A/B: header:NAME or cookie:NAME keying the split."),
    ] = None,
    interval: Interval = None,
    threshold: Threshold = None,
    step_weight: StepWeight = None,
    max_weight: MaxWeight = None,
    iterations: Iterations = None,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="local: state directory [default: .mlgate/release]."),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            envvar="MLGATE_ENGINE",
            help="local: process, podman or docker [default: processes for bundles, the first "
            "engine on PATH for images].",
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option("--image", help="kubernetes: the image BY DIGEST: REPOSITORY@sha256:..."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="kubernetes: directory to write manifests to.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="kubernetes: app name (default: from the image).")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="kubernetes: namespace for every object.")
    ] = None,
    rollouts: Annotated[
        str, typer.Option("--rollouts", help="kubernetes canary: argo (Argo Rollouts) or flagger.")
    ] = "argo",
    prometheus: Annotated[
        str,
        typer.Option(
            "--prometheus", help="kubernetes canary: the cluster's Prometheus the analysis reads."
        ),
    ] = "http://prometheus.monitoring:9090",
    replicas: Annotated[int, typer.Option("--replicas", min=1)] = 2,
    max_replicas: Annotated[int, typer.Option("--max-replicas", min=1)] = 10,
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
) -> None:
    """Release a model on this machine (--target local), or write Kubernetes manifests."""
    from mlgate.app.rollout.service import TARGETS

    if target not in TARGETS:
        raise UsageError(f"--target {target!r}: choose one of {', '.join(TARGETS)}")
    policy = {
        "interval": interval,
        "threshold": threshold,
        "step_weight": step_weight,
        "max_weight": max_weight,
        "iterations": iterations,
    }
    if target == "local":
        from mlgate.app.rollout.service import LocalOptions

        _local(
            LocalOptions(
                config=config,
                strategy=strategy or "canary",
                candidate=candidate,
                incumbent=incumbent,
                host=host,
                port=port,
                engine=engine,
                ab_key=ab_key,
                state_dir=state_dir,
                policy=policy,
            ),
            as_json=as_json,
        )
        return
    from mlgate.app.kubernetes.target import ManifestOptions, require
    from mlgate.app.rollout.service import deploy

    written = deploy(
        target,
        ManifestOptions(
            image=require(image, "--image", "the image by digest, from `mlgate push`"),
            name=name,
            namespace=namespace,
            strategy=strategy or "rolling",
            replicas=replicas,
            max_replicas=max_replicas,
            rollouts=rollouts,
            prometheus_url=prometheus,
        ),
        require(out, "--out", "the directory to write the manifests to"),
        config=config,
        policy=policy,
    )
    if as_json:
        print_json({"files": [str(p) for p in written]})
        return
    term = console()
    for path in written:
        term.print(f"wrote {path}", markup=False)
    term.print(f"apply with: kubectl apply -f {out}", markup=False)


def _local(options: LocalOptions, *, as_json: bool) -> None:
    """`--target local`: release, render the outcome, exit by how it ended."""
    from mlgate.app.rollout.service import rollout_local

    term = console()
    outcome = rollout_local(
        options, say=(lambda _m: None) if as_json else (lambda m: term.print(m, markup=False))
    )
    if as_json:
        print_json(outcome.to_dict())
    else:
        render.release_outcome(term, outcome)
    if outcome.registry_failed:
        raise InfraError(outcome.registry_note or "the registry was not updated")
    if outcome.phase == "failed":
        raise GateFailed(f"rolled back {outcome.candidate}: {outcome.reason}")
