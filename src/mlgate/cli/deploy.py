"""`mlgate deploy`: release on this machine (`--target local`: direct, canary, A/B, shadow,
promoted or rolled back by the analysis), or write Kubernetes manifests (`--target kubernetes`:
rolling, or canary with Argo Rollouts or Flagger running the same analysis)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from mlgate.cli import render
from mlgate.cli.app import DEFAULT_CONFIG, ConfigOpt, JsonOpt, app, console, print_json
from mlgate.errors import GateFailed, InfraError, UsageError

if TYPE_CHECKING:
    from mlgate.app.kubernetes.target import ManifestOptions
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
Override = Annotated[
    str | None,
    typer.Option(
        "--override",
        metavar="REASON",
        help="Release a candidate the release policy refuses (gate not passed, not registered, "
        "or rejected by a release); the reason is recorded with your name.",
    ),
]
LoadFrom = Annotated[
    Path | None,
    typer.Option(
        "--load-from",
        help="local canary, ab, shadow: replay this CSV or Parquet file's rows as POST /predict "
        "requests to the release until it ends (traffic to judge the candidate by).",
    ),
]
LoadRate = Annotated[
    float, typer.Option("--load-rate", help="local: requests a second --load-from sends.")
]


class RayJobPlace(NamedTuple):
    """`--training rayjob`'s options besides the image and the directory."""

    name: str | None
    namespace: str | None
    workdir: str
    mlflow_secret: str
    workers: int
    max_workers: int | None


Training = Annotated[
    str | None,
    typer.Option(
        "--training",
        help="kubernetes: rayjob writes only rayjob.yaml, a KubeRay RayJob running `mlgate run "
        "--compute ray` in the cluster, from a training --image (mlgate[ray] and the project).",
    ),
]
Workdir = Annotated[
    str, typer.Option("--workdir", help="rayjob: the project's directory in the image.")
]
OnlineFeatures = Annotated[
    str | None,
    typer.Option(
        "--online-features",
        metavar="URL",
        help="kubernetes: the server's Feast feature server (`feast serve`), for a model "
        "trained from Feast: rows with only their entity keys get the other features from it.",
    ),
]
OnlineTimeout = Annotated[
    float | None,
    typer.Option(
        "--online-timeout",
        min=0.001,
        help="kubernetes: seconds an online lookup may take (503 beyond) [server: 1].",
    ),
]
MlflowSecret = Annotated[
    str,
    typer.Option(
        "--mlflow-secret", help="rayjob: the Secret whose MLFLOW_TRACKING_URI key the run uses."
    ),
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
            "an image, or http://HOST:PORT [default: models:/NAME@challenger]. kubernetes: the "
            "models:/ version or bundle the image was built from, checked by the release policy.",
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
    replicas: Annotated[
        int, typer.Option("--replicas", min=1, help="kubernetes: pods (rayjob: Ray workers).")
    ] = 2,
    load_from: LoadFrom = None,
    load_rate: LoadRate = 20.0,
    max_replicas: Annotated[
        int | None,
        typer.Option(
            "--max-replicas",
            min=1,
            help="kubernetes: autoscaling limit [default: 10; rayjob: --replicas, fixed].",
        ),
    ] = None,
    online_features: OnlineFeatures = None,
    online_timeout: OnlineTimeout = None,
    training: Training = None,
    workdir: Workdir = "/work",
    mlflow_secret: MlflowSecret = "mlflow",
    override: Override = None,
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
    online = (online_features, online_timeout)
    if target != "kubernetes" or training is not None:
        _no_online(online, "--training rayjob" if training is not None else f"--target {target}")
    if training is not None:
        place = RayJobPlace(name, namespace, workdir, mlflow_secret, replicas, max_replicas)
        _rayjob(target, training, (image, out), place, as_json=as_json)
        return
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
                override=override,
            ),
            load=(load_from, load_rate),
            as_json=as_json,
        )
        return
    from mlgate.app.kubernetes.target import ManifestOptions, require

    options = ManifestOptions(
        image=require(image, "--image", "the image by digest, from `mlgate push`"),
        name=name,
        namespace=namespace,
        strategy=strategy or "rolling",
        replicas=replicas,
        max_replicas=10 if max_replicas is None else max_replicas,
        rollouts=rollouts,
        prometheus_url=prometheus,
        online_features=online_features,
        online_timeout=online_timeout,
    )
    release = {"config": config, "policy": policy, "candidate": candidate, "override": override}
    _kubernetes(options, out, release, as_json=as_json)


def _kubernetes(
    options: ManifestOptions, out: Path | None, release: dict[str, Any], *, as_json: bool
) -> None:
    """`--target kubernetes`: check the options, pass the release policy, write manifests."""
    from mlgate.app.kubernetes.target import check_online_features, require
    from mlgate.app.rollout.service import deploy

    # Before the release policy records an override: a refused flag leaves nothing behind.
    check_online_features(options, config=release["config"], candidate=release["candidate"])
    directory = require(out, "--out", "the directory to write the manifests to")
    written = deploy("kubernetes", options, directory, **release)
    _wrote(written, str(out), as_json=as_json)


def _no_online(online: tuple[str | None, float | None], where: str) -> None:
    """`--online-features` / `--online-timeout` go into the manifests' server arguments only."""
    names = ("--online-features", "--online-timeout")
    flags = [f for f, v in zip(names, online, strict=True) if v is not None]
    if flags:
        raise UsageError(
            f"{' and '.join(flags)} {'go' if len(flags) > 1 else 'goes'} into the server "
            f"arguments of the Kubernetes manifests; {where} does not take "
            f"{'them' if len(flags) > 1 else 'it'}",
            hint="use them with --target kubernetes (without --training); the servers of a "
            "local release are sent rows with their features",
        )


def _wrote(written: list[Path], apply: str, *, as_json: bool) -> None:
    if as_json:
        print_json({"files": [str(p) for p in written]})
        return
    term = console()
    for path in written:
        term.print(f"wrote {path}", markup=False)
    term.print(f"apply with: kubectl apply -f {apply}", markup=False)


def _rayjob(
    target: str,
    training: str,
    image_out: tuple[str | None, Path | None],
    place: RayJobPlace,
    *,
    as_json: bool,
) -> None:
    """`--training rayjob`: write DIR/rayjob.yaml, and nothing of the serving manifests (they
    run another image, the serving one, and are written by a run without --training)."""
    from importlib.metadata import PackageNotFoundError, version

    from mlgate.app.kubernetes.rayjob import RayJobOptions, write_rayjob
    from mlgate.app.kubernetes.target import require

    if target != "kubernetes":
        raise UsageError(f"--training {training} needs --target kubernetes, not {target}")
    if training != "rayjob":
        raise UsageError(f"--training {training!r}: choose rayjob")
    image = require(
        image_out[0], "--image", "the training image by digest (mlgate[ray], the project)"
    )
    out = require(image_out[1], "--out", "the directory to write rayjob.yaml to")
    try:
        # The cluster's Ray is the one this mlgate runs with: the run refuses other versions.
        ray_version = version("ray")
    except PackageNotFoundError:
        raise UsageError(
            "--training rayjob names the cluster's Ray version, the ray installed with mlgate: "
            "none is installed here",
            hint="pip install 'mlgate[ray]'",
        ) from None
    opts = RayJobOptions(
        image=image,
        ray_version=ray_version,
        name=place.name,
        namespace=place.namespace,
        workdir=place.workdir,
        mlflow_secret=place.mlflow_secret,
        workers=place.workers,
        max_workers=place.max_workers,
    )
    path = write_rayjob(opts, out)
    _wrote([path], str(path), as_json=as_json)


def _local(
    options: LocalOptions, *, load: tuple[Path | None, float] = (None, 0.0), as_json: bool
) -> None:
    """`--target local`: release (with the load `--load-from` replays, if any), render the
    outcome, exit by how it ended."""
    from mlgate.app.rollout.load import Replay, read_rows
    from mlgate.app.rollout.service import local_state_dir, rollout_local

    term = console()
    say = (lambda _m: None) if as_json else (lambda m: term.print(m, markup=False))
    path, rate = load
    if path is None:
        outcome = rollout_local(options, say=say)
    else:
        if options.strategy not in ("canary", "ab", "shadow"):
            raise UsageError(
                f"--load-from replays traffic to judge a candidate by; --strategy "
                f"{options.strategy} judges none",
                hint="use --strategy canary, ab or shadow",
            )
        state_dir = local_state_dir(options.config, options.state_dir)
        with Replay(state_dir, read_rows(path), rate) as replay:
            outcome = rollout_local(options, say=say)
        say(f"load from {path}: {replay.tally.summary()}")
        if replay.error:
            term.print(f"load from {path} stopped: {replay.error}", markup=False)
    if as_json:
        print_json(outcome.to_dict())
    else:
        render.release_outcome(term, outcome)
        if outcome.override:
            term.print(f"  override  {outcome.override}", markup=False)
    if outcome.registry_failed:
        raise InfraError(outcome.registry_note or "the registry was not updated")
    if outcome.ended_as in ("not promoted", "stopped"):
        raise GateFailed(f"{outcome.candidate} {outcome.reason}")
    if outcome.phase == "failed":
        raise GateFailed(f"rolled back {outcome.candidate}: {outcome.reason}")
