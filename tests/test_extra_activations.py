"""Estimators with the hidden activations and regression losses beyond scikit-learn:
fit/predict, get_params, parameter validation. Kernels: test_ops.py; gradients:
test_gradcheck.py."""

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from fastmlp import MLPClassifier, MLPRegressor

# Short fits: convergence is not what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

NEW_HIDDEN = ["leaky_relu", "gelu", "silu", "elu", "softplus"]


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=120)
    return X, y


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("activation", NEW_HIDDEN)
def test_regressor_fits_with_new_activations(activation, solver):
    X, y = _data()
    est = MLPRegressor(hidden_layer_sizes=(16,), activation=activation, solver=solver,
                       max_iter=300, learning_rate_init=0.01, random_state=0)
    est.fit(X, y)
    assert est.get_params()["activation"] == activation
    pred = est.predict(X)
    assert pred.shape == (120,) and np.all(np.isfinite(pred))
    assert est.score(X, y) > 0.8


@pytest.mark.parametrize("activation", NEW_HIDDEN)
def test_classifier_fits_with_new_activations(activation):
    X, y = _data(1)
    labels = (y > 0).astype(int)
    est = MLPClassifier(hidden_layer_sizes=(8,), activation=activation, solver="lbfgs",
                        max_iter=200, random_state=0).fit(X, labels)
    assert est.score(X, labels) > 0.9


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_regressor_new_losses(loss, solver):
    X, y = _data(2)
    y = y.copy()
    y[:5] += 50.0  # outliers: what these losses are for
    est = MLPRegressor(hidden_layer_sizes=(16,), loss=loss, solver=solver, max_iter=300,
                       learning_rate_init=0.01, random_state=0)
    est.fit(X, y)
    assert est.get_params()["loss"] == loss
    assert est.out_activation_ == "identity"
    assert est._core_loss() == loss
    assert np.all(np.isfinite(est.loss_curve_ if solver == "sgd" else [est.loss_]))
    # robust: fits the clean rows far better than the mean predictor
    resid = np.abs(est.predict(X[5:]) - y[5:])
    assert np.median(resid) < 0.5 * np.median(np.abs(y[5:] - y[5:].mean()))


def test_absolute_error_loss_value():
    X, y = _data(3)
    est = MLPRegressor(hidden_layer_sizes=(4,), loss="absolute_error", solver="lbfgs",
                       max_iter=5, alpha=0.0, random_state=0)
    est.fit(X, y)
    assert est.loss_ == pytest.approx(np.mean(np.abs(est.predict(X) - y)), rel=1e-6)


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_unknown_activation_rejected(Est):
    X, y = _data()
    with pytest.raises(InvalidParameterError, match="The 'activation' parameter of"):
        Est(activation="swish").fit(X, (y > 0).astype(int))


def test_unknown_loss_rejected():
    X, y = _data()
    with pytest.raises(InvalidParameterError, match="The 'loss' parameter of MLPRegressor"):
        MLPRegressor(loss="pinball").fit(X, y)


def test_onnx_path_refuses_what_it_cannot_run():
    from fastmlp import _onnx

    X, y = _data()
    est = MLPRegressor(hidden_layer_sizes=(4,), activation="silu", max_iter=5).fit(X, y)
    with pytest.raises(NotImplementedError, match="activation='silu'"):
        _onnx._as_sklearn(est)
