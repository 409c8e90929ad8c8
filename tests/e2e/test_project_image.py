"""The image of a model trained with the project's own code (tests/teamproject.py: a custom
transformer and LightGBM, served by scikit-learn): `mlgate build` installs that code and its
declared dependencies beside the bundle, and the smoke test loads the model in the container
and checks the code installed there against the bundle's hash. Code changed after training is
refused before anything is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.adapters.container.engine import Engine
from mlgate.app.image.build import BuildOptions, build_image
from mlgate.app.train import train
from mlgate.errors import BundleError
from mlgate.store.project import load_project
from tests.e2e.conftest import BASE_IMAGE
from tests.teamproject import write_team_project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPOSITORY = "localhost/mlgate-e2e-code"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_team_project(tmp_path_factory.mktemp("code-image") / "team", trees=20)
    train(load_project(root))
    return root


def _options(project: Path) -> BuildOptions:
    return BuildOptions(
        bundle_dir=project / "models" / "model",
        tag=REPOSITORY,
        engine="podman",
        base_image=BASE_IMAGE,
        revision="c0de" + "0" * 36,
        config=project / "mlgate.yaml",
    )


def test_the_image_carries_the_code_the_model_was_trained_with(
    engine: Engine, project: Path
) -> None:
    result = build_image(_options(project))
    try:
        # The smoke test passed: the container's server loaded the model (which it does only
        # once the code verifies) and its code digest equals the bundle's.
        assert result.smoke_rows == 5
        shown = engine.run(
            ["run", "--rm", "--entrypoint", "python3", result.image, "-c",
             "import teamfeat.features as f, lightgbm; print(f.__file__)"],
            what="locating the code in the image",
        )  # fmt: skip
        assert shown.stdout.strip() == "/opt/mlgate/teamfeat/features.py"
    finally:
        engine.run(["rmi", result.image], what="cleanup", check=False)


def test_code_changed_after_training_is_refused_before_any_build(
    engine: Engine, project: Path
) -> None:
    features = project / "src" / "teamfeat" / "features.py"
    original = features.read_text()
    features.write_text(original + "\n# changed after training\n")
    try:
        with pytest.raises(BundleError, match=r"teamfeat/features.py \(changed\)"):
            build_image(_options(project))
    finally:
        features.write_text(original)
