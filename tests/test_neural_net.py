"""NeuralNetClassifier and NeuralNetRegressor as estimators: the stack and its output layer,
layers_ and summary(), input shapes, errors before training that keep a fitted model,
pickling, clone and grid search over layers, warm starts, early stopping, devices, and
fits that are bitwise the same on 1 and 2 threads."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

from fastmlp import NeuralNetClassifier, NeuralNetRegressor, _core
from fastmlp.layers import Activation, Dense, Dropout, Flatten

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16, y[:600]


def test_default_network_is_one_hidden_dense_layer(digits):
    X, y = digits
    clf = NeuralNetClassifier(max_iter=3, random_state=0).fit(X, y)
    assert [f.name for f in clf.layers_] == ["dense", "dense_1"]
    assert clf.layers_[0].layer == Dense(100, activation="relu")
    assert clf.layers_[-1].layer == Dense(10, activation="softmax")
    assert clf.n_params_ == 64 * 100 + 100 + 100 * 10 + 10
    assert clf.out_activation_ == "softmax" and clf.input_shape_ == (64,)
    assert clf.n_features_in_ == 64 and len(clf.loss_curve_) == 3


def test_summary_prints_keras_table(digits, capsys):
    X, y = digits
    clf = NeuralNetClassifier([Dense(16, activation="relu"), Dropout(0.1)], max_iter=1,
                              random_state=0).fit(X, y)
    clf.summary()
    out = capsys.readouterr().out
    assert 'Model: "NeuralNetClassifier"' in out
    assert "dense (Dense)" in out and "(None, 16)" in out and "1,040" in out
    assert "dropout (Dropout)" in out and "dense_1 (Dense)" in out and "(None, 10)" in out
    assert "Total params: 1,210" in out and "Non-trainable params: 0" in out
    lines = []
    clf.summary(print_fn=lines.append)
    assert lines == out.rstrip("\n").split("\n")


def test_layer_weights_are_views_of_the_model(digits):
    X, y = digits
    clf = NeuralNetClassifier([Dense(8, activation="tanh")], max_iter=2, random_state=0)
    clf.fit(X, y)
    before = clf.predict_proba(X[:5])
    kernel = clf.layers_[0].weights["kernel"]
    assert kernel.shape == (64, 8) and np.shares_memory(kernel, clf._packed_params())
    kernel *= 0  # in place: the model changes
    zeroed = clf.predict_proba(X[:5])
    assert not np.allclose(before, zeroed)
    np.testing.assert_allclose(zeroed, zeroed[0:1].repeat(5, axis=0))  # input ignored
    # A new array is packed back in; a wrong shape is an error naming the slot.
    clf.layers_[0].weights["kernel"] = np.ones((64, 8))
    flat = clf._packed_params()
    assert np.shares_memory(clf.layers_[0].weights["kernel"], flat)
    np.testing.assert_array_equal(flat[: 64 * 8], 1.0)
    clf.layers_[0].weights["bias"] = np.ones(3)
    with pytest.raises(ValueError, match=r"layers_\[0\].weights\['bias'\] has shape \(3,\)"):
        clf.predict(X[:2])


def test_pickle_round_trip_keeps_predictions(digits):
    X, y = digits
    clf = NeuralNetClassifier([Dense(12, activation="relu")], max_iter=2, random_state=0)
    clf.fit(X, y)
    state = clf.__getstate__()
    assert "_flat_params" not in state and state["_fastmlp_format_version"] >= 1
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    back.set_params(warm_start=True, max_iter=1).fit(X, y)  # and keeps training


def test_layer_specs_are_values_for_clone_and_grid_search(digits):
    X, y = digits
    a, b = Dense(4, activation="relu"), Dense(4, activation="relu")
    assert a == b and a is not b and a != Dense(5) and hash(a) == hash(b)
    assert repr(a) == "Dense(activation='relu', units=4)"
    est = NeuralNetClassifier([a, Flatten()])
    copy = clone(est)
    assert copy.layers == est.layers and copy.layers[0] is not a
    assert pickle.loads(pickle.dumps(a)) == a
    grid = GridSearchCV(
        NeuralNetClassifier(max_iter=2, random_state=0),
        {"layers": [[Dense(4)], [Dense(8, activation="tanh")]]}, cv=2,
    ).fit(X[:200], y[:200])
    assert grid.best_params_["layers"] in ([Dense(4)], [Dense(8, activation="tanh")])
    assert a.get_params() == {
        "units": 4, "activation": "relu", "use_bias": True,
        "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros",
    }


def test_input_shapes_nd_and_flat(digits):
    X, y = digits
    images = X.reshape(-1, 8, 8)
    # (n, 8, 8) for a Dense first layer: per-sample (8, 8), Dense on the last axis.
    clf = NeuralNetClassifier([Dense(3), Flatten()], max_iter=2, random_state=0)
    clf.fit(images, y)
    assert clf.input_shape_ == (8, 8) and clf.layers_[0].output_shape == (8, 3)
    assert clf.n_features_in_ == 64
    # The same samples flat, or with a channel axis of 1, predict the same.
    p = clf.predict_proba(images)
    np.testing.assert_array_equal(clf.predict_proba(X), p)
    # input_shape reads flat X as samples of that shape.
    clf2 = NeuralNetClassifier([Dense(3), Flatten()], input_shape=(8, 8), max_iter=2,
                               random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf2.predict_proba(images), clf2.predict_proba(X))
    np.testing.assert_array_equal(clf2._packed_params(), clf._packed_params())
    with pytest.raises(ValueError, match=r"samples of shape \(4, 16\), but the network "
                                         r"takes samples of shape \(8, 8\)"):
        clf.predict(X.reshape(-1, 4, 16))
    with pytest.raises(ValueError, match=r"X has samples of shape \(64,\), but input_shape "
                                         r"is \(8, 9\)"):
        NeuralNetClassifier(input_shape=(8, 9)).fit(X, y)
    with pytest.raises(ValueError, match="input_shape must be a tuple of positive ints"):
        NeuralNetClassifier(input_shape=(8, -8)).fit(X, y)


def test_errors_before_training_keep_the_fitted_model(digits):
    X, y = digits
    clf = NeuralNetClassifier([Dense(8)], max_iter=2, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    curve = list(clf.loss_curve_)
    clf.set_params(layers=[Dense(8)], input_shape=(8, 8))
    with pytest.raises(ValueError, match=r"The last layer \(Dense, layer 0\) outputs samples "
                                         r"of shape \(8, 8\).*add Flatten\(\)"):
        clf.fit(X, y)
    clf.set_params(layers=[Dense(0)], input_shape=None)
    with pytest.raises(ValueError, match=r"layers\[0\] \(Dense\): The 'units' parameter"):
        clf.fit(X, y)
    clf.set_params(layers=[Dense(4), "relu"])
    with pytest.raises(ValueError, match=r"layers\[1\] must be a layer"):
        clf.fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    assert clf.loss_curve_ == curve


def test_device_cuda_names_the_layer_and_auto_uses_the_cpu(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"layer 0 \(Dense\) cannot run on the GPU"):
        NeuralNetClassifier(device="cuda").fit(X, y)
    NeuralNetClassifier([Dense(4)], device="auto", max_iter=1).fit(X, y)


def test_warm_start_partial_fit_early_stopping_validation_data(digits):
    X, y = digits
    layers = [Dense(16, activation="relu"), Dropout(0.2)]
    clf = NeuralNetClassifier(layers, max_iter=3, random_state=0, warm_start=True)
    clf.fit(X, y).fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 6
    pf = NeuralNetClassifier(layers, random_state=0)
    for _ in range(3):
        pf.partial_fit(X, y, classes=np.arange(10))
    assert len(pf.loss_curve_) == 3 and pf.loss_curve_[-1] < pf.loss_curve_[0]
    es = NeuralNetClassifier(layers, max_iter=50, early_stopping=True, n_iter_no_change=2,
                             random_state=0).fit(X, y)
    assert es.n_iter_ < 50 and len(es.validation_scores_) == es.n_iter_
    vd = NeuralNetClassifier([Dense(4), Flatten()], max_iter=3, random_state=0)
    vd.fit(X.reshape(-1, 8, 8), y, validation_data=(X[:50].reshape(-1, 8, 8), y[:50]))
    assert len(vd.validation_loss_curve_) == 3


def test_regressor_losses_and_multi_output(digits):
    X, _ = digits
    Y = np.stack([X[:, 10], X[:, 20]], axis=1)
    for loss in ("squared_error", "absolute_error", "huber"):
        reg = NeuralNetRegressor([Dense(16, activation="tanh")], loss=loss, max_iter=5,
                                 random_state=0).fit(X, Y)
        assert reg.predict(X).shape == (len(X), 2) and reg.out_activation_ == "identity"
    reg = NeuralNetRegressor(loss="poisson", max_iter=3, random_state=0).fit(X, X[:, 10] * 3)
    assert reg.out_activation_ == "exp" and (reg.predict(X) > 0).all()


def test_fit_is_bitwise_the_same_on_one_and_two_threads(digits):
    X, y = digits
    params = dict(layers=[Dense(32, activation="relu"), Dropout(0.25),
                          Dense(16, activation="gelu")],
                  batch_size=100, max_iter=3, random_state=0)
    # This network is small enough to split its batches into row slices.
    assert _core.Sequential64([l._core_spec() for l in params["layers"]], [64], "softmax",
                              "log_loss", 100).sliced
    with threadpool_limits(1, user_api="openmp"):
        one = NeuralNetClassifier(**params).fit(X, y)
    with threadpool_limits(2, user_api="openmp"):
        two = NeuralNetClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(one._packed_params(), two._packed_params())
    assert one.loss_curve_ == two.loss_curve_


def test_dropout_draws_its_masks_from_random_state(digits):
    X, y = digits
    a = NeuralNetClassifier([Dense(16), Dropout(0.5)], max_iter=2, random_state=0).fit(X, y)
    b = NeuralNetClassifier([Dense(16), Dropout(0.5)], max_iter=2, random_state=0).fit(X, y)
    c = NeuralNetClassifier([Dense(16), Dropout(0.0)], max_iter=2, random_state=0).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_ != c.loss_curve_


def test_callbacks_get_a_copy_that_predicts(digits):
    X, y = digits
    clf = NeuralNetClassifier([Dense(8), Activation("tanh")], max_iter=1, random_state=0)
    clf.fit(X, y)
    attrs = clf._reconstruction_attributes()
    copy = clone(clf)
    for k in ("n_outputs_", "out_activation_", "input_shape_", "_layout", "_n_params_total",
              "_n_state_total", "_n_decayed_total", "_core_layers", "classes_",
              "_binarizer_classes", "_label_type", "n_features_in_", "precision"):
        if hasattr(clf, k):
            setattr(copy, k, getattr(clf, k))
    for k, v in attrs.items():
        setattr(copy, k, v)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


def test_non_finite_training_raises_and_restores(digits):
    X, y = digits
    clf = NeuralNetRegressor([Dense(8, activation="exp")], learning_rate_init=1e6,
                             max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="non-finite"):
            clf.fit(X * 100, y * 1e30)
    assert not hasattr(clf, "layers_")


def test_main_job_trains_the_cnn(capsys):
    from fastmlp.__main__ import main

    assert main(["--model", "cnn", "--max-iter", "2", "--float32"]) == 0
    out = capsys.readouterr().out
    assert "digits (1347 train, 450 test, 64 features), cnn" in out
    assert "test accuracy:" in out and "conv2d (Conv2D)" in out and "(None, 6, 6, 16)" in out
    with pytest.raises(SystemExit):
        main(["--model", "cnn", "--dataset", "iris"])
    assert "--model cnn needs images or signals" in capsys.readouterr().err


def test_readme_conv2d_network_on_the_digits_images():
    from sklearn.model_selection import train_test_split

    from fastmlp.layers import Conv2D, MaxPooling2D

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
    clf = NeuralNetClassifier(
        [Conv2D(16, 3, activation="relu"), MaxPooling2D(2), Flatten(),
         Dense(64, activation="relu")],
        input_shape=(8, 8, 1), max_iter=30, random_state=0,
    ).fit(X_train, y_train)
    assert [f.output_shape for f in clf.layers_] == [(6, 6, 16), (3, 3, 16), (144,), (64,), (10,)]
    assert clf.n_params_ == 10_090
    assert clf.score(X_test, y_test) > 0.93
