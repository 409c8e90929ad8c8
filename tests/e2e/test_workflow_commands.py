"""The CI/CD workflow cannot drift from the CLI: every `run:` step of .github/workflows/ci-cd.yml
that calls mlgate is executed here, in workflow order, as a push to main would run it.

The rule for what runs locally:
  * a `run:` script runs (with bash -eo pipefail, as on GitHub's Ubuntu runners) when one of
    its lines invokes `mlgate`; scripts that do not (pip install, lint, unit tests, `dvc pull`,
    `gh api`, `kubectl`) are GitHub-side or setup and are skipped, as are `uses:` actions
    (checkout, artifacts, registry login): the jobs share one local workspace instead;
  * `${{ ... }}` expressions are resolved from a small table (github.*, secrets.* -> "" as for
    an unset secret, env.*, steps.*.outputs.*, needs.*.outputs.*); an unknown expression fails;
  * these environment values are replaced for this machine: MLGATE_ENGINE=podman, the local
    base image, the test registry for ghcr.io, MLGATE_TLS_VERIFY=false (plain-HTTP registry).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.adapters.container.engine import Engine
from tests.e2e.conftest import BASE_IMAGE, Registry

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "ci-cd.yml"
SHA = "c0ffee" + "0" * 34
_EXPR = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
# In command position: at the start of a line or after a shell separator, not as an argument
# (`dvc remote add -d -f mlgate s3://...` names a remote).
_INVOKES_MLGATE = re.compile(r"(^|[;&|(]|\bthen|\bdo|\belse|!)\s*mlgate\s")


def invokes_mlgate(script: str) -> bool:
    """Whether a `run:` script calls the mlgate CLI (comments do not count)."""
    lines = (ln.split("#", 1)[0] for ln in script.splitlines())
    return any(_INVOKES_MLGATE.search(ln) for ln in lines)


class Expressions:
    """Resolves the `${{ }}` forms the workflow uses, from local values."""

    def __init__(self, github: dict[str, str]) -> None:
        self.github = github
        self.steps: dict[str, dict[str, str]] = {}
        self.needs: dict[str, dict[str, str]] = {}
        self.env: dict[str, str] = {}

    def value(self, expr: str) -> str:
        parts = expr.split(".")
        if parts[0] == "github" and ".".join(parts[1:]) in self.github:
            return self.github[".".join(parts[1:])]
        if parts[0] == "secrets" and len(parts) == 2:
            return ""
        if parts[0] == "env" and len(parts) == 2:
            return self.env.get(parts[1], "")
        if parts[0] in ("steps", "needs") and len(parts) == 4 and parts[2] == "outputs":
            table = self.steps if parts[0] == "steps" else self.needs
            return table.get(parts[1], {}).get(parts[3], "")
        raise AssertionError(f"the workflow uses an expression this test cannot resolve: {expr}")

    def resolve(self, text: str) -> str:
        return _EXPR.sub(lambda m: self.value(m.group(1)), text)


def read_outputs(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def test_every_mlgate_step_of_ci_cd_runs_locally_in_order(
    engine: Engine, registry: Registry, tmp_path: Path
) -> None:
    workflow: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shim = tmp_path / "bin"
    shim.mkdir()
    # `mlgate` on PATH: this environment's installed entry point.
    (shim / "mlgate").symlink_to(Path(sys.executable).with_name("mlgate"))
    summary = tmp_path / "step-summary.md"
    summary.touch()
    github = {
        "sha": SHA,
        "repository": "Acme/Churn-Demo",  # upper case: the workflow must lowercase it for GHCR
        "event_name": "push",
        "ref": "refs/heads/main",
        "workflow": "ci-cd",
        "actor": "ci",
        "token": "",
        "event.pull_request.number": "",
    }
    expr = Expressions(github)
    overrides = {
        "MLGATE_ENGINE": "podman",
        "MLGATE_BASE_IMAGE": BASE_IMAGE,
        "REGISTRY": registry.address,
        "MLGATE_TLS_VERIFY": "false",
    }
    base_env = {
        "PATH": f"{shim}:{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_SHA": SHA,
        "GITHUB_REPOSITORY": github["repository"],
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REF": github["ref"],
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(tmp_path),
    }
    ran: list[str] = []
    for job_id, job in workflow["jobs"].items():
        expr.steps = {}
        for index, step in enumerate(job["steps"]):
            script = step.get("run")
            if script is None or not invokes_mlgate(script):
                continue
            env = dict(base_env)
            for scope in (workflow.get("env", {}), job.get("env", {}), step.get("env", {})):
                for key, value in scope.items():
                    expr.env = env
                    env[key] = expr.resolve(str(value))
            env.update(overrides)
            outputs = tmp_path / f"output-{job_id}-{index}"
            outputs.touch()
            env["GITHUB_OUTPUT"] = str(outputs)
            cwd = workspace / step.get("working-directory", ".")
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", expr.resolve(script)],
                cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False,
            )  # fmt: skip
            name = f"{job_id}: {step.get('name', script.splitlines()[0])}"
            assert proc.returncode == 0, (
                f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
            ran.append(name)
            if "id" in step:
                expr.steps[step["id"]] = read_outputs(outputs)
        expr.needs[job_id] = {k: expr.resolve(v) for k, v in job.get("outputs", {}).items()}

    assert ran == [
        "pipeline: prepare the project",
        "pipeline: mlgate run",
        "pipeline: report",
        "image: build + smoke test",
        "image: push",
        "deploy: render manifests (image by digest)",
    ]
    assert summary.read_text().startswith("<!-- mlgate-report:")
    image = expr.needs["image"]["image"]
    assert re.fullmatch(
        rf"{re.escape(registry.address)}/acme/churn-demo@sha256:[0-9a-f]{{64}}", image
    )
    deployment = yaml.safe_load_all((workspace / "deploy" / "k8s" / "deployment.yaml").read_text())
    (dep,) = list(deployment)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == image
    engine.run(["rmi", f"{registry.address}/acme/churn-demo:{SHA}"], what="cleanup", check=False)
