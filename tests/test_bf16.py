"""bfloat16 products (precision='bfloat16'): the AVX-512 BF16 GEMM against numpy in float64
on the bf16-rounded inputs (and, loosely, on the unrounded ones), every transpose case,
odd shapes, alpha/beta, beta=0 on NaN, thread-count independence; the estimators' precision
parameter; and the errors where the CPU lacks AVX-512 BF16 (forced here with FASTMLP_BF16=0).
Tests that run bf16 products skip, with the reason, on CPUs without it."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_regression
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier, MLPRegressor, _core

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

needs_bf16 = pytest.mark.skipif(
    not _core.bf16_available(), reason="this CPU lacks AVX-512 BF16 (avx512_bf16)"
)

SIZES = [1, 7, 33, 257]
SHAPES = [(m, n, k) for m in SIZES for n in SIZES for k in SIZES]
# The tile's edges (12 x 32), odd K across the 512-deep k blocks, the mnist784 shapes.
SHAPES += [(11, 31, 2), (12, 32, 512), (13, 33, 513), (25, 65, 1025), (200, 256, 784),
           (784, 256, 200), (200, 784, 256), (1000, 2, 3)]
TRANS = [(False, False), (True, False), (False, True), (True, True)]


def round_bf16(x):
    """float32 x rounded to bfloat16 as vcvtne2ps2bf16 rounds (nearest even, denormals to
    zero), as float64."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    out = u.astype(np.uint32).view(np.float32).astype(np.float64)
    return np.where(np.abs(x) < np.finfo(np.float32).tiny, 0.0, out)


def _operands(m, n, k, ta, tb, rng):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    return a, b


def _op(x, t):
    return x.T if t else x


def _max_rel_error(got, want, k):
    return np.abs(got - want).max() / (np.sqrt(k) * max(np.abs(want).max(), 1.0))


def test_rounding_oracle():
    x = np.array([1.0, 1.00390625, 1.005859375, 1.0 + 2**-8 + 2**-23, -3.0e-39, 65504.0],
                 dtype=np.float32)
    # halfway rounds to even (down), halfway of an odd last bit rounds up, above half up,
    # a float32 denormal flushes to zero
    np.testing.assert_array_equal(
        round_bf16(x), [1.0, 1.0, 1.0078125, 1.0078125, 0.0, 65536.0]
    )


@needs_bf16
@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_bf16_gemm_matches_numpy(m, n, k, ta, tb):
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    a, b = _operands(m, n, k, ta, tb, rng)
    got = _core.gemm(a, b, trans_a=ta, trans_b=tb, precision="bfloat16")
    assert got.dtype == np.float32 and got.shape == (m, n) and got.flags.c_contiguous
    # The products of bf16 values are exact in float64: what remains is float32 summation.
    want = _op(round_bf16(a), ta) @ _op(round_bf16(b), tb)
    assert _max_rel_error(got, want, k) <= 1e-6
    # Against the unrounded inputs: bf16's 8-bit significand.
    exact = _op(a.astype(np.float64), ta) @ _op(b.astype(np.float64), tb)
    assert np.abs(got - exact).max() <= 1e-2 * max(np.abs(exact).max(), 1.0)


@needs_bf16
def test_bf16_gemm_alpha_beta_and_nan_output():
    rng = np.random.default_rng(0)
    for m, n, k in [(7, 33, 9), (257, 17, 33), (1, 1, 1), (13, 2, 5)]:
        a, b = _operands(m, n, k, False, True, rng)
        c = rng.standard_normal((m, n)).astype(np.float32)
        out = c.copy()
        _core.gemm(a, b, trans_b=True, alpha=-0.5, beta=2.0, out=out, precision="bfloat16")
        want = -0.5 * round_bf16(a) @ round_bf16(b).T + 2.0 * c
        assert _max_rel_error(out, want, k) <= 1e-6
        nan_out = np.full((m, n), np.nan, dtype=np.float32)  # beta = 0 must not read C
        _core.gemm(a, b, trans_b=True, out=nan_out, precision="bfloat16")
        assert _max_rel_error(nan_out, round_bf16(a) @ round_bf16(b).T, k) <= 1e-6


@needs_bf16
@pytest.mark.parametrize("m,n,k,ta,tb", [(200, 256, 784, False, False),
                                         (784, 256, 200, True, False),
                                         (200, 784, 256, False, True),
                                         (257, 1031, 1033, True, True)])
def test_bf16_results_do_not_depend_on_thread_count(m, n, k, ta, tb):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    a, b = _operands(m, n, k, ta, tb, np.random.default_rng(7))
    results = []
    for threads in (1, 2, 3):
        with threadpoolctl.threadpool_limits(threads, user_api="openmp"):
            results.append(_core.gemm(a, b, trans_a=ta, trans_b=tb, precision="bfloat16"))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_bf16_gemm_argument_errors():
    a = np.ones((3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="precision"):
        _core.gemm(a, a.T.copy(), precision="float16")
    if not _core.bf16_available():
        pytest.skip("this CPU lacks AVX-512 BF16: the errors below are about bf16 arguments")
    with pytest.raises(ValueError, match="float32"):
        _core.gemm(np.ones((3, 4)), np.ones((4, 2)), precision="bfloat16")
    with pytest.raises(ValueError, match="kernel"):
        _core.gemm(a, a.T.copy(), kernel="scalar", precision="bfloat16")


def test_missing_cpu_feature_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FASTMLP_BF16", "0")
    assert not _core.bf16_available()
    a = np.ones((3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="avx512_bf16"):
        _core.gemm(a, a.T.copy(), precision="bfloat16")
    with pytest.raises(ValueError, match="avx512_bf16"):
        _core.Network32([4, 3, 2], "relu", "identity", "squared_error", 8, precision="bfloat16")
    X, y = load_digits(return_X_y=True)
    clf = MLPClassifier(max_iter=2, precision="bfloat16")
    with pytest.raises(ValueError, match="avx512_bf16"):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")  # nothing half-fitted


def test_float64_network_refuses_bf16():
    with pytest.raises(ValueError, match="float32"):
        _core.Network64([4, 3, 2], "relu", "identity", "squared_error", 8, precision="bfloat16")


def _digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, random_state=0)


@needs_bf16
def test_bf16_classifier_matches_float32_accuracy():
    X_train, X_test, y_train, y_test = _digits()
    params = dict(hidden_layer_sizes=(64,), max_iter=60, random_state=0)
    f32 = MLPClassifier(precision="float32", **params).fit(X_train, y_train)
    bf16 = MLPClassifier(precision="bfloat16", **params).fit(X_train, y_train)
    assert all(c.dtype == np.float32 for c in bf16.coefs_ + bf16.intercepts_)
    assert bf16.predict_proba(X_test).dtype == np.float32
    assert abs(bf16.score(X_test, y_test) - f32.score(X_test, y_test)) <= 0.02
    assert bf16.score(X_test, y_test) > 0.95
    # The same start and batches: the loss curves part only by bf16 rounding.
    np.testing.assert_allclose(bf16.loss_curve_[:5], f32.loss_curve_[:5], rtol=0.02)


@needs_bf16
def test_bf16_regressor_sgd_and_sparse_input():
    X, y = make_regression(n_samples=600, n_features=20, noise=1.0, random_state=0)
    y = y / y.std()
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=200, random_state=0,
                       precision="bfloat16").fit(X, y)  # N=1 output: the narrow product
    assert reg.score(X, y) > 0.95
    Xd = np.where(np.abs(X) > 0.5, X, 0.0)
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", max_iter=20, random_state=0,
                        precision="bfloat16")
    dense = clf.fit(Xd, y > 0).predict_proba(Xd)
    sparse = MLPClassifier(**clf.get_params()).fit(sp.csr_matrix(Xd), y > 0)
    # The CSR first layer stays float32; the rest is bf16 in both.
    np.testing.assert_allclose(sparse.predict_proba(Xd), dense, atol=0.05)


@needs_bf16
def test_bf16_model_predicts_without_bf16(monkeypatch):
    X_train, X_test, y_train, _ = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=20, random_state=0,
                        precision="bfloat16").fit(X_train, y_train)
    proba = clf.predict_proba(X_test)
    monkeypatch.setenv("FASTMLP_BF16", "0")  # predict runs in float32: any CPU
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X_test), proba)


@pytest.mark.parametrize("precision,x_dtype,want", [
    (None, np.float32, np.float32), (None, np.float64, np.float64),
    ("float32", np.float64, np.float32), ("float64", np.float32, np.float64),
])
def test_precision_sets_the_model_dtype(precision, x_dtype, want):
    X_train, X_test, y_train, _ = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0,
                        precision=precision)
    clf.fit(X_train.astype(x_dtype), y_train)
    assert clf.coefs_[0].dtype == want
    assert clf.predict_proba(X_test.astype(x_dtype)).dtype == want


def test_precision_change_with_warm_start_is_refused():
    X_train, _, y_train, _ = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0, warm_start=True)
    clf.fit(X_train, y_train)  # float64
    clf.set_params(precision="float32")
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(X_train, y_train)


def test_invalid_precision():
    X_train, _, y_train, _ = _digits()
    with pytest.raises(ValueError, match="precision"):
        MLPClassifier(precision="float16").fit(X_train, y_train)
