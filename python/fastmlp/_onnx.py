"""Export to ONNX through skl2onnx's converters for scikit-learn's MLPs.

fastmlp's fitted attributes are scikit-learn's, so the converters only need a stand-in
scikit-learn estimator holding them (plus the `_label_binarizer` they read). The fastmlp
classes are registered with skl2onnx on the first call, so a Pipeline that contains them
converts too. skl2onnx and onnxruntime are optional: ``pip install "fastmlp[onnx]"``.

Tested by tests/test_onnx.py.
"""

import numpy as np
from sklearn.base import is_classifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.validation import check_is_fitted

_registered = False


def _skl2onnx():
    try:
        import skl2onnx
    except ImportError as e:
        raise ImportError(
            'fastmlp.to_onnx needs skl2onnx: pip install "fastmlp[onnx]"'
        ) from e
    return skl2onnx


def _as_sklearn(est):
    """A scikit-learn MLP with `est`'s weights, for skl2onnx's converter."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    check_is_fitted(est)
    if est.out_activation_ == "exp":
        raise NotImplementedError(
            "skl2onnx's MLP converter has no exp output activation: MLPRegressor with "
            "loss='poisson' cannot be exported to ONNX."
        )
    if est.activation not in ("identity", "logistic", "tanh", "relu"):
        raise NotImplementedError(
            "skl2onnx's MLP converter knows scikit-learn's activations only: activation="
            f"{est.activation!r} cannot be exported to ONNX."
        )
    cls = MLPClassifier if is_classifier(est) else MLPRegressor
    # Only the parameters scikit-learn has (fastmlp's own, such as device or dropout, are
    # dropped); training-only values beyond scikit-learn map to ones it knows, since
    # prediction reads the weights alone.
    known = cls().get_params()
    params = {k: v for k, v in est.get_params().items() if k in known}
    if params.get("solver") == "adamw":
        params["solver"] = "adam"
    if params.get("learning_rate") == "cosine":
        params["learning_rate"] = "constant"
    if params.get("loss") in ("absolute_error", "huber"):
        params["loss"] = "squared_error"  # the same identity output: the same predictions
    proxy = cls(**params)
    for name in ("n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        setattr(proxy, name, getattr(est, name))
    proxy.coefs_ = [np.array(c) for c in est.coefs_]
    proxy.intercepts_ = [np.array(b) for b in est.intercepts_]
    if is_classifier(est):
        proxy.classes_ = est.classes_
        lb = LabelBinarizer()
        lb.classes_ = est._binarizer_classes
        lb.y_type_ = est._label_type
        lb.sparse_input_ = False
        proxy._label_binarizer = lb
    return proxy


def _register():
    global _registered
    if _registered:
        return
    skl2onnx = _skl2onnx()
    from skl2onnx.common._apply_operation import apply_reshape
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, guess_proto_type
    from skl2onnx.operator_converters.multilayer_perceptron import (
        _predict,
        convert_sklearn_mlp_classifier,
    )
    from skl2onnx.proto import onnx_proto
    from skl2onnx.shape_calculators.linear_classifier import (
        calculate_linear_classifier_output_shapes,
    )

    from ._classifier import MLPClassifier
    from ._regressor import MLPRegressor

    def classifier(scope, operator, container):
        operator.raw_operator = _as_sklearn(operator.raw_operator)
        convert_sklearn_mlp_classifier(scope, operator, container)

    # skl2onnx's own regressor converter and shape calculator reshape the output to
    # (n, 1), which is wrong for multi-output regression: (n, n_outputs_) here.
    def regressor_shape(operator):
        inp = operator.inputs[0].type
        cls = DoubleTensorType if isinstance(inp, DoubleTensorType) else FloatTensorType
        n = operator.inputs[0].get_first_dimension()
        operator.outputs[0].type = cls([n, operator.raw_operator.n_outputs_])

    def regressor(scope, operator, container):
        mlp = _as_sklearn(operator.raw_operator)
        proto_dtype = guess_proto_type(operator.inputs[0].type)
        if proto_dtype != onnx_proto.TensorProto.DOUBLE:
            proto_dtype = onnx_proto.TensorProto.FLOAT
        y = _predict(scope, operator.inputs[0].full_name, container, mlp, proto_dtype)
        apply_reshape(scope, y, operator.output_full_names, container,
                      desired_shape=(-1, mlp.n_outputs_))

    skl2onnx.update_registered_converter(
        MLPClassifier, "FastmlpMLPClassifier", calculate_linear_classifier_output_shapes,
        classifier,
        options={"zipmap": [True, False, "columns"], "output_class_labels": [False, True],
                 "nocl": [True, False]},
    )
    skl2onnx.update_registered_converter(
        MLPRegressor, "FastmlpMLPRegressor", regressor_shape, regressor,
    )
    _registered = True


def _refuse_layer_networks(estimator):
    """NotImplementedError for the layer engine's estimators, in a Pipeline too: skl2onnx
    has no converter for them (it would fail with an obscure message)."""
    from ._neural_net import BaseNeuralNet

    for step in [estimator] + [s for _, s in getattr(estimator, "steps", [])]:
        if isinstance(step, BaseNeuralNet):
            raise NotImplementedError(
                f"to_onnx exports MLPClassifier and MLPRegressor only: {type(step).__name__} "
                "(the layer engine) has no ONNX converter yet. Pickle it (joblib) instead."
            )


def to_onnx(estimator, X_sample, **kwargs):
    """Convert a fitted fastmlp estimator (or a Pipeline ending in one) to ONNX.

    Parameters
    ----------
    estimator : MLPClassifier, MLPRegressor or Pipeline
        The fitted model. NeuralNetClassifier and NeuralNetRegressor are refused with a
        NotImplementedError (no converter yet).

    X_sample : ndarray of shape (n_samples, n_features)
        A few rows of input; their dtype (float32 or float64) is the model's input type.

    **kwargs : dict
        Passed to ``skl2onnx.to_onnx`` (``target_opset``, ``options``, ...). For a bare
        classifier the default is ``options={"zipmap": False}``: probabilities come out
        as a tensor, not a list of dicts.

    Returns
    -------
    onx : onnx.ModelProto
        Outputs ``label`` and ``probabilities`` for a classifier, ``variable`` for a
        regressor.

    Examples
    --------
    >>> import numpy as np, onnxruntime as ort                      # doctest: +SKIP
    >>> onx = fastmlp.to_onnx(clf, X[:1].astype(np.float32))        # doctest: +SKIP
    >>> sess = ort.InferenceSession(onx.SerializeToString())        # doctest: +SKIP
    >>> label, proba = sess.run(None, {"X": X.astype(np.float32)})  # doctest: +SKIP
    """
    _refuse_layer_networks(estimator)
    skl2onnx = _skl2onnx()
    _register()
    if is_classifier(estimator) and not hasattr(estimator, "steps"):
        kwargs.setdefault("options", {"zipmap": False})
    return skl2onnx.to_onnx(estimator, np.asarray(X_sample), **kwargs)
