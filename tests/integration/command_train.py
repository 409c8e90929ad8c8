"""A team's own training script, as `model.command` runs it: reads the training rows mlgate
wrote, fits a small logistic regression and writes {out}/model.onnx, without torch.

    python command_train.py --train {train} --target {target} --out {out} [--mode MODE]

Modes: `named` (default; skl2onnx, one input per feature column, strings for categories),
`tensor` (one float tensor [N, n_features] built with onnx.helper, as torch.onnx.export
writes; numeric features only), `no-impute` (tensor, but NaN in, NaN out), `poor` (named,
fitted on shuffled labels: no skill), `fail` (exits 1), `hang` (sleeps until stopped),
`nothing` (exits 0 and writes no model.onnx). `--seen PATH` records the rows it got.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def named_model(x: pd.DataFrame, y: pd.Series) -> bytes:
    """skl2onnx, one graph input per feature column (as the columns are named)."""
    text = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    numbers = [c for c in x.columns if c not in text]
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), numbers),
            ("cat", OneHotEncoder(handle_unknown="ignore"), text),
        ]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=200))
    x = x.astype(dict.fromkeys(text, object)).fillna(dict.fromkeys(text, ""))
    model.fit(x, y)
    types = [
        (c, StringTensorType([None, 1]) if c in text else FloatTensorType([None, 1]))
        for c in x.columns
    ]
    onx = convert_sklearn(model, initial_types=types, options={id(model): {"zipmap": False}})
    return bytes(onx.SerializeToString())


def tensor_model(x: pd.DataFrame, y: pd.Series, *, impute: bool = True) -> bytes:
    """One float input [N, n_features], a logistic regression written node by node (over
    the numeric columns: a float tensor carries no categories)."""
    x = x.select_dtypes("number")
    values = x.to_numpy(dtype=np.float64)
    mean = np.nanmean(values, axis=0)
    values = np.where(np.isnan(values), mean, values)
    scale = values.std(axis=0) + 1e-9
    fit = LogisticRegression(max_iter=200).fit((values - mean) / scale, y)
    weights = fit.coef_.T.astype(np.float32)
    consts = {
        "mean": mean.astype(np.float32),
        "scale": scale.astype(np.float32),
        "w": weights,
        "b": fit.intercept_.astype(np.float32),
        "one": np.array([1.0], dtype=np.float32),
    }
    nodes = [
        # Missing values arrive as NaN: the mean stands in for them, inside the graph.
        helper.make_node("IsNaN", ["input"], ["gap"]),
        helper.make_node("Where", ["gap", "mean", "input"], ["filled"])
        if impute
        else helper.make_node("Identity", ["input"], ["filled"]),
        helper.make_node("Sub", ["filled", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "w"], ["logit0"]),
        helper.make_node("Add", ["logit0", "b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["p0"]),
        helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "command_logreg",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, x.shape[1]])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ],
        [numpy_helper.from_array(v, name) for name, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--mode", default="named")
    parser.add_argument("--seen")
    args = parser.parse_args(argv)
    rows = pd.read_parquet(args.train)
    print(f"command_train: {len(rows)} training rows, mode {args.mode}")
    if args.seen:
        Path(args.seen).write_text(
            json.dumps(rows.astype(object).where(rows.notna()).values.tolist())
        )
    if args.mode == "hang":
        time.sleep(600)  # until model.command_timeout stops it
    if args.mode == "fail":
        print("command_train: CUDA out of memory (pretend)", file=sys.stderr)
        return 1
    out = Path(args.out)
    if args.mode == "nothing":
        (out / "notes.txt").write_text("trained, but saved nothing\n")
        return 0
    y = rows.pop(args.target)
    if args.mode == "poor":
        y = pd.Series(np.random.default_rng(0).permutation(y.to_numpy()), index=y.index)
    if args.mode in ("tensor", "no-impute"):
        data = tensor_model(rows, y, impute=args.mode == "tensor")
    else:
        data = named_model(rows, y)
    (out / "model.onnx").write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
