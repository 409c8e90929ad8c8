"""The GitHub Actions workflows `mlgate init` writes (and this repository runs, from the same
templates): `ci-cd.yml` (test -> pipeline -> image -> deploy, also on a retraining dispatch) and
`monitor.yml` (daily `mlgate monitor`; on an alert, repository_dispatch to ci-cd.yml).

The templates are YAML files under `mlgate/templates/` with `@@NAME@@` placeholders; GitHub's
own `${{ ... }}` expressions pass through untouched. `render_workflows` fills them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from mlgate import __version__
from mlgate.errors import UsageError
from mlgate.store import atomic

# A generated workflow installs the mlgate that wrote it: same commands, same flags, same
# results, until the team upgrades on purpose (and re-runs `mlgate init --force`).
PINNED = f"mlgate[all]=={__version__}"

WORKFLOWS = ("ci-cd.yml", "monitor.yml")
FEAST_WORKFLOW = "feast.yml"
_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")


@dataclass(frozen=True)
class WorkflowOptions:
    """What differs between projects; the defaults suit a project made by `mlgate init`."""

    project_dir: str = "."
    python_version: str = "3.11"
    # The pipeline, image and deploy jobs; the test job adds lint and test tools.
    install: str = f"pip install '{PINNED}'"
    install_dev: str = f"pip install '{PINNED}' ruff pytest"
    lint: str = "ruff check ."
    unit_tests: str = 'if [ -d tests ]; then pytest -q tests; else echo "no tests/ yet"; fi'
    # Hash of this file keys the pip cache (it must exist in the repository).
    cache_path: str = "mlgate.yaml"
    # One command run in the project directory's parent before the pipeline (e.g. making a demo
    # project); None for a real project.
    prepare: str | None = None
    # The Feast feature repository (`data.source: feast`), relative to the repository root:
    # the pipeline runs `feast apply` there instead of `dvc pull`, feast.yml materialises, and
    # the deploy passes the MLGATE_ONLINE_FEATURES variable as `--online-features`.
    feast_repo: str | None = None


def _prepare_step(opts: WorkflowOptions) -> str:
    if opts.prepare is None:
        return ""
    return f"      - name: prepare the project\n        run: {opts.prepare}\n"


def _template(name: str) -> str:
    return resources.files("mlgate").joinpath("templates", name).read_text(encoding="utf-8")


def render(template: str, opts: WorkflowOptions) -> str:
    """One workflow's text with every placeholder filled (an unknown one is a bug)."""
    data_step = "steps/feast-apply.yml" if opts.feast_repo else "steps/dvc-pull.yml"
    # A model trained from Feast is deployed with Feast's feature server (when the repository
    # names it): its server then answers rows that carry only their entity keys.
    deploy_step = (
        "steps/render-manifests-feast.yml" if opts.feast_repo else "steps/render-manifests.yml"
    )
    values = {
        "PROJECT_DIR": opts.project_dir,
        "PYTHON_VERSION": opts.python_version,
        "INSTALL": opts.install,
        "INSTALL_DEV": opts.install_dev,
        "LINT": opts.lint,
        "UNIT_TESTS": opts.unit_tests,
        "CACHE_PATH": opts.cache_path,
        "PREPARE_STEP": _prepare_step(opts),
        "FEAST_DIR": opts.feast_repo or ".",
    }
    text = (
        _template(template)
        .replace("@@DATA_STEP@@", _template(data_step))
        .replace("@@DEPLOY_STEP@@", _template(deploy_step))
    )

    def fill(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _PLACEHOLDER.sub(fill, text)


def render_workflows(opts: WorkflowOptions | None = None) -> dict[str, str]:
    """Every workflow file's text, by file name."""
    opts = opts or WorkflowOptions()
    names = (*WORKFLOWS, FEAST_WORKFLOW) if opts.feast_repo else WORKFLOWS
    return {name: render(name, opts) for name in names}


def write_workflows(
    root: Path,
    opts: WorkflowOptions | None = None,
    *,
    force: bool = False,
    feast_repo: str | None = None,
) -> list[Path]:
    """Write `.github/workflows/*.yml` under `root`; refuses to overwrite unless `force`.
    `feast_repo`: the project trains from that Feast repository (the `feast` extra)."""
    if feast_repo is not None:
        opts = replace(
            opts or WorkflowOptions(),
            feast_repo=feast_repo,
            install=f"pip install 'mlgate[feast]=={__version__}'",
            install_dev=f"pip install 'mlgate[feast]=={__version__}' ruff pytest",
        )
    target = root / ".github" / "workflows"
    texts = render_workflows(opts)
    existing = [target / n for n in texts if (target / n).exists()]
    if existing and not force:
        raise UsageError(
            f"{existing[0]} exists", hint="pass --force to overwrite the workflow files"
        )
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        written.append(atomic.write_text(target / name, text))
    return written


# This repository's own workflows: the same templates, run on a demo project, installing mlgate
# from the checkout with exactly the locked dependencies (`make setup` syncs uv.lock into .venv).
# tests/unit/adapters/test_github.py keeps the committed files equal to this.
_LOCKED_SETUP = 'make setup && echo "$PWD/.venv/bin" >> "$GITHUB_PATH"'
REPOSITORY_OPTIONS = WorkflowOptions(
    project_dir="demo",
    install=_LOCKED_SETUP,
    install_dev=_LOCKED_SETUP,
    lint="ruff check . && ruff format --check . && mypy",
    unit_tests="pytest -q tests/unit",
    cache_path="uv.lock",
    prepare="mlgate init --demo demo --rows 3000",
)
