"""No code runs from an unverified bundle: a malicious model with recomputed SHA256SUMS is
refused by serve, by run (as the registry's champion) and by build, and its payload never
runs; a bundle signed with key A fails under key B; an unsigned bundle fails under any key."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest

from mlgate.store.bundle import MODEL_FILE, ONNX_FILE, seal
from tests.faults.conftest import ServerFactory, edit, mlgate, predict_body
from tests.keys import keypair

pytestmark = [pytest.mark.faults, pytest.mark.slow]


class Payload:
    """Unpickling this runs a shell command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


def poison(bundle: Path, marker: Path, kind: str, *, keep_onnx: bool = False) -> None:
    """Replace the model with a payload that touches `marker` when loaded; recompute the sums."""
    if kind == "pickle":
        (bundle / MODEL_FILE).write_bytes(pickle.dumps(Payload(f"touch {marker}")))
    else:
        # A skops file whose pipeline calls os.system: a type no allow-list holds.
        import numpy as np
        import skops.io
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer

        model = Pipeline([("run", FunctionTransformer(os.system, kw_args={}))])
        model.fit(np.zeros((2, 1)))
        (bundle / MODEL_FILE).write_bytes(skops.io.dumps(model))
    if not keep_onnx:
        (bundle / ONNX_FILE).unlink(missing_ok=True)
    seal(bundle)  # integrity restored: only trust can stop it now


@pytest.fixture
def trained(project: Path, env: dict[str, str]) -> Path:
    done = mlgate("train", cwd=project, env=env)
    assert done.code == 0, done.err
    return project / "models" / "model"


@pytest.mark.parametrize("kind", ["pickle", "skops"])
def test_serve_refuses_a_malicious_model_and_the_payload_never_runs(
    trained: Path, tmp_path: Path, env: dict[str, str], serve: ServerFactory, kind: str
) -> None:
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil"
    shutil.copytree(trained, evil)
    poison(evil, marker, kind)
    server = serve(evil, wait=False)
    assert server.proc.wait(timeout=120) == 2
    log = server.log()
    assert "model.skops" in log
    assert ("posix.system" in log) if kind == "skops" else ("not a readable skops file" in log)
    assert not marker.exists()


def test_an_onnx_bundle_is_served_without_reading_the_scikit_learn_model(
    trained: Path, tmp_path: Path, serve: ServerFactory
) -> None:
    import httpx

    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil"
    shutil.copytree(trained, evil)
    poison(evil, marker, "pickle", keep_onnx=True)
    server = serve(evil)  # runtime auto: ONNX Runtime, model.skops is never opened
    r = httpx.post(f"{server.url}/predict", json=predict_body(trained.parent.parent))
    assert r.status_code == 200, r.text
    assert httpx.get(f"{server.url}/").json()["runtime"] == "onnx"
    assert server.stop() == 0
    assert not marker.exists()


def test_run_refuses_a_malicious_champion_from_the_registry(
    project: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    marker = tmp_path / "PWNED"
    first = mlgate("run", cwd=project, env=env)
    assert first.code == 0, first.err
    assert mlgate("promote", "--reason", "v1", cwd=project, env=env).code == 0
    copies = list((project / "mlruns" / "artifacts").rglob(MODEL_FILE))
    assert len(copies) == 1
    poison(copies[0].parent, marker, "pickle")  # the registry's copy, sums recomputed
    again = mlgate("run", cwd=project, env=env)
    assert again.code == 2, again.err
    # The registry's recorded digest refuses the swapped copy before its model is read; were
    # it not there, the model file's audit would.
    refused = ("artifacts of that version", "not a readable skops file")
    assert any(reason in again.err for reason in refused), again.err
    assert not marker.exists()
    models = mlgate("models", "--json", cwd=project, env=env)
    assert [v["version"] for v in __import__("json").loads(models.out)] == [1]


needs_podman = pytest.mark.skipif(
    shutil.which("podman") is None,
    reason="mlgate build looks for its engine first: run `bash scripts/setup-containers.sh`",
)


@needs_podman
@pytest.mark.parametrize("kind", ["pickle", "skops"])
def test_build_refuses_a_malicious_model_without_loading_it(
    trained: Path, tmp_path: Path, env: dict[str, str], kind: str
) -> None:
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil"
    shutil.copytree(trained, evil)
    poison(evil, marker, kind)
    done = mlgate("build", str(evil), "--engine", "podman", "--no-smoke", cwd=tmp_path, env=env)
    assert done.code == 2, done.err
    assert "model.skops" in done.err
    assert not marker.exists()


@needs_podman
def test_key_a_signs_and_key_b_refuses_everywhere(
    project: Path, tmp_path: Path, env: dict[str, str], serve: ServerFactory
) -> None:
    _, a_public = keypair(project, "a")
    _, b_public = keypair(project, "b")
    with (project / "mlgate.yaml").open("a") as fh:
        fh.write("\ntrust:\n  private_key: a.pem\n")
    done = mlgate("run", cwd=project, env=env)
    assert done.code == 0, done.err
    bundle = project / "models" / "model"
    assert (bundle / "model.sig").is_file()

    # Serve: key A serves, key B refuses (exit 2, naming the key).
    ok = serve(bundle, "--public-key", str(a_public))
    assert ok.stop() == 0
    bad = serve(bundle, "--public-key", str(b_public), wait=False)
    assert bad.proc.wait(timeout=120) == 2
    assert "does not verify with public key" in bad.log()

    # Build: refused before any image work.
    built = mlgate(
        "build", str(bundle), "--public-key", str(b_public), "--engine", "podman", "--no-smoke",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert built.code == 2, built.err
    assert "does not verify" in built.err

    # Register, and run against a champion signed by A, with the project now trusting only B.
    assert mlgate("promote", "--reason", "signed by A", cwd=project, env=env).code == 0
    edit(project, "private_key: a.pem", "public_key: b.pub")
    registered = mlgate("register", cwd=project, env=env)
    assert registered.code == 2, registered.err
    assert "does not verify" in registered.err
    rerun = mlgate("run", cwd=project, env=env)
    assert rerun.code == 2, rerun.err
    assert "does not verify" in rerun.err


def test_an_unsigned_bundle_is_refused_when_a_public_key_is_configured(
    trained: Path, tmp_path: Path, serve: ServerFactory
) -> None:
    _, public = keypair(tmp_path, "k")
    server = serve(trained, "--public-key", str(public), wait=False)
    assert server.proc.wait(timeout=120) == 2
    assert "is not signed" in server.log()


def test_no_verify_warns_and_reports_the_version_of_the_bytes_served(
    trained: Path, tmp_path: Path, serve: ServerFactory
) -> None:
    import httpx

    from mlgate.store.bundle import digests_of, load_bundle, version_of

    sealed = load_bundle(trained).version
    changed = tmp_path / "changed"
    shutil.copytree(trained, changed)
    # MLflow's environment file, which serving never reads: SHA256SUMS no longer matches.
    (changed / "conda.yaml").write_text("name: changed\n")
    refused = serve(changed, wait=False)
    assert refused.proc.wait(timeout=120) == 2
    server = serve(changed, "--no-verify")
    assert "WARNING: --no-verify" in server.log()
    assert "NOT VERIFYING" in server.log()
    served = httpx.get(f"{server.url}/").json()["version"]
    assert served == version_of(digests_of(changed))
    assert served != sealed
