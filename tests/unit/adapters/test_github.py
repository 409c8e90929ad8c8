"""The GitHub Actions workflows: rendered from the templates, schema-valid, zizmor-clean,
least-privilege, pinned, and this repository's copies equal to what the templates render."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.adapters.github import (
    FEAST_WORKFLOW,
    REPOSITORY_OPTIONS,
    WORKFLOWS,
    WorkflowOptions,
    render_workflows,
    write_workflows,
)
from mlgate.errors import UsageError

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def load(text: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(text)
    return data


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every flavour on disk: a user's project (defaults), one that trains from a Feast
    repository, and this repository's."""
    user = tmp_path_factory.mktemp("user")
    files = {f"user/{p.name}": p for p in write_workflows(user)}
    feast = tmp_path_factory.mktemp("feast")
    files |= {f"feast/{p.name}": p for p in write_workflows(feast, feast_repo="features")}
    for name in WORKFLOWS:
        files[f"repo/{name}"] = REPO / ".github" / "workflows" / name
    return files


def test_this_repository_runs_exactly_the_rendered_templates() -> None:
    for name, text in render_workflows(REPOSITORY_OPTIONS).items():
        committed = (REPO / ".github" / "workflows" / name).read_text()
        assert committed == text, f"regenerate .github/workflows/{name} from the template"


def test_no_placeholder_survives_rendering() -> None:
    for opts in (None, REPOSITORY_OPTIONS):
        for text in render_workflows(opts).values():
            assert "@@" not in text


@pytest.mark.integration
def test_workflows_validate_against_the_github_workflow_schema(
    rendered: dict[str, Path],
) -> None:
    proc = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
         *map(str, rendered.values())],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.integration
def test_zizmor_finds_nothing_of_medium_severity_or_above(rendered: dict[str, Path]) -> None:
    proc = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--min-severity", "medium", "--format", "json",
         *map(str, rendered.values())],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)[:3000]


def test_every_action_is_pinned_by_full_commit_sha_with_its_tag_noted() -> None:
    for text in render_workflows().values():
        uses = re.findall(r"uses: (\S+)(.*)", text)
        assert uses
        for ref, rest in uses:
            assert PINNED.match(ref), ref
            assert re.match(r"\s+# v\d+\.\d+\.\d+$", rest), f"{ref}: note the tag"


# The one job allowed to write contents: GitHub's repository_dispatch API needs it. It checks
# out nothing and runs no project code (test_monitor_shape).
DISPATCH_JOB = ("monitor.yml", "retrain")


def test_least_privilege_per_job_and_one_run_per_ref() -> None:
    for name, text in render_workflows().items():
        wf = load(text)
        assert wf["permissions"] == {}, name
        assert "concurrency" in wf
        for job_id, job in wf["jobs"].items():
            perms = job["permissions"]
            if (name, job_id) == DISPATCH_JOB:
                assert perms == {"contents": "write"}
                continue
            assert perms.get("contents") == "read", (name, job_id)
            assert not any(v == "write" for k, v in perms.items() if k == "contents")
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def test_ci_cd_shape() -> None:
    wf = load(render_workflows()["ci-cd.yml"])
    on = wf[True]  # YAML 1.1 reads the key `on` as a boolean
    assert on["push"]["branches"] == ["main"]
    assert "pull_request" in on
    jobs = wf["jobs"]
    assert list(jobs) == ["test", "pipeline", "image", "deploy"]
    assert jobs["pipeline"]["needs"] == "test"
    assert jobs["pipeline"]["permissions"]["pull-requests"] == "write"
    assert jobs["image"]["needs"] == "pipeline"
    assert "refs/heads/main" in jobs["image"]["if"]
    assert jobs["image"]["permissions"]["packages"] == "write"
    assert jobs["deploy"]["environment"] == "production"
    assert jobs["deploy"]["needs"] == "image"
    pipeline_runs = " ".join(s.get("run", "") for s in jobs["pipeline"]["steps"])
    for command in ("dvc pull", "mlgate run", "mlgate report", "GITHUB_STEP_SUMMARY", "gh api"):
        assert command in pipeline_runs
    caches = [
        s for j in ("test", "pipeline") for s in jobs[j]["steps"] if "cache" in s.get("with", {})
    ]
    assert len(caches) == 2


def test_ci_cd_retrains_on_the_monitor_dispatch() -> None:
    wf = load(render_workflows()["ci-cd.yml"])
    assert wf[True]["repository_dispatch"] == {"types": ["mlgate-retrain"]}
    assert "repository_dispatch" in wf["jobs"]["image"]["if"]


def test_monitor_shape() -> None:
    from mlgate.app.monitor.alerts import EVENT_TYPE

    wf = load(render_workflows()["monitor.yml"])
    on = wf[True]
    assert on["schedule"][0]["cron"]
    assert "workflow_dispatch" in on
    monitor, retrain = wf["jobs"]["monitor"], wf["jobs"]["retrain"]
    assert monitor["permissions"] == {"contents": "read"}
    runs = " ".join(s.get("run", "") for s in monitor["steps"])
    assert "mlgate monitor --bundle @champion" in runs
    assert "--dispatch-file reports/monitor/dispatch.json" in runs
    assert 'echo "alert=true" >> "$GITHUB_OUTPUT"' in runs
    assert monitor["outputs"]["alert"] == "${{ steps.monitor.outputs.alert }}"
    assert retrain["needs"] == "monitor"
    assert "needs.monitor.outputs.alert == 'true'" in retrain["if"]
    # The write token meets no project code: no checkout, no install, one gh call.
    uses = [s["uses"] for s in retrain["steps"] if "uses" in s]
    assert [u.split("@")[0] for u in uses] == ["actions/download-artifact"]
    (dispatch,) = [s for s in retrain["steps"] if "run" in s]
    assert dispatch["run"].startswith('gh api "repos/$GITHUB_REPOSITORY/dispatches" --input')
    assert EVENT_TYPE in dispatch["name"]


def test_write_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    write_workflows(tmp_path)
    with pytest.raises(UsageError, match="--force"):
        write_workflows(tmp_path)
    assert len(write_workflows(tmp_path, force=True)) == len(WORKFLOWS)


def test_generated_workflows_install_the_mlgate_that_wrote_them() -> None:
    from mlgate import __version__

    text = "".join(render_workflows().values())
    installs = re.findall(r"pip install '(mlgate[^']*)'", text)
    assert installs
    assert set(installs) == {f"mlgate[all]=={__version__}"}


def test_the_pipeline_stops_on_an_empty_data_remote_and_warns_without_a_registry() -> None:
    steps = load(render_workflows()["ci-cd.yml"])["jobs"]["pipeline"]["steps"]
    by_name = {s.get("name"): s for s in steps}
    pull = by_name["dvc pull"]["run"]
    assert "if ! dvc pull; then" in pull
    assert "::error title=no data in the DVC remote::" in pull
    assert "exit 1" in pull
    run = by_name["mlgate run"]["run"]
    assert 'if [ -z "$MLFLOW_TRACKING_URI" ]' in run
    assert "::warning title=no champion gate::" in run
    assert "evaluation.champion_bundle" in run


def test_a_feast_project_applies_the_registry_instead_of_pulling_data_and_materialises() -> None:
    texts = render_workflows(WorkflowOptions(feast_repo="features"))
    assert sorted(texts) == sorted([*WORKFLOWS, FEAST_WORKFLOW])
    steps = load(texts["ci-cd.yml"])["jobs"]["pipeline"]["steps"]
    names = [s.get("name") for s in steps]
    assert "dvc pull" not in names
    assert names.index("feast apply") < names.index("mlgate run")
    apply = steps[names.index("feast apply")]
    assert (apply["working-directory"], apply["run"]) == ("features", "feast apply")
    schedule = load(texts[FEAST_WORKFLOW])
    assert schedule[True]["schedule"][0]["cron"]  # `on:` is YAML's True
    runs = [s.get("run", "") for s in schedule["jobs"]["materialize"]["steps"]]
    assert any(r.startswith("feast materialize-incremental ") for r in runs)
    default = render_workflows()
    assert FEAST_WORKFLOW not in default
    assert "feast" not in default["ci-cd.yml"]
    assert "- name: dvc pull" in default["ci-cd.yml"]


def test_a_feast_project_installs_the_feast_extra_of_the_mlgate_that_wrote_it(
    tmp_path: Path,
) -> None:
    from mlgate import __version__

    written = write_workflows(tmp_path, feast_repo="features")
    text = (tmp_path / ".github" / "workflows" / "ci-cd.yml").read_text()
    assert f"pip install 'mlgate[feast]=={__version__}'" in text
    assert "mlgate[all]" not in text
    assert {p.name for p in written} == {*WORKFLOWS, FEAST_WORKFLOW}


# What the deploy job rendered before Feast projects passed --online-features: every other
# project's step stays exactly this.
PLAIN_DEPLOY_STEP = """\
      - name: render manifests (image by digest)
        env:
          IMAGE: ${{ needs.image.outputs.image }}
        run: |
          mlgate deploy --target kubernetes --image "$IMAGE" --out deploy/k8s
      - name: kubectl apply
"""


def _render_step(text: str) -> dict[str, Any]:
    steps = load(text)["jobs"]["deploy"]["steps"]
    (step,) = [s for s in steps if s.get("name") == "render manifests (image by digest)"]
    assert isinstance(step, dict)
    return step


def test_a_project_not_trained_from_feast_renders_manifests_as_before() -> None:
    for opts in (None, REPOSITORY_OPTIONS):
        text = render_workflows(opts)["ci-cd.yml"]
        assert PLAIN_DEPLOY_STEP in text
        assert "online" not in text.lower()
        assert "vars." not in text


def test_a_feast_project_deploys_with_the_feature_server_from_a_variable() -> None:
    text = render_workflows(WorkflowOptions(feast_repo="features"))["ci-cd.yml"]
    step = _render_step(text)
    assert step["env"] == {
        "IMAGE": "${{ needs.image.outputs.image }}",
        "ONLINE_FEATURES": "${{ vars.MLGATE_ONLINE_FEATURES }}",
    }
    run = step["run"]
    assert "${{" not in run  # only env: interpolates; the script reads the variable
    deploy = 'mlgate deploy --target kubernetes --image "$IMAGE" --out deploy/k8s'
    assert f'{deploy} --online-features "$ONLINE_FEATURES"' in run
    empty, _, given = run.partition("else")
    assert empty.startswith('if [ -z "$ONLINE_FEATURES" ]; then')
    assert "::warning title=no online features::MLGATE_ONLINE_FEATURES is not set" in empty
    assert "refuses requests whose rows carry only their entity keys" in empty
    assert "--online-features" not in empty
    assert deploy in empty
    assert "--online-features" in given
