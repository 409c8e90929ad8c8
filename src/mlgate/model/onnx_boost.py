"""ONNX converters for the boosting libraries' estimators, registered with skl2onnx so that a
Pipeline ending in one converts as a whole (`mlgate.model.onnx`), and is kept only when the
parity check agrees.

- LightGBM and XGBoost: onnxmltools' converters (categorical splits included), registered for
  their scikit-learn classes. They write the ONNX-ML tree ensembles of opset 3, so the graph
  is asked for that version of `ai.onnx.ml`.
- CatBoost: its own exporter (`catboost.utils.convert_to_onnx_object`), whose tree-ensemble
  node is copied into the Pipeline's graph: CatBoost is not a scikit-learn estimator to
  skl2onnx, so the parsers below declare its outputs (label and probabilities, or the value).

The estimator may also stand at the end of a project's own Pipeline (`model.pipeline`): the
innermost final step is the one registered; a step skl2onnx cannot convert fails the export
as before, and the bundle serves with scikit-learn.
"""

from __future__ import annotations

from typing import Any

# Deferred imports: skl2onnx, onnxmltools and the boosting libraries load only to export, and so
# does mlgate.model.boost (scikit-learn): the model server imports mlgate.model.onnx, and with it
# this module, without scikit-learn's training code.

ML_OPSET = 3
_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


def final_step(model: Any) -> Any:
    """The last step of a Pipeline, through nested Pipelines."""
    while hasattr(model, "steps"):
        model = model.steps[-1][1]
    return model


def register(model: Any) -> dict[str, int] | None:
    """Register the converter of `model`'s final estimator when a boosting library made it, and
    return the opsets its graph needs (None: skl2onnx's defaults, nothing registered)."""
    from mlgate.model.boost import library

    estimator = final_step(model)
    lib = library(estimator)
    if lib is None:
        return None
    from skl2onnx import get_latest_tested_opset_version, update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    cls = type(estimator)
    classifier = hasattr(estimator, "predict_proba")
    shapes = (
        calculate_linear_classifier_output_shapes
        if classifier
        else calculate_linear_regressor_output_shapes
    )
    alias = f"{lib}.{cls.__name__}"
    if lib == "catboost":
        parser = _catboost_classifier_parser if classifier else _catboost_regressor_parser
        update_registered_converter(
            cls, alias, shapes, _convert_catboost, parser=parser, options=_OPTIONS
        )
        return None
    if lib == "lightgbm":
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        converter = convert_lightgbm
    else:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

        converter = convert_xgboost
    options = _OPTIONS if classifier else None
    update_registered_converter(cls, alias, shapes, converter, options=options)
    return {"": get_latest_tested_opset_version(), "ai.onnx.ml": ML_OPSET}


def _catboost_classifier_parser(
    scope: Any, model: Any, inputs: Any, custom_parsers: Any = None
) -> Any:
    """A CatBoost classifier's outputs: the label (integer or text, as its classes) and a
    probability tensor (no ZipMap)."""
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType, guess_tensor_type

    op = scope.declare_local_operator(f"catboost.{type(model).__name__}", model)
    op.inputs = inputs
    numeric = all(isinstance(c, int) for c in model.classes_.tolist())
    label = Int64TensorType() if numeric else StringTensorType()
    op.outputs.append(scope.declare_local_variable("label", label))
    proba = guess_tensor_type(inputs[0].type)
    op.outputs.append(scope.declare_local_variable("probabilities", proba))
    return op.outputs


def _catboost_regressor_parser(
    scope: Any, model: Any, inputs: Any, custom_parsers: Any = None
) -> Any:
    """A CatBoost regressor's one output: the value."""
    from skl2onnx.common.data_types import guess_tensor_type

    op = scope.declare_local_operator(f"catboost.{type(model).__name__}", model)
    op.inputs = inputs
    op.outputs.append(scope.declare_local_variable("variable", guess_tensor_type(inputs[0].type)))
    return op.outputs


def _convert_catboost(scope: Any, operator: Any, container: Any) -> None:
    """Copy the tree-ensemble node of CatBoost's own ONNX export into the graph."""
    from catboost.utils import convert_to_onnx_object
    from onnx.helper import get_attribute_value

    onx = convert_to_onnx_object(operator.raw_operator)
    nodes = [n.op_type for n in onx.graph.node]
    if not nodes or not nodes[0].startswith("TreeEnsemble") or len(onx.graph.initializer):
        raise NotImplementedError(f"CatBoost's ONNX graph is not one tree ensemble: {nodes}")
    if any(n not in ("ZipMap",) for n in nodes[1:]):
        raise NotImplementedError(f"CatBoost's ONNX graph holds more than a tree ensemble: {nodes}")
    node = onx.graph.node[0]
    opsets = {d.domain: d.version for d in onx.opset_import}
    attributes = {a.name: get_attribute_value(a) for a in node.attribute}
    container.add_node(
        node.op_type,
        [operator.inputs[0].full_name],
        [o.full_name for o in operator.outputs],
        op_domain=node.domain,
        op_version=opsets.get(node.domain),
        **attributes,
    )
