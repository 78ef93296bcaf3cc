"""MLPAutoencoder: shapes, pipelines, pickling, reconstruction, a win over PCA on digits with
the defaults, L-BFGS, mirrored (convolutional) decoders, the variational autoencoder (its
loss gradient, sampling) and scikit-learn's estimator checks."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from threadpoolctl import threadpool_limits

from fastmlp import MLPAutoencoder, NeuralNetRegressor
from fastmlp.layers import (
    AveragePooling2D,
    BatchNormalization,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    MaxPooling2D,
)

# Short fits on purpose; tol=0 runs every epoch.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def small(**kw):
    params = dict(
        n_components=10, hidden_layer_sizes=(64,), activation="tanh", max_iter=100,
        learning_rate_init=0.003, random_state=0,
    )
    return MLPAutoencoder(**{**params, **kw})


def test_shapes_and_feature_names(digits):
    X, _ = digits
    ae = small().fit(X)
    codes = ae.transform(X[:7])
    assert codes.shape == (7, 10)
    assert ae.inverse_transform(codes).shape == (7, 64)
    assert ae.fit_transform(X).shape == (len(X), 10)
    assert list(ae.get_feature_names_out()) == [f"mlpautoencoder{i}" for i in range(10)]
    assert isinstance(ae.regressor_, NeuralNetRegressor)
    assert [f.output_shape for f in ae.regressor_.layers_] == [(64,), (10,), (64,), (64,)]
    assert [f.layer.activation for f in ae.regressor_.layers_] == ["tanh", "identity", "tanh",
                                                                    None]
    assert np.isfinite(ae.score(X)) and ae.score(X) < 0
    assert len(ae.loss_curve_) == ae.n_iter_


ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
}


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("bottleneck", ["same", "identity"])
def test_transform_matches_numpy_oracle(digits, activation, bottleneck):
    X, _ = digits
    f = ACTIVATIONS[activation]
    g = f if bottleneck == "same" else ACTIVATIONS["identity"]
    ae = small(max_iter=5, activation=activation, hidden_layer_sizes=(32, 16),
               bottleneck_activation=activation if bottleneck == "same" else "identity").fit(X)
    W = [f_.weights["kernel"] for f_ in ae.regressor_.layers_]
    b = [f_.weights["bias"] for f_ in ae.regressor_.layers_]
    codes = X
    for i, act in enumerate((f, f, g)):  # 64 -> 32 -> 16 -> 10
        codes = act(codes @ W[i] + b[i])
    np.testing.assert_allclose(ae.transform(X), codes, rtol=1e-10, atol=1e-12)
    X_rec = codes
    for i in range(3, 6):  # 10 -> 16 -> 32 -> 64, linear output
        X_rec = X_rec @ W[i] + b[i]
        X_rec = f(X_rec) if i < 5 else X_rec
    np.testing.assert_allclose(ae.inverse_transform(codes), X_rec, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(X_rec, ae.regressor_.predict(X), rtol=1e-10, atol=1e-12)


def test_float32_in_float32_out(digits):
    X, _ = digits
    ae = small(max_iter=5).fit(X.astype(np.float32))
    codes = ae.transform(X.astype(np.float32))
    assert codes.dtype == np.float32
    assert ae.inverse_transform(codes).dtype == np.float32


def test_precision_sets_the_dtype(digits):
    X, _ = digits  # float64
    ae = small(max_iter=5, precision="float32").fit(X)
    assert ae.regressor_.layers_[0].weights["kernel"].dtype == np.float32
    codes = ae.transform(X)
    assert codes.dtype == np.float32 and ae.inverse_transform(codes).dtype == np.float32
    ref = small(max_iter=5).fit(X.astype(np.float32))
    np.testing.assert_allclose(codes, ref.transform(X.astype(np.float32)), rtol=1e-5, atol=1e-6)


def test_bfloat16_trains_close_to_float32(digits):
    from fastmlp import bf16_available

    if not bf16_available():
        pytest.skip("this CPU has no AVX-512 BF16")
    X, _ = digits
    err = {p: -small(max_iter=60, precision=p).fit(X).score(X) for p in ("float32", "bfloat16")}
    assert err["bfloat16"] < 1.1 * err["float32"]


def test_in_pipeline(digits):
    X, y = digits
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    pipe = make_pipeline(MinMaxScaler(), small(), LogisticRegression(max_iter=1000))
    assert pipe.fit(Xtr, ytr).score(Xte, yte) > 0.8


def test_pickle_roundtrip(digits):
    X, _ = digits
    ae = small(max_iter=10).fit(X)
    ae2 = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(ae.transform(X), ae2.transform(X))


def test_inverse_transform_reconstructs(digits):
    X, _ = digits
    ae = small(max_iter=200).fit(X)
    X_rec = ae.inverse_transform(ae.transform(X))
    # Ten codes keep well over half of the 64 pixels' variance.
    assert np.mean((X - X_rec) ** 2) < 0.4 * np.var(X, axis=0).mean()
    assert ae.score(X) == pytest.approx(-np.mean((X - X_rec) ** 2))


@pytest.mark.slow  # three 400-epoch fits: a quality target, not a behaviour
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_defaults_beat_pca_on_held_out_digits(digits, seed):
    X, _ = digits
    Xtr, Xte = train_test_split(X, random_state=seed)
    pca = PCA(10).fit(Xtr)
    pca_mse = np.mean((Xte - pca.inverse_transform(pca.transform(Xte))) ** 2)
    ae = MLPAutoencoder(n_components=10, random_state=seed).fit(Xtr)
    assert -ae.score(Xte) < 0.85 * pca_mse


def test_rejects_bad_parameters(digits):
    X, _ = digits
    with pytest.raises(ValueError):
        MLPAutoencoder(n_components=0).fit(X)
    with pytest.raises(ValueError):
        MLPAutoencoder(hidden_layer_sizes=(8, 0)).fit(X)
    ae = small(max_iter=2).fit(X)
    with pytest.raises(ValueError):
        ae.inverse_transform(np.zeros((3, 4)))


def test_lbfgs(digits):
    X, _ = digits
    ae = small(solver="lbfgs", max_iter=60).fit(X[:300])
    assert 0 < ae.n_iter_ <= 60 and np.isfinite(ae.loss_)
    assert -ae.score(X[:300]) < np.var(X[:300], axis=0).mean()
    for kw, match in ((dict(dropout=0.1), "dropout apply to the stochastic"),
                      (dict(variational=True), "variational=True apply"),
                      (dict(layers=[Dense(8), Dropout(0.2)]), "deterministic network")):
        with pytest.raises(ValueError, match=match):
            small(solver="lbfgs", max_iter=2, **kw).fit(X[:50])


def test_dropout_layers_follow_each_hidden_layer(digits):
    X, _ = digits
    ae = small(hidden_layer_sizes=(16,), dropout=[0.1, 0.0, 0.3], max_iter=2).fit(X[:100])
    kinds = [(f.layer.kind, getattr(f.layer, "rate", None)) for f in ae.regressor_.layers_]
    assert kinds == [("Dense", None), ("Dropout", 0.1), ("Dense", None), ("Dense", None),
                     ("Dropout", 0.3), ("Dense", None)]
    assert ae.transform(X[:5]).shape == (5, 10)
    with pytest.raises(ValueError, match="one rate per hidden layer"):
        small(dropout=[0.1, 0.2]).fit(X[:50])
    with pytest.raises(ValueError, match="put Dropout layers in layers"):
        small(dropout=0.1, layers=[Dense(8)]).fit(X[:50])


# ------------------------------------------------------------------ mirrored decoders
def test_convolutional_encoder_and_mirrored_decoder(digits):
    X, _ = digits
    layers = [Conv2D(8, 3, strides=2, padding="same", activation="relu"),
              BatchNormalization(momentum=0.9), Conv2D(16, 3, padding="same", activation="relu"),
              MaxPooling2D(2)]
    X = X[:400]
    ae = MLPAutoencoder(n_components=10, layers=layers, input_shape=(8, 8, 1), max_iter=20,
                        batch_size=32, random_state=0).fit(X)
    kinds = [f.layer.kind for f in ae.regressor_.layers_]
    assert kinds == ["Conv2D", "BatchNormalization", "Conv2D", "MaxPooling2D", "Flatten",
                     "Dense", "Dense", "Reshape", "UpSampling2D", "Conv2D",
                     "BatchNormalization", "UpSampling2D", "Conv2D", "Flatten"]
    shapes = [f.output_shape for f in ae.regressor_.layers_]
    assert shapes[5] == (10,) and shapes[-2] == (8, 8, 1) and shapes[-1] == (64,)
    last_conv = ae.regressor_.layers_[-2].layer
    assert last_conv.filters == 1 and last_conv.activation is None
    assert ae.transform(X[:4]).shape == (4, 10)
    assert ae.transform(X[:4].reshape(4, 8, 8)).shape == (4, 10)
    assert ae.inverse_transform(ae.transform(X[:4])).shape == (4, 64)
    assert -ae.score(X) < np.var(X, axis=0).mean()


def test_conv1d_valid_padding_is_mirrored_with_explicit_padding():
    X = np.random.RandomState(0).rand(40, 12)
    ae = MLPAutoencoder(n_components=3, layers=[Conv1D(4, 3, activation="relu")],
                        max_iter=2, random_state=0).fit(X)
    mirror = ae.regressor_.layers_[-2].layer
    assert (mirror.kind, mirror.filters, mirror.padding) == ("Conv1D", 1, 2)
    assert ae.regressor_.layers_[-2].output_shape == (12, 1)


@pytest.mark.parametrize("layers,shape,match", [
    ([GlobalAveragePooling2D()], (8, 8, 1), r"layers\[0\] \(GlobalAveragePooling2D\) cannot "
                                            "be mirrored.*drops the positions"),
    ([AveragePooling2D(3)], (8, 8, 1), r"layers\[0\] \(AveragePooling2D\) cannot be mirrored"),
    ([Conv2D(2, 4, strides=2)], (8, 8, 1), r"layers\[0\] \(Conv2D\) cannot be mirrored"),
    ([Flatten(), Dense(5), Dense(4)], (4, 4, 1), None),
])
def test_mirroring_rules_and_errors(layers, shape, match):
    X = np.random.RandomState(0).rand(30, int(np.prod(shape)))
    ae = MLPAutoencoder(n_components=2, layers=layers, input_shape=shape, max_iter=2)
    if match is None:
        ae.fit(X)
        kinds = [f.layer.kind for f in ae.regressor_.layers_]
        assert kinds == ["Flatten", "Dense", "Dense", "Dense", "Dense", "Dense", "Dense",
                         "Reshape", "Flatten"]
        shapes = [f.output_shape for f in ae.regressor_.layers_[3:8]]
        assert shapes == [(2,), (4,), (5,), (16,), (4, 4, 1)]
        return
    with pytest.raises(ValueError, match=match):
        ae.fit(X)
    assert not hasattr(ae, "regressor_") and not hasattr(ae, "n_features_in_")


def test_failed_refit_keeps_the_previous_model(digits):
    X, _ = digits
    ae = small(max_iter=3).fit(X)
    codes = ae.transform(X[:5])
    with pytest.raises(ValueError, match="cannot be mirrored"):
        ae.set_params(layers=[GlobalAveragePooling2D()], input_shape=(4, 4, 1)).fit(X[:, :16])
    assert ae.n_features_in_ == 64
    np.testing.assert_array_equal(ae.transform(X[:5]), codes)


# ------------------------------------------------------------------ variational
def test_vae_codes_samples_and_noise_variance(digits):
    X, _ = digits
    vae = MLPAutoencoder(n_components=6, variational=True, max_iter=60, random_state=0).fit(X)
    kinds = [f.layer.kind for f in vae.regressor_.layers_]
    assert kinds == ["Dense", "Dense", "Sampling", "Dense", "Dense"]
    pca = PCA(6).fit(X)
    assert vae.noise_variance_ == pytest.approx(pca.noise_variance_)
    assert vae.kl_weight_ == vae.noise_variance_
    codes = vae.transform(X)
    assert codes.shape == (len(X), 6)
    # The codes are the means: the encoder's Dense(12) output's first half.
    h = np.maximum(X @ vae.regressor_.layers_[0].weights["kernel"]
                   + vae.regressor_.layers_[0].weights["bias"], 0)
    stats = h @ vae.regressor_.layers_[1].weights["kernel"] + vae.regressor_.layers_[1].weights[
        "bias"]
    np.testing.assert_allclose(codes, stats[:, :6], rtol=1e-10, atol=1e-12)
    # Codes near N(0, I) and samples that look like the data on average.
    assert abs(codes.mean()) < 0.5 and 0.2 < codes.std() < 2
    S = vae.sample(2000, random_state=0)
    assert S.shape == (2000, 64)
    np.testing.assert_array_equal(S, vae.sample(2000, random_state=0))
    assert np.abs(S.mean(axis=0) - X.mean(axis=0)).mean() < 0.05
    assert not hasattr(MLPAutoencoder(), "sample")
    for n in (0, -2, 1.5):
        with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
            vae.sample(n)


def test_vae_loss_gradient_with_fixed_noise(digits):
    X, _ = digits
    vae = MLPAutoencoder(n_components=3, hidden_layer_sizes=(5,), variational=True, alpha=0.0,
                         max_iter=1, random_state=0).fit(X[:40])
    reg = vae.regressor_
    net = reg._core_network(np.float64, 40)
    rng = np.random.default_rng(0)
    flat = rng.normal(scale=0.3, size=reg._n_params_total)
    Xs = np.ascontiguousarray(X[:40])
    grad = np.empty(flat.size)
    loss = net.loss_grad(flat, grad, Xs, Xs, None, 0.0, dropout_seed=4)
    scratch = np.empty(flat.size)

    def f():
        return net.loss_grad(flat, scratch, Xs, Xs, None, 0.0, dropout_seed=4)

    from _layer_checks import numeric_gradient

    # The squared error (and the KL term with it) is reported per feature, its gradient is
    # that of the sum over features: the gradient is 64 times the reported loss's.
    np.testing.assert_allclose(grad, 64 * numeric_gradient(f, flat), rtol=1e-6, atol=1e-8)
    assert loss > 0


def test_vae_and_autoencoder_are_thread_count_independent(digits):
    X, _ = digits
    for kw in (dict(), dict(variational=True)):
        fits = []
        for threads in (1, 2):
            with threadpool_limits(threads, user_api="openmp"):
                fits.append(MLPAutoencoder(n_components=4, max_iter=3, random_state=0,
                                           **kw).fit(X[:500]))
        np.testing.assert_array_equal(fits[0].regressor_._packed_params(),
                                      fits[1].regressor_._packed_params())


def test_vae_pickles(digits):
    X, _ = digits
    vae = MLPAutoencoder(n_components=3, variational=True, max_iter=3, random_state=0).fit(X)
    back = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(back.sample(5, random_state=1), vae.sample(5, random_state=1))


@parametrize_with_checks([MLPAutoencoder(max_iter=20),
                          MLPAutoencoder(max_iter=20, variational=True)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
