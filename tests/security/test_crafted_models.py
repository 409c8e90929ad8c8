"""A model file whose fitted state would make native code read outside its arrays is refused
by every loader with exit 2, naming the type and the field, and never crashes a process.

The crafted files are real skops files of real fitted models with one array changed inside
the zip and the bundle's SHA256SUMS recomputed, so only the model-state check stands between
them and a segfault (exit 139). Loads that could crash run in a child process, so a crash is a
failing test, not a dead pytest.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io

from mlgate.errors import BundleError
from mlgate.store.bundle import MODEL_FILE, load_bundle
from mlgate.store.trust import audit_sklearn, command_trust
from tests.faults.conftest import ServerFactory, mlgate
from tests.security.conftest import crafted_kd_tree, replace_array, replace_member, write_model

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SEGFAULT = 139
VARIANTS = [
    "idx_array:huge",
    "idx_array:negative",
    "node_data:end",
    "data:nan",
    "node_bounds:shape",
]
FIELDS = {v: v.split(":")[0] for v in VARIANTS}


def _crafted(bundle: Path, variant: str = "idx_array:huge") -> Path:
    write_model(bundle, crafted_kd_tree((bundle / MODEL_FILE).read_bytes(), variant))
    return bundle


def _refusal(text: str, field: str) -> None:
    assert "KDTree" in text, text[-2000:]
    assert field in text, text[-2000:]
    assert "model.skops" in text


def test_the_knn_bundle_itself_serves(knn_bundle: Path, serve: ServerFactory) -> None:
    """The control: the untouched bundle loads and answers (so a refusal is the check's)."""
    server = serve(knn_bundle)
    assert server.stop() == 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_serve_refuses_a_crafted_kd_tree(
    knn_bundle: Path, serve: ServerFactory, variant: str
) -> None:
    server = serve(_crafted(knn_bundle, variant), wait=False)
    code = server.proc.wait(timeout=120)
    assert code not in (SEGFAULT, -11), server.log()[-2000:]
    assert code == 2, server.log()[-2000:]
    _refusal(server.log(), FIELDS[variant])


def test_serve_refuses_it_in_the_worker_too(knn_bundle: Path, serve: ServerFactory) -> None:
    """Two workers: the start check refuses it before any worker warms up on it."""
    server = serve(_crafted(knn_bundle), "--workers", "2", "--runtime", "sklearn", wait=False)
    assert server.proc.wait(timeout=120) == 2, server.log()[-2000:]
    _refusal(server.log(), "idx_array")


def test_run_refuses_a_crafted_champion_bundle(
    knn_template: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    root = tmp_path / "project"
    shutil.copytree(knn_template, root)
    champion = tmp_path / "champion"
    shutil.copytree(knn_template / "models" / "model", champion)
    _crafted(champion)
    with (root / "mlgate.yaml").open("a") as fh:
        fh.write(f"\nevaluation:\n  champion_bundle: {champion}\n")
    done = mlgate("run", cwd=root, env=env)
    assert done.code != SEGFAULT, done.err[-2000:]
    assert done.code == 2, done.out[-1000:] + done.err[-2000:]
    _refusal(done.err, "idx_array")


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_build_audit_refuses_it_without_building_it(knn_bundle: Path, variant: str) -> None:
    """What `mlgate build` runs on the host (app.image.build.build_image) before any image."""
    bundle_dir = _crafted(knn_bundle, variant)
    trust = command_trust(None)
    bundle = load_bundle(bundle_dir, trust=trust)
    with pytest.raises(BundleError) as info:
        audit_sklearn(bundle.read(MODEL_FILE), trust, str(bundle_dir / MODEL_FILE))
    assert info.value.exit_code == 2
    _refusal(str(info.value), FIELDS[variant])


@pytest.mark.skipif(shutil.which("podman") is None, reason="mlgate build needs podman")
def test_build_refuses_it(knn_bundle: Path, tmp_path: Path, env: dict[str, str]) -> None:
    done = mlgate(
        "build", str(_crafted(knn_bundle)), "--engine", "podman", "--no-smoke",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.code == 2, done.err[-2000:]
    _refusal(done.err, "idx_array")


# -- fuzzing every checked type's arrays --------------------------------------------------

CHILD = """
import json, sys
from pathlib import Path
import numpy as np
from mlgate.errors import BundleError
from mlgate.store.trust import Trust, load_sklearn

root = Path(sys.argv[1])
x = np.load(root / "x.npy", allow_pickle=False)
for case in json.loads((root / "cases.json").read_text()):
    print(case, flush=True)
    try:
        model = load_sklearn((root / case).read_bytes(), Trust(), case)
    except BundleError as exc:
        print("  refused:", str(exc).splitlines()[0], flush=True)
        continue
    for method in ("predict", "predict_proba", "kneighbors"):
        if hasattr(model, method):
            try:
                getattr(model, method)(x)
            except Exception as exc:  # scikit-learn's own refusal: no crash
                print("  raised", type(exc).__name__, flush=True)
    print("  ok", flush=True)
print("done", flush=True)
"""


def _models() -> dict[str, tuple[Any, np.ndarray]]:
    """One small fitted model per checked type, with the rows to predict on."""
    import scipy.sparse as sp
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    rng = np.random.RandomState(0)
    x = rng.rand(60, 3)
    y = (x[:, 0] + x[:, 1] > 1).astype(int)
    y3 = (x[:, 0] * 3).astype(int)
    codes = np.column_stack([rng.randint(0, 4, 60), x[:, 1:]])
    cats = np.column_stack([rng.choice([0, 1, 2, 3, 9], 60, p=[0.3, 0.3, 0.3, 0.05, 0.05])] * 2)
    sparse_lr = LogisticRegression().fit(x, y)
    sparse_lr.sparsify()
    onehot = OneHotEncoder(min_frequency=5, handle_unknown="infrequent_if_exist", drop="first")
    # The shape of init's default: numbers as they are, categories as ordinal codes (rare ones
    # share one), histogram gradient boosting told which columns hold codes.
    coded = np.column_stack([cats[:, 0], x[:, 1:]])
    ordinal = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, min_frequency=5
    )
    default = Pipeline(
        [
            ("pre", ColumnTransformer([("num", "passthrough", [1, 2]), ("cat", ordinal, [0])])),
            ("hgb", HistGradientBoostingClassifier(max_iter=2, categorical_features=[2])),
        ]
    )
    return {
        "forest": (RandomForestClassifier(2, max_depth=3, random_state=0).fit(x, y), x),
        "hist": (
            HistGradientBoostingClassifier(max_iter=2, categorical_features=[0]).fit(codes, y),
            codes,
        ),
        "kd": (KNeighborsClassifier(algorithm="kd_tree", leaf_size=5).fit(x, y), x),
        "ball": (KNeighborsClassifier(algorithm="ball_tree", leaf_size=5).fit(x, y), x),
        "brute_sparse": (KNeighborsClassifier(algorithm="brute").fit(sp.csr_matrix(x), y), x),
        "sparse_coef": (sparse_lr, x),
        "boosting": (GradientBoostingClassifier(n_estimators=2, max_depth=2).fit(x, y3), x),
        "onehot": (
            Pipeline([("oh", onehot), ("lr", LogisticRegression())]).fit(cats, y),
            cats.astype(float),
        ),
        "default": (default.fit(coded, y), coded),
    }


def _mutations(arr: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """Out-of-range, negative, NaN, wrong-dtype and wrong-shape variants of one array."""
    if arr.dtype.names:
        for name in arr.dtype.names:
            for label, changed in _mutations(np.ascontiguousarray(arr[name])):
                if changed.shape == arr.shape and changed.dtype == arr.dtype[name]:
                    out = arr.copy()
                    out[name] = changed
                    yield f"{name}.{label}", out
        yield "dtype", arr.astype([(n, "<f4") for n in arr.dtype.names])
        yield "short", arr[:-1]
        return
    if arr.size == 0 or arr.dtype.kind not in "biuf":
        return
    big, negative = arr.copy(), arr.copy()
    kind = arr.dtype.kind
    huge = np.iinfo(arr.dtype).max if kind in "iu" else (1e300 if kind == "f" else True)
    big.reshape(-1)[arr.size // 2] = min(huge, 10**12) if kind in "iu" else huge
    if arr.dtype.kind in "if":
        negative.reshape(-1)[0] = -(10**9) if arr.dtype.kind == "i" else -1e9
        yield "negative", negative
    yield "huge", big
    nan = arr.astype(np.float64)
    nan.reshape(-1)[0] = np.nan
    yield "nan", nan
    yield "dtype", arr.astype(np.float32 if arr.dtype.kind != "f" else np.int32)
    if arr.ndim:
        yield "short", arr.reshape(-1)[:-1] if arr.ndim == 1 else arr[..., :-1]
        yield "flat", arr.reshape(-1)


def _cases(data: bytes) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(archive.namelist())
        members = {n: archive.read(n) for n in names}
    for name in names:
        if name.endswith(".npy"):
            arr = np.load(io.BytesIO(members[name]), allow_pickle=False)
            for label, changed in _mutations(arr):
                yield f"{name}:{label}", replace_array(data, name, changed)
        elif name.endswith(".npz"):
            with np.load(io.BytesIO(members[name]), allow_pickle=False) as npz:
                parts = {k: npz[k] for k in npz.files}
            for key in ("indices", "indptr", "data", "shape"):
                for label, changed in _mutations(parts[key]):
                    buffer = io.BytesIO()
                    np.savez(buffer, **{**parts, key: changed})
                    yield f"{name}:{key}.{label}", replace_member(data, name, buffer.getvalue())


@pytest.mark.parametrize("model_name", list(_models()))
def test_mutated_state_never_crashes_a_process(model_name: str, tmp_path: Path) -> None:
    model, x = _models()[model_name]
    data = bytes(skops.io.dumps(model))
    cases: list[str] = []
    for i, (label, mutated) in enumerate(_cases(data)):
        name = f"{i:04d}-{label.replace(':', '-')}.skops"
        (tmp_path / name).write_bytes(mutated)
        cases.append(name)
    assert cases, "nothing to mutate"
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    np.save(tmp_path / "x.npy", x, allow_pickle=False)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    last = [ln for ln in proc.stdout.splitlines() if not ln.startswith("  ")][-1:]
    assert proc.returncode == 0, f"{model_name}: exit {proc.returncode} at {last}\n{proc.stderr}"
    assert proc.stdout.rstrip().endswith("done")
    assert "refused" in proc.stdout  # the check, not luck, kept it alive
