"""MLPAutoencoder: shapes, pipelines, pickling, reconstruction, a win over PCA on digits, and
scikit-learn's estimator checks."""

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

from fastmlp import MLPAutoencoder

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
    assert ae.regressor_.hidden_layer_sizes == (64, 10, 64)
    assert np.isfinite(ae.score(X)) and ae.score(X) < 0


ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
}


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_transform_matches_numpy_oracle(digits, activation):
    X, _ = digits
    ae = small(max_iter=5, activation=activation, hidden_layer_sizes=(32, 16)).fit(X)
    f, W, b = ACTIVATIONS[activation], ae.regressor_.coefs_, ae.regressor_.intercepts_
    codes = X
    for i in range(3):  # 64 -> 32 -> 16 -> 10, every layer activated
        codes = f(codes @ W[i] + b[i])
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
    assert ae.regressor_.coefs_[0].dtype == np.float32
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
def test_beats_pca_on_digits(digits, seed):
    X, _ = digits
    Xtr, Xte = train_test_split(X, random_state=seed)
    pca = PCA(10).fit(Xtr)
    pca_mse = np.mean((Xte - pca.inverse_transform(pca.transform(Xte))) ** 2)
    ae = MLPAutoencoder(
        n_components=10, hidden_layer_sizes=(64,), activation="tanh", max_iter=400,
        tol=0, learning_rate_init=0.003, random_state=seed,
    ).fit(Xtr)
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


@parametrize_with_checks([MLPAutoencoder(max_iter=20)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
