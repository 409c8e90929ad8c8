"""Crafted model files: real skops files of real fitted models with one array changed inside
the zip (as an attacker would, without scikit-learn's help), bundles resealed around them, and
the fault suite's real `mlgate` processes to load them.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlgate.store.bundle import MODEL_FILE, ONNX_FILE, seal
from tests.faults import conftest as faults

# The fault suite's fixtures: a small demo project, its environment, `mlgate serve`.
fault_template = faults.fault_template
env = faults.env
serve = faults.serve

KNN_MODEL = "\n".join(
    [
        "  estimator: sklearn.neighbors.KNeighborsClassifier",
        "  onnx: never",
        "  imbalance: none",
        "  params:",
        "    algorithm: kd_tree",
        "    n_neighbors: 5",
        "",
    ]
)
KD_TREE = "KDTree"
# KDTree's state is a tuple: data, idx_array, node_data, node_bounds, ...
KD_FIELDS = {"data": 0, "idx_array": 1, "node_data": 2, "node_bounds": 3}


def _nodes(state: Any) -> Iterator[dict[str, Any]]:
    stack = [state]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if "__loader__" in value:
                yield value
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def array_files(data: bytes, cls: str, key: str | int) -> list[str]:
    """The zip members holding field `key` (an attribute name, or a position in a tuple state)
    of every object of class `cls` in a skops file."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    found = []
    for node in _nodes(schema):
        if node.get("__class__") != cls or "content" not in node:
            continue
        content = node["content"]["content"]
        item = content[key] if isinstance(key, int) else content.get(key)
        if isinstance(item, dict) and "file" in item:
            found.append(str(item["file"]))
    return found


def read_array(data: bytes, name: str) -> np.ndarray:
    """One array of a skops file."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        loaded: np.ndarray = np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
        return loaded


def replace_member(data: bytes, name: str, content: bytes) -> bytes:
    """The skops file with one zip member's bytes replaced."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info, content if info.filename == name else src.read(info.filename))
    return out.getvalue()


def replace_array(data: bytes, name: str, array: np.ndarray) -> bytes:
    """The skops file with one `.npy` member replaced by `array`."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return replace_member(data, name, buffer.getvalue())


def crafted_kd_tree(data: bytes, variant: str) -> bytes:
    """A skops file whose first KDTree has one array tampered with (`variant`)."""
    field, _, how = variant.partition(":")
    name = array_files(data, KD_TREE, KD_FIELDS[field])[0]
    arr = read_array(data, name).copy()
    if how == "huge":
        arr[len(arr) // 2] = 10**12
    elif how == "negative":
        arr[0] = -5
    elif how == "end":  # a leaf's range past the samples
        arr["idx_end"][-1] = arr["idx_end"].max() + 1000
    elif how == "nan":
        arr[0, 0] = np.nan
    elif how == "shape":
        arr = arr[:, :-1]
    else:
        raise AssertionError(f"unknown variant {variant}")
    return replace_array(data, name, arr)


def write_model(bundle: Path, data: bytes) -> None:
    """Put `data` in the bundle as its model and reseal it: integrity holds, only trust can
    refuse it now."""
    (bundle / MODEL_FILE).write_bytes(data)
    (bundle / ONNX_FILE).unlink(missing_ok=True)
    seal(bundle)


@pytest.fixture(scope="session")
def knn_template(fault_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small demo project with a k-nearest-neighbours model (a KDTree inside), trained
    once, never modified."""
    from mlgate.app.train import train
    from mlgate.store.project import load_project

    root = tmp_path_factory.mktemp("security-knn") / "demo"
    shutil.copytree(fault_template, root)
    text = (root / "mlgate.yaml").read_text()
    start = text.index("  estimator:")
    end = text.index("\nsplit:")
    (root / "mlgate.yaml").write_text(text[:start] + KNN_MODEL + text[end:])
    train(load_project(root))
    return root


@pytest.fixture
def knn_bundle(knn_template: Path, tmp_path: Path) -> Path:
    """A private copy of the trained k-nearest-neighbours bundle."""
    dest = tmp_path / "knn-bundle"
    shutil.copytree(knn_template / "models" / "model", dest)
    return dest
