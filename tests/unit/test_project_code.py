"""The project's own code: found without importing it, pinned by hash, refused when it differs,
imported only from where it was verified; the wheel the image installs holds exactly it."""

from __future__ import annotations

import hashlib
import importlib
import logging
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlgate.app.image.codewheel import build_code_wheel, wheel_version
from mlgate.core.config import parse_config
from mlgate.errors import BundleError, ConfigError
from mlgate.model.custom import project_estimator
from mlgate.store.code import (
    check_code,
    code_files,
    declared_requirements,
    find_code,
    import_verified,
    record_code,
    verify_code,
)


@pytest.fixture
def clean_modules() -> Iterator[None]:
    """Forget the test packages imported by a test."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("pinned", "other_pkg", "solo")):
            del sys.modules[name]


def _package(root: Path, name: str = "pinned", body: str = "VALUE = 1\n") -> Path:
    pkg = root / "src" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""a package"""\n')
    (pkg / "features.py").write_text(body)
    return pkg


def test_the_projects_src_package_is_found_first_without_importing_it(tmp_path: Path) -> None:
    _package(tmp_path, body="raise SystemExit('imported')\n")
    (tmp_path / "pinned").mkdir()
    (tmp_path / "pinned" / "__init__.py").write_text("")
    found = find_code("pinned", tmp_path)
    assert found is not None
    assert found.kind == "package"
    assert found.path == tmp_path / "src" / "pinned"
    assert "pinned" not in sys.modules
    (tmp_path / "solo.py").write_text("X = 1\n")
    module = find_code("solo", tmp_path)
    assert module is not None
    assert (module.kind, module.path) == ("module", tmp_path / "solo.py")
    assert find_code("no_such_package_here", tmp_path) is None
    assert find_code("not-an-identifier", tmp_path) is None


def test_caches_are_not_code_and_a_symlink_is_refused(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "features.cpython-311.pyc").write_bytes(b"\0")
    (pkg / "stale.pyc").write_bytes(b"\0")
    (pkg / "data.json").write_text("{}")
    source = find_code("pinned", tmp_path)
    assert source is not None
    files = code_files(source)
    assert sorted(files) == ["pinned/__init__.py", "pinned/data.json", "pinned/features.py"]
    assert files["pinned/features.py"] == hashlib.sha256(b"VALUE = 1\n").hexdigest()
    (pkg / "elsewhere.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises(BundleError, match=r"pinned/elsewhere.py is a symbolic link"):
        code_files(source)


def test_changed_new_and_missing_files_are_refused_by_name(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    record, _ = record_code("pinned", tmp_path)
    (pkg / "features.py").write_text("VALUE = 2\n")
    (pkg / "extra.py").write_text("")
    (pkg / "__init__.py").unlink()
    (pkg / "__init__.py").write_text('"""a package"""\n')
    with pytest.raises(BundleError) as caught:
        check_code(record, tmp_path)
    message = caught.value.message
    assert "pinned/features.py (changed)" in message
    assert "pinned/extra.py (new)" in message
    assert "__init__.py" not in message  # rewritten with the same bytes: the same code
    assert record.digest in message
    (pkg / "features.py").unlink()
    with pytest.raises(BundleError, match=r"pinned/features.py \(missing\)"):
        check_code(record, tmp_path)


def test_drift_allowed_warns_and_imports_from_the_verified_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, clean_modules: None
) -> None:
    pkg = _package(tmp_path)
    record, _ = record_code("pinned", tmp_path)
    (pkg / "features.py").write_text("VALUE = 3\n")
    path_before = list(sys.path)
    with caplog.at_level(logging.WARNING, logger="mlgate.store.code"):
        verify_code(record, tmp_path, allow_drift=True)
    assert "loading it anyway (--allow-code-drift)" in caplog.text
    assert sys.path == path_before  # nothing of the project is put on sys.path
    features = importlib.import_module("pinned.features")
    assert features.VALUE == 3
    assert Path(sys.modules["pinned"].__file__ or "") == pkg / "__init__.py"


def test_a_module_of_that_name_imported_from_elsewhere_is_refused(
    tmp_path: Path, clean_modules: None
) -> None:
    _package(tmp_path / "one", name="other_pkg")
    _package(tmp_path / "two", name="other_pkg")
    first = find_code("other_pkg", tmp_path / "one")
    second = find_code("other_pkg", tmp_path / "two")
    assert first is not None
    assert second is not None
    import_verified(first)
    import_verified(first)  # the same place again: fine
    with pytest.raises(BundleError, match="is already imported from"):
        import_verified(second)


def test_code_that_fails_to_import_is_an_error_naming_the_file(
    tmp_path: Path, clean_modules: None
) -> None:
    pkg = _package(tmp_path)
    (pkg / "__init__.py").write_text("import does_not_exist_anywhere\n")
    source = find_code("pinned", tmp_path)
    assert source is not None
    with pytest.raises(BundleError, match=r"importing the project's code .*__init__.py failed"):
        import_verified(source)
    assert "pinned" not in sys.modules


def test_a_project_without_the_package_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model.pipeline: the project has no package"):
        record_code("pinned", tmp_path)


def test_declared_dependencies_are_pinned_to_the_installed_versions(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["scikit-learn>=1", "numpy", '
        '"surely-not-installed-dist"]\n'
    )
    import numpy
    import sklearn

    assert declared_requirements(tmp_path) == {
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
    }


def test_the_wheel_holds_exactly_the_recorded_code_and_is_reproducible(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "pinned"\nversion = "2.0"\n')
    record, source = record_code("pinned", tmp_path)
    first = build_code_wheel(record, source, tmp_path / "a")
    second = build_code_wheel(record, source, tmp_path / "b")
    assert first.name == "pinned-2.0-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        names = set(zf.namelist())
        assert zf.read("pinned/features.py") == b"VALUE = 1\n"
        record_text = zf.read("pinned-2.0.dist-info/RECORD").decode()
    assert names == {
        "pinned/__init__.py",
        "pinned/features.py",
        "pinned-2.0.dist-info/METADATA",
        "pinned-2.0.dist-info/WHEEL",
        "pinned-2.0.dist-info/RECORD",
    }
    assert "pinned/features.py,sha256=" in record_text
    (pkg / "features.py").write_text("VALUE = 9\n")
    with pytest.raises(BundleError, match="changed while the image was being built"):
        build_code_wheel(record, source, tmp_path / "c")
    unversioned = record.model_copy(update={"version": "not a version"})
    assert wheel_version(unversioned) == "0+" + record.digest.removeprefix("sha256:")[:12]


def _builder(tmp_path: Path, body: str) -> str:
    """A module `solo_<n>` at the project root with `body`, imported; its `build` named."""
    name = f"solo_{abs(hash(body)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(body)
    source = find_code(name, tmp_path)
    assert source is not None
    import_verified(source)
    return f"{name}:build"


def test_the_builder_is_called_with_model_params_and_seeded(
    tmp_path: Path, clean_modules: None
) -> None:
    ref = _builder(
        tmp_path,
        "from sklearn.pipeline import Pipeline\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "def build(n_estimators=10):\n"
        "    return Pipeline([('m', RandomForestClassifier(n_estimators=n_estimators))])\n",
    )
    estimator = project_estimator(ref, {"n_estimators": 7}, seed=11)
    assert estimator.get_params()["m__n_estimators"] == 7
    assert estimator.get_params()["m__random_state"] == 11
    with pytest.raises(ConfigError, match=r"model.params: .* does not take depth"):
        project_estimator(ref, {"depth": 3}, seed=0)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("build = 3\n", "has no function 'build'"),
        ("def build():\n    raise KeyError('column x')\n", r"raised KeyError: 'column x' \(at "),
        ("def build():\n    return 42\n", "returned int, which is not an estimator"),
        (
            "class M:\n    def fit(self): ...\n    def predict(self): ...\n"
            "def build():\n    return M()\n",
            "that scikit-learn cannot clone",
        ),
    ],
    ids=["not-a-function", "raises", "not-an-estimator", "not-clonable"],
)
def test_a_builder_that_cannot_give_a_model_is_a_config_error(
    tmp_path: Path, clean_modules: None, body: str, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        project_estimator(_builder(tmp_path, body), {}, seed=0)


def test_pipeline_and_estimator_together_or_a_malformed_pipeline_are_refused() -> None:
    base = {"name": "m", "data": {"path": "d.csv", "target": "y"}}
    with pytest.raises(ConfigError, match=r"model\.estimator and model\.pipeline both name"):
        parse_config({**base, "model": {"pipeline": "a.b:c", "estimator": "x.Y"}}, "mlgate.yaml")
    with pytest.raises(ConfigError, match=r"model.pipeline"):
        parse_config({**base, "model": {"pipeline": "a.b.c"}}, "mlgate.yaml")
    config = parse_config({**base, "model": {"pipeline": "team.pipe:build"}}, "mlgate.yaml")
    assert config.model.pipeline == "team.pipe:build"
