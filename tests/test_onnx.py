"""fastmlp.to_onnx: onnxruntime's predictions match fastmlp's (float32 tolerance)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor

pytest.importorskip("skl2onnx", reason="ONNX export needs skl2onnx")
ort = pytest.importorskip("onnxruntime", reason="the check runs the model in onnxruntime")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:600] / 16).astype(np.float32), y[:600]


def run(onx, X):
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: X})


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_multiclass_classifier(digits, activation):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(32, 16), activation=activation, max_iter=20,
                        random_state=0).fit(X, y)
    label, proba = run(fastmlp.to_onnx(clf, X[:1]), X)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(label, clf.predict(X))


def test_model_trained_with_fastmlp_training_extras(digits):
    # dropout, adamw, max_grad_norm and the cosine schedule only change training.
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), solver="adamw", dropout=0.2,
                        max_grad_norm=1.0, learning_rate="cosine", warmup_iters=2,
                        max_iter=10, random_state=0).fit(X, y)
    label, proba = run(fastmlp.to_onnx(clf, X[:1]), X)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(label, clf.predict(X))


def test_binary_string_labels_float64(digits):
    X, y = digits
    X = X.astype(np.float64)
    labels = np.where(y > 4, "big", "small")
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0).fit(X, labels)
    label, proba = run(fastmlp.to_onnx(clf, X[:1]), X)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(label, clf.predict(X))


def test_multi_output_regressor(digits):
    X, y = digits
    Y = np.c_[y, X[:, :3].sum(axis=1)]
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=20, random_state=0).fit(X, Y)
    (pred,) = run(fastmlp.to_onnx(reg, X[:1]), X)
    assert pred.shape == (X.shape[0], 2)
    np.testing.assert_allclose(pred, reg.predict(X), rtol=1e-4, atol=1e-4)


def test_single_output_regressor_in_pipeline(digits):
    X, y = digits
    pipe = make_pipeline(
        StandardScaler(), MLPRegressor(hidden_layer_sizes=(16,), max_iter=20, random_state=0)
    ).fit(X, y.astype(np.float32))
    (pred,) = run(fastmlp.to_onnx(pipe, X[:1]), X)
    np.testing.assert_allclose(pred.ravel(), pipe.predict(X), rtol=1e-4, atol=1e-4)


def test_poisson_is_refused(digits):
    X, y = digits
    reg = MLPRegressor(loss="poisson", max_iter=3, random_state=0).fit(X, y)
    with pytest.raises(NotImplementedError, match="poisson"):
        fastmlp.to_onnx(reg, X[:1])


def test_layer_networks_are_refused_with_a_clear_message(digits):
    X, y = digits
    clf = fastmlp.NeuralNetClassifier(max_iter=1, random_state=0).fit(X, y)
    with pytest.raises(NotImplementedError, match="NeuralNetClassifier .* has no ONNX converter"):
        fastmlp.to_onnx(clf, X[:1])
    pipe = make_pipeline(StandardScaler(), fastmlp.NeuralNetRegressor(max_iter=1)).fit(X, y)
    with pytest.raises(NotImplementedError, match="NeuralNetRegressor"):
        fastmlp.to_onnx(pipe, X[:1])
