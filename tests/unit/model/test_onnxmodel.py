"""A model.onnx that mlgate did not write is checked before it is trusted: its inputs are the
feature columns by name or one float tensor, its outputs a label of the target's type and a
probability tensor; anything else is a DataError (exit 2) naming what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from onnx import TensorProto, helper

from mlgate.core.schema import ColumnSpec
from mlgate.errors import DataError
from mlgate.model.onnxmodel import OnnxClassifier, check_outputs, onnx_model

pytestmark = pytest.mark.unit

FEATURES = (ColumnSpec(name="a", kind="numeric"), ColumnSpec(name="b", kind="numeric"))
ML = helper.make_opsetid("ai.onnx.ml", 3)


def _graph(inputs: list[str], *, zipmap: bool = False, label: int = TensorProto.INT64) -> bytes:
    """Two float inputs [N, 1] (or one [N, 2]) -> softmax probabilities and their argmax."""
    if len(inputs) == 1:
        nodes = [helper.make_node("Identity", inputs, ["x"])]
        value_info = [helper.make_tensor_value_info(inputs[0], TensorProto.FLOAT, [None, 2])]
    else:
        nodes = [helper.make_node("Concat", inputs, ["x"], axis=1)]
        value_info = [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in inputs
        ]
    nodes += [
        helper.make_node("Softmax", ["x"], ["p"], axis=1),
        helper.make_node("ArgMax", ["p"], ["index"], axis=1, keepdims=0),
    ]
    if label == TensorProto.STRING:
        nodes.append(helper.make_node("Cast", ["index"], ["label"], to=TensorProto.STRING))
    else:
        nodes.append(helper.make_node("Identity", ["index"], ["label"]))
    if zipmap:
        nodes.append(
            helper.make_node(
                "ZipMap", ["p"], ["probabilities"], domain="ai.onnx.ml", classlabels_int64s=[0, 1]
            )
        )
        proba = helper.make_value_info(
            "probabilities",
            helper.make_sequence_type_proto(
                helper.make_map_type_proto(
                    TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])
                )
            ),
        )
    else:
        nodes.append(helper.make_node("Identity", ["p"], ["probabilities"]))
        proba = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])
    outputs = [helper.make_tensor_value_info("label", label, [None]), proba]
    graph = helper.make_graph(nodes, "g", value_info, outputs)
    opsets = [helper.make_opsetid("", 17), ML]
    return bytes(helper.make_model(graph, opset_imports=opsets, ir_version=8).SerializeToString())


def test_named_inputs_and_one_tensor_both_predict_the_same() -> None:
    x = pd.DataFrame({"a": [0.0, 3.0, np.nan], "b": [1.0, 0.0, 2.0]})
    named = onnx_model(_graph(["b", "a"]), FEATURES, "binary", (0, 1))
    tensor = onnx_model(_graph(["input"]), FEATURES, "binary", (0, 1))
    assert isinstance(named, OnnxClassifier)
    assert isinstance(tensor, OnnxClassifier)
    assert (named.layout, tensor.layout) == ("named", "tensor")
    # Named inputs are matched by name, not position: b then a in the graph is b, a here.
    np.testing.assert_allclose(named.predict_proba(x)[:2, ::-1], tensor.predict_proba(x)[:2])
    assert tensor.predict(x)[:2].tolist() == [1, 0]


@pytest.mark.parametrize(
    ("data", "task", "classes", "said"),
    [
        (_graph(["a", "c"]), "binary", (0, 1), "missing input(s) b; unexpected c"),
        (_graph(["a", "b"], zipmap=True), "binary", (0, 1), "zipmap"),
        (_graph(["a", "b"]), "binary", ("no", "yes"), "the target's classes are strings"),
        (_graph(["a", "b"], label=TensorProto.STRING), "binary", (0, 1), "classes are numbers"),
        (_graph(["a", "b"]), "regression", None, "not a float tensor"),
    ],
)
def test_a_graph_that_does_not_fit_the_data_is_refused(
    data: bytes, task: str, classes: tuple[object, ...] | None, said: str
) -> None:
    with pytest.raises(DataError) as info:
        onnx_model(data, FEATURES, task, classes, where="model.onnx of the test")  # type: ignore[arg-type]
    assert "model.onnx of the test" in str(info.value)
    assert said in str(info.value)


def test_a_categorical_feature_needs_a_named_string_input() -> None:
    features = (*FEATURES[:1], ColumnSpec(name="b", kind="categorical"))
    with pytest.raises(DataError, match=r"one float tensor cannot carry .* b"):
        onnx_model(_graph(["input"]), features, "binary", (0, 1))
    with pytest.raises(DataError, match=r"input\(s\) of the wrong type: b \(tensor\(float\)"):
        onnx_model(_graph(["a", "b"]), features, "binary", (0, 1))


def test_labels_must_be_classes_of_the_target() -> None:
    model = onnx_model(_graph(["a", "b"]), FEATURES, "binary", (1, 2))
    assert isinstance(model, OnnxClassifier)
    x = pd.DataFrame({"a": [0.0, 3.0], "b": [1.0, 0.0]})
    with pytest.raises(DataError, match=r"predicts label\(s\) 0, not classes of the target"):
        check_outputs(model, model.predict(x), model.predict_proba(x), 2, "model.onnx")
