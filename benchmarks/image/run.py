"""Image build time and size: mlgate's image vs the naive one-stage Dockerfile, in one run.

Run (root, podman set up by scripts/setup-containers.sh), from the repository root:
    .venv/bin/python -m benchmarks.image.run [--base-image localhost/mlgate-base:bookworm] [--quick]
Writes benchmarks/RESULTS_image.md. `--quick` builds with the layer cache instead of
`--no-cache`: sizes and shared layers are the same, cold-build times are not measured. It saves
less than it sounds: the naive Dockerfile copies the whole context (a freshly trained bundle)
before its `pip install`, so that layer is rebuilt on every run (5-6 minutes in all here).

Measured, with the engine's layer cache:
  * wheels: fetching/building the context's wheels on the host (pip's own cache warm);
  * cold: `podman build --no-cache` of each image (the base image already present);
  * cached: the same build again (nothing changed);
  * model only: a retrained bundle (another seed), built with the cache; counts the layers
    shared with the first image (every dependency layer should be);
  * size: `podman image inspect` .Size of each image.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.summary import Row, add_quick_flag, detail_path, write_summary
from mlgate.adapters.container.engine import Engine, find_engine
from mlgate.app.image.build import BuildPlan, build_argv, plan_build
from mlgate.app.image.context import APP_WHEEL, BUNDLE, WHEELS, assemble, build_wheels
from mlgate.app.scaffold import init_demo
from mlgate.app.train import train
from mlgate.store.bundle import Bundle, load_bundle
from mlgate.store.project import load_project

TIMEOUT_S = 2400
TARGET_SIZE_RATIO = 0.5
HERE = Path(__file__).resolve().parent
# The article's requirements: the training stack and the server in one list.
NAIVE_REQUIREMENTS = ("mlgate[train,serve]",)


def timed(engine: Engine, argv: list[str]) -> float:
    start = time.perf_counter()
    engine.run(argv, what="build", timeout=3600)
    return time.perf_counter() - start


def size_mb(engine: Engine, ref: str) -> float:
    return int(engine.inspect_image(ref)["Size"]) / 1e6


def layers(engine: Engine, ref: str) -> list[str]:
    found: list[str] = engine.inspect_image(ref)["RootFS"]["Layers"]
    return found


def demo_bundle(root: Path, seed: int) -> Path:
    init_demo(root, rows=3000)
    cfg = root / "mlgate.yaml"
    cfg.write_text(cfg.read_text().replace("seed: 42", f"seed: {seed}"))
    return train(load_project(root)).bundle_dir


def main() -> None:
    """Build both images cold, cached, and after a model-only change; write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-image", default="localhost/mlgate-base:bookworm")
    add_quick_flag(parser, "no `--no-cache` builds (cold-build times not measured)")
    args = parser.parse_args()
    # A quick run builds with the layer cache: its "cold" builds are not cold.
    no_cache = [] if args.quick else ["--no-cache"]
    engine = find_engine("podman")
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-image-"))
    try:
        bundle = load_bundle(demo_bundle(work / "a", seed=42))
        retrained = load_bundle(demo_bundle(work / "b", seed=7))

        def plan(b: Bundle, tag: str) -> BuildPlan:
            return plan_build(
                b,
                repository=f"localhost/bench-{tag}",
                base_image=args.base_image,
                revision="bench",
                source_url="",
                created="2026-01-01T00:00:00+00:00",
                python_version=py,
            )

        # mlgate's image
        start = time.perf_counter()
        ctx = assemble(bundle, work / "ctx-mlgate")
        wheels_s = time.perf_counter() - start
        p1 = plan(bundle, "mlgate")
        cold_argv = ["build", *no_cache, *build_argv(engine, p1, ctx.root)[1:]]
        mlgate_cold = timed(engine, cold_argv)
        mlgate_cached = timed(engine, build_argv(engine, p1, ctx.root))
        ref1 = p1.image
        ctx2 = work / "ctx-retrained"
        shutil.copytree(ctx.root, ctx2, ignore=shutil.ignore_patterns(BUNDLE))
        shutil.copytree(retrained.path, ctx2 / BUNDLE)
        p2 = plan(retrained, "mlgate-retrained")
        model_only = timed(engine, build_argv(engine, p2, ctx2))
        before, after = layers(engine, ref1), layers(engine, p2.image)
        shared = sum(1 for a, b in zip(before, after, strict=False) if a == b)

        # the naive image
        naive = work / "ctx-naive"
        naive.mkdir()
        start = time.perf_counter()
        build_wheels(naive, NAIVE_REQUIREMENTS)
        naive_wheels_s = time.perf_counter() - start
        (naive / "requirements.txt").write_text((naive / "requirements.lock").read_text())
        shutil.copytree(bundle.path, naive / BUNDLE)
        shutil.copy(HERE / "naive.Dockerfile", naive / "Dockerfile")
        naive_ref = "localhost/bench-naive:bench"
        naive_argv = ["build", "--format", "docker", "--tag", naive_ref,
                      "--build-arg", f"BASE_IMAGE={args.base_image}", str(naive)]  # fmt: skip
        naive_cold = timed(engine, [naive_argv[0], *no_cache, *naive_argv[1:]])
        naive_cached = timed(engine, naive_argv)

        sizes = {
            "mlgate": size_mb(engine, ref1),
            "naive": size_mb(engine, naive_ref),
            "base": size_mb(engine, args.base_image),
        }
        wheel_mb = {
            "mlgate": sum(f.stat().st_size for f in (ctx.root / WHEELS).glob("*.whl")) / 1e6,
            "naive": sum(f.stat().st_size for f in (naive / WHEELS).glob("*.whl")) / 1e6
            + sum(f.stat().st_size for f in (naive / APP_WHEEL).glob("*.whl")) / 1e6,
        }
        result = {
            "mlgate": {
                "wheels_s": wheels_s,
                "cold_s": mlgate_cold,
                "cached_s": mlgate_cached,
                "model_only_s": model_only,
                "size_mb": sizes["mlgate"],
                "layers": len(before),
                "shared_layers_after_model_change": shared,
            },
            "naive": {
                "wheels_s": naive_wheels_s,
                "cold_s": naive_cold,
                "cached_s": naive_cached,
                "size_mb": sizes["naive"],
            },
            "base_mb": sizes["base"],
            "wheel_mb": wheel_mb,
        }
        print(json.dumps(result, indent=2))
        cold_label = "first build, layer cache on (`--quick`) (s)" if args.quick else ""
        write_results(result, args.base_image, detail_path("image", args.quick), cold_label)
        write_summary(summary_rows(result), quick=args.quick)
        for ref in (ref1, p2.image, naive_ref):
            engine.run(["rmi", ref], what="cleanup", check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def summary_rows(r: dict[str, Any]) -> list[Row]:
    """The headline rows: size against the naive image, layers kept after a model change."""
    m, n = r["mlgate"], r["naive"]
    ratio = m["size_mb"] / n["size_mb"]
    shared, total = m["shared_layers_after_model_change"], m["layers"]
    return [
        Row(
            what="serving image vs the naive image",
            target=f"<= {TARGET_SIZE_RATIO}x",
            measured=f"{ratio:.2f}x ({m['size_mb']:.0f} vs {n['size_mb']:.0f} MB)",
            met=ratio <= TARGET_SIZE_RATIO,
        ),
        Row(
            what="rebuild with only the model changed",
            target="reuses every dependency layer",
            measured=f"{shared} of {total} layers shared (only the bundle layer is new)"
            if shared == total - 1
            else f"{shared} of {total} layers shared",
            met=shared == total - 1,
        ),
    ]


def write_results(r: dict[str, Any], base: str, path: Path, cold_label: str = "") -> None:
    """benchmarks/RESULTS_image.md (or a quick run's copy under .work) from one run's numbers."""
    cold_label = cold_label or "cold build, `--no-cache` (s)"
    m: dict[str, float] = r["mlgate"]
    n: dict[str, float] = r["naive"]
    ratio = m["size_mb"] / n["size_mb"]
    text = f"""# Image benchmark: mlgate's serving image vs the naive Dockerfile

Command (root, after `bash scripts/setup-containers.sh`), from the repository root:

```
.venv/bin/python -m benchmarks.image.run --base-image {base}
```

One run, both images, same machine, same base image ({base}: Debian 12 minbase + Python 3,
{r["base_mb"]:.0f} MB; the public `python:3.11-slim` cannot be pulled here). The demo bundle has
3000 rows and 100 trees. The naive image is `benchmarks/image/naive.Dockerfile`: one stage, root,
the full requirements (`mlgate[train,serve]`: MLflow, pandas, pyarrow, scipy, pandera,
scikit-learn, FastAPI, uvicorn) and the whole context, pip's downloads left in the image.
mlgate's image is `src/mlgate/templates/Dockerfile`: the serving dependencies only, pinned to the
bundle's training versions, no pip, no test suites, non-root.

Machine: {platform.machine()}, 2 cores shared with other jobs, podman,
Python {platform.python_version()}. Timings are single runs on a shared machine:
read them as ratios.

| | mlgate image | naive image |
| --- | ---: | ---: |
| image size (MB) | {m["size_mb"]:.0f} | {n["size_mb"]:.0f} |
| size vs naive | {ratio:.2f} | 1.00 |
| wheels fetched on the host (MB) | {r["wheel_mb"]["mlgate"]:.0f} | {r["wheel_mb"]["naive"]:.0f} |
| host wheel step (s, pip cache warm) | {m["wheels_s"]:.1f} | {n["wheels_s"]:.1f} |
| {cold_label} | {m["cold_s"]:.1f} | {n["cold_s"]:.1f} |
| rebuild, nothing changed (s) | {m["cached_s"]:.1f} | {n["cached_s"]:.1f} |
| rebuild, new model only (s) | {m["model_only_s"]:.1f} | — |

After retraining (another seed) mlgate's rebuild shared {m["shared_layers_after_model_change"]:.0f}
of {m["layers"]:.0f} layers with the first image: base, user, dependencies and mlgate; only the
bundle layer is new. (The naive Dockerfile copies the model together with everything else, so any
change re-runs its whole `pip install`.)
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
