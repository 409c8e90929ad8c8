"""Data versioning with DVC: track the data file, configure a remote, and describe the pipeline
as DVC stages that call mlgate commands, so `dvc repro` reruns only what changed.

DVC runs as a subprocess (`python -m dvc` from this interpreter) rather than through its Python
API: the API is internal, configures logging globally and pulls in its whole dependency tree at
import, while the CLI is DVC's stable interface and isolates its failures. The commands `init`
needs take about 1-2 s in total.

Models are not DVC outputs that get cached: the registry versions them. The train stage declares
the two bundle files that identify a model (model.skops, mlgate.json) as uncached outputs, which
orders the stages; `mlgate gate` adds gate.json and re-seals the bundle, and declaring the whole
bundle directory would make DVC see the train stage's output "modified" and retrain every time.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlgate.errors import DataError, InfraError, UsageError
from mlgate.store import atomic
from mlgate.store.project import load_project
from mlgate.store.tables import fingerprint
from mlgate.store.yamlfile import read_yaml

DVC_YAML = "dvc.yaml"
REMOTE_NAME = "mlgate"
# Keys of mlgate.yaml each stage depends on (only those present in the file are declared:
# DVC refuses a params entry that is missing from the params file).
_STAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "validate": ("data", "drift"),
    "train": ("name", "task", "data", "model", "preprocess", "split"),
    "gate": ("gates", "split"),
}


@dataclass(frozen=True)
class DvcInit:
    """What `init_dvc` did."""

    root: Path
    remote: str
    data_dvc_file: Path
    files: tuple[Path, ...]
    committed: bool
    seconds: float


def default_remote(environ: Mapping[str, str] | None = None) -> Path:
    """The demo's local remote, shared by projects (DVC's storage is content-addressed), in
    the user's cache directory (`XDG_CACHE_HOME` of `environ`, default the process's)."""
    env = os.environ if environ is None else environ
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mlgate" / "dvc-remote"


def _env() -> dict[str, str]:
    # No analytics ping from CI machines, and no interactive pager.
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_PAGER": "cat"}


def run_dvc(root: Path, *args: str) -> str:
    """Run `dvc ARGS` in `root`; DVC's own message (which says how to fix) on failure."""

    if importlib.util.find_spec("dvc") is None:
        raise InfraError(
            "DVC is not installed in this environment",
            hint="pip install 'mlgate[dvc]'",
        )
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise UsageError(f"`dvc {' '.join(args)}` failed in {root}: " + " ".join(detail[-5:]))
    return proc.stdout


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, env=_env(), check=False
    )
    if check and proc.returncode != 0:
        raise UsageError(
            f"`git {' '.join(args)}` failed in {root}: {proc.stderr.strip()}",
            hint="check that git is configured (user.name, user.email) and the repo is healthy",
        )
    return proc


def git_ignored(path: Path) -> bool:
    """True when git ignores `path` (DVC refuses to initialise in an ignored directory)."""
    return _git(path, "check-ignore", "-q", str(path.resolve()), check=False).returncode == 0


def git_toplevel(root: Path) -> Path:
    """The git work tree that holds `root`; UsageError when there is none."""
    proc = _git(root, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0:
        raise UsageError(
            f"{root} is not inside a git repository; DVC versions data alongside git",
            hint="run `git init` first (or leave out DVC)",
        )
    return Path(proc.stdout.strip()).resolve()


def _present_keys(config_file: Path) -> set[str]:
    raw = read_yaml(config_file)
    return set(raw) if isinstance(raw, dict) else set()


DVC_YAML_HEADER = """\
# Written by `mlgate init`. `dvc repro` reruns only the stages whose deps or params
# changed; `dvc push` / `dvc pull` move the data. Models are versioned by the registry:
# the bundle files below are uncached outputs that only order the stages.
"""


def render_dvc_yaml(
    *,
    data: str,
    schema: str,
    profile: str,
    bundle: str,
    reports: str,
    metrics: str,
    config_keys: set[str],
    config_file: str = "mlgate.yaml",
) -> str:
    """dvc.yaml for the validate -> train -> gate stages (pure: paths and keys in, text out)."""

    def stage(name: str, deps: list[str], outs: list[str]) -> dict[str, object]:
        body: dict[str, object] = {"cmd": f"mlgate {name}", "deps": deps}
        keys = [k for k in _STAGE_PARAMS[name] if k in config_keys]
        if keys:
            body["params"] = [{config_file: keys}]
        body["outs"] = [{p: {"cache": False}} for p in outs]
        return body

    validation = f"{reports}/validation.json"
    model_files = [f"{bundle}/model.skops", f"{bundle}/mlgate.json"]
    gate = stage("gate", [data, *model_files], [f"{reports}/gate.json"])
    gate["metrics"] = [{metrics: {"cache": False}}]
    stages = {
        "validate": stage("validate", [data, schema, profile], [validation]),
        "train": stage("train", [data, schema, validation], model_files),
        "gate": gate,
    }
    body = yaml.safe_dump({"stages": stages}, sort_keys=False, default_flow_style=False)
    return DVC_YAML_HEADER + body


def _rel(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def _commit(root: Path, files: list[Path], untracked: str | None) -> bool:
    """Commit exactly `files` (and the data path git stopped tracking); False if unchanged."""
    paths = [_rel(p, root) for p in files]
    _git(root, "add", "--", *paths)
    pathspec = [*paths, untracked] if untracked is not None else paths
    if not _git(root, "diff", "--cached", "--quiet", "--", *pathspec, check=False).returncode:
        return False
    message = "Track data with DVC; mlgate pipeline stages"
    _git(root, "commit", "-q", "-m", message, "--", *pathspec)
    return True


def init_dvc(
    project_root: Path,
    remote: str | None = None,
    *,
    commit: bool = True,
    extra: Sequence[Path] = (),
) -> DvcInit:
    """Track the project's data with DVC in its git repository and write dvc.yaml.

    Runs `dvc init` (once), `dvc add` on data.path (untracking it from git first if needed),
    sets `remote` (default: a local directory, `default_remote()`) as the default remote, and
    writes dvc.yaml. With `commit`, commits the DVC files and the `extra` paths (what
    `mlgate init` wrote) — only those paths, never other staged changes. Idempotent.
    """

    t0 = time.perf_counter()
    root = project_root.resolve()
    project = load_project(root)
    top = git_toplevel(root)
    if not (root / ".dvc").is_dir():
        # No -q: DVC's quiet mode hides its error messages too, and those say how to fix.
        run_dvc(root, "init", *(["--subdir"] if top != root else []))
    data = project.data_path.resolve()
    if not data.is_file():
        raise UsageError(f"data file not found: {data}", hint="check data.path in mlgate.yaml")
    if not data.is_relative_to(root):
        raise UsageError(f"data file {data} is outside the project {root}; DVC cannot track it")
    data_rel = _rel(data, root)
    untracked_from_git = (
        _git(root, "ls-files", "--error-unmatch", data_rel, check=False).returncode == 0
    )
    if untracked_from_git:
        # Git tracked it so far: hand it over to DVC (the file itself stays on disk).
        _git(root, "rm", "--cached", "-q", data_rel)
    run_dvc(root, "add", data_rel)
    url = remote or str(default_remote())
    if "://" not in url:
        Path(url).mkdir(parents=True, exist_ok=True)
        url = str(Path(url).resolve())
    run_dvc(root, "remote", "add", "-d", "-f", REMOTE_NAME, url)
    text = render_dvc_yaml(
        data=data_rel,
        schema=_rel(project.schema_path, root),
        profile=_rel(project.profile_path, root),
        bundle=_rel(project.bundle_dir, root),
        reports=_rel(project.reports_dir, root),
        metrics=_rel(project.metrics_path, root),
        config_keys=_present_keys(root / "mlgate.yaml"),
    )
    dvc_yaml = atomic.write_text(root / DVC_YAML, text)
    dvc_file = data.with_name(data.name + ".dvc")
    files = [
        root / ".dvc" / "config",
        root / ".dvc" / ".gitignore",
        root / ".dvcignore",
        dvc_file,
        data.parent / ".gitignore",
        dvc_yaml,
    ]
    files += [p.resolve() for p in extra if p.resolve() != data]
    files = [p for p in dict.fromkeys(files) if p.exists()]
    committed = commit and _commit(root, files, data_rel if untracked_from_git else None)
    return DvcInit(
        root=root,
        remote=url,
        data_dvc_file=dvc_file,
        files=tuple(files),
        committed=committed,
        seconds=time.perf_counter() - t0,
    )


def _dvc_out(path: Path) -> dict[str, object] | None:
    """The `outs` entry of `<path>.dvc`, or None when DVC does not track the file."""

    dvc_file = path.with_name(path.name + ".dvc")
    if not dvc_file.is_file():
        return None
    raw = read_yaml(dvc_file, DataError)
    outs = raw.get("outs") if isinstance(raw, dict) else None
    if not outs or not isinstance(outs[0], dict) or not outs[0].get("md5"):
        return None
    out: dict[str, object] = outs[0]
    return out


def is_dvc_tracked(path: Path) -> bool:
    """True when `<path>.dvc` exists and records the file's current content."""

    out = _dvc_out(path)
    return out is not None and f"md5:{out['md5']}" == fingerprint(path)
