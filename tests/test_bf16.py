"""bfloat16 products (precision='bfloat16'): each bf16 GEMM kernel (AVX-512 BF16's
vdpbf16ps; AMX-BF16 tiles where the CPU and OS allow them) against numpy in float64 on the
bf16-rounded inputs (and, loosely, on the unrounded ones), every transpose case, odd shapes,
alpha/beta, beta=0 on NaN, thread-count independence; the kernel choice (the measured one,
FASTMLP_BF16_KERNEL, FASTMLP_AMX=0) and the float32 fallback with its one-time warning; the
estimators' precision parameter; and the errors where the CPU lacks AVX-512 BF16 (forced
here with FASTMLP_BF16=0). Tests that run bf16 products skip, with the reason, on CPUs
without it."""

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_regression
from sklearn.model_selection import train_test_split

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor, _base, _core

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

needs_bf16 = pytest.mark.skipif(
    not _core.bf16_available(), reason="this CPU lacks AVX-512 BF16 (avx512_bf16)"
)

# The bf16 kernels this machine runs (float32 products are the fallback, tested apart).
BF16_KERNELS = [k for k in ("avx512", "amx")
                if _core.bf16_available() and k in _core.available_bf16_kernels()]
needs_amx = pytest.mark.skipif(
    "amx" not in BF16_KERNELS,
    reason="no AMX-BF16 here (CPU before Sapphire Rapids, or the OS refused the tile permission)",
)

SIZES = [1, 7, 33, 257]
SHAPES = [(m, n, k) for m in SIZES for n in SIZES for k in SIZES]
# The tiles' edges (AVX-512 12 x 32, AMX 32 x 32 with k chunks of 32), odd K across the
# k blocks (512 deep), the mnist784 shapes.
SHAPES += [(11, 31, 2), (12, 32, 512), (13, 33, 513), (25, 65, 1025), (200, 256, 784),
           (784, 256, 200), (200, 784, 256), (1000, 2, 3), (31, 33, 31), (32, 32, 32),
           (33, 31, 33), (64, 96, 1024), (65, 97, 2081)]
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
@pytest.mark.parametrize("kernel", BF16_KERNELS)
@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_bf16_gemm_matches_numpy(m, n, k, ta, tb, kernel):
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    a, b = _operands(m, n, k, ta, tb, rng)
    got = _core.gemm(a, b, trans_a=ta, trans_b=tb, precision="bfloat16", kernel=kernel)
    assert got.dtype == np.float32 and got.shape == (m, n) and got.flags.c_contiguous
    # The products of bf16 values are exact in float64: what remains is float32 summation.
    want = _op(round_bf16(a), ta) @ _op(round_bf16(b), tb)
    assert _max_rel_error(got, want, k) <= 1e-6
    # Against the unrounded inputs: bf16's 8-bit significand.
    exact = _op(a.astype(np.float64), ta) @ _op(b.astype(np.float64), tb)
    assert np.abs(got - exact).max() <= 1e-2 * max(np.abs(exact).max(), 1.0)


@needs_bf16
@pytest.mark.parametrize("kernel", BF16_KERNELS)
def test_bf16_gemm_alpha_beta_and_nan_output(kernel):
    rng = np.random.default_rng(0)
    # (64, 64, 2081): full AMX tiles over five k blocks, so later blocks add onto C.
    for m, n, k in [(7, 33, 9), (257, 17, 33), (1, 1, 1), (13, 2, 5), (64, 64, 2081)]:
        for ta, tb in TRANS:
            a, b = _operands(m, n, k, ta, tb, rng)
            want = _op(round_bf16(a), ta) @ _op(round_bf16(b), tb)
            c = rng.standard_normal((m, n)).astype(np.float32)
            out = c.copy()
            _core.gemm(a, b, trans_a=ta, trans_b=tb, alpha=-0.5, beta=2.0, out=out,
                       precision="bfloat16", kernel=kernel)
            assert _max_rel_error(out, -0.5 * want + 2.0 * c, k) <= 1e-6
            nan_out = np.full((m, n), np.nan, dtype=np.float32)  # beta = 0 must not read C
            _core.gemm(a, b, trans_a=ta, trans_b=tb, out=nan_out, precision="bfloat16",
                       kernel=kernel)
            assert _max_rel_error(nan_out, want, k) <= 1e-6


@needs_bf16
@pytest.mark.parametrize("kernel", BF16_KERNELS)
def test_bf16_kernels_round_alike(kernel):
    # Ties to even, float32 denormals (flushed to zero), values past bf16's largest finite
    # (round to inf), inf and nan: the packers round as the oracle does for every kernel.
    rng = np.random.default_rng(3)
    m, n, k = 40, 40, 70
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    a[0, :5] = [1.00390625, 1.01171875, 1.0 + 2**-8 + 2**-23, 3.0e-39, -1.0e-40]
    b[:5, 0] = [3.0e-39, 1.0, 1.0, 1.0e30, 1.0]
    b[5, 1] = 3.4e38  # rounds to bf16 inf
    got = _core.gemm(a, b, precision="bfloat16", kernel=kernel)
    with np.errstate(invalid="ignore", over="ignore"):
        want = round_bf16(a) @ round_bf16(b)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert _max_rel_error(got[finite], want[finite], k) <= 1e-6


@needs_bf16
@pytest.mark.parametrize("kernel", BF16_KERNELS)
@pytest.mark.parametrize("m,n,k,ta,tb", [(200, 256, 784, False, False),
                                         (784, 256, 200, True, False),
                                         (200, 784, 256, False, True),
                                         (257, 1031, 1033, True, True)])
def test_bf16_results_do_not_depend_on_thread_count(m, n, k, ta, tb, kernel):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    a, b = _operands(m, n, k, ta, tb, np.random.default_rng(7))
    results = []
    for threads in (1, 2, 3):
        with threadpoolctl.threadpool_limits(threads, user_api="openmp"):
            results.append(_core.gemm(a, b, trans_a=ta, trans_b=tb, precision="bfloat16",
                                      kernel=kernel))
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


@needs_bf16
def test_measured_choice_and_its_calibration():
    cal = _core.bf16_calibration()
    assert cal == _core.bf16_calibration()  # measured once per process
    assert cal["float32_s"] > 0 and cal["avx512_s"] > 0 and cal["elapsed_s"] > 0
    assert (cal["amx_s"] > 0) == ("amx" in BF16_KERNELS)
    assert cal["measured_kernel"] in _core.available_bf16_kernels()
    best = min(BF16_KERNELS, key=lambda k: cal[k + "_s"])
    fast_enough = cal["float32_s"] >= cal["min_speedup"] * cal[best + "_s"]
    assert cal["measured_kernel"] == (best if fast_enough else "float32")


@needs_bf16
def test_first_use_from_many_threads_at_once():
    # A fresh process whose first bf16 products start on four threads together: one
    # calibration, the others wait for it, and all four use the same kernel.
    code = """
import threading, numpy as np
from fastmlp import _core
a = np.random.default_rng(0).standard_normal((96, 130)).astype(np.float32)
out = [None] * 4
def run(i):
    out[i] = _core.gemm(a, a.T.copy(), precision="bfloat16")
threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert all(np.array_equal(o, out[0]) for o in out)
np.testing.assert_array_equal(out[0], _core.gemm(a, a.T.copy(), precision="bfloat16"))
print(_core.bf16_kernel())
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTMLP_")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] in _core.available_bf16_kernels()  # its own measurement


@needs_bf16
@pytest.mark.parametrize("kernel", ["avx512", "amx", "float32"])
def test_kernel_forced_by_environment(monkeypatch, kernel):
    if kernel not in _core.available_bf16_kernels():
        pytest.skip(f"this machine cannot run the {kernel} bf16 kernel")
    monkeypatch.setenv("FASTMLP_BF16_KERNEL", kernel)
    assert fastmlp.bf16_kernel() == kernel
    a, b = _operands(65, 97, 300, False, False, np.random.default_rng(1))
    got = _core.gemm(a, b, precision="bfloat16")
    # What each kernel does can be told apart: float32 products are float32's bit for bit.
    if kernel == "float32":
        np.testing.assert_array_equal(got, _core.gemm(a, b))
    else:
        np.testing.assert_array_equal(got, _core.gemm(a, b, precision="bfloat16",
                                                      kernel=kernel))
        assert _max_rel_error(got, round_bf16(a) @ round_bf16(b), 300) <= 1e-6
    monkeypatch.setenv("FASTMLP_BF16_KERNEL", "avx2")
    with pytest.raises(ValueError, match="avx512, amx or float32"):
        _core.gemm(a, b, precision="bfloat16")
    with pytest.raises(ValueError, match="avx512, amx or float32"):
        MLPClassifier(max_iter=1, precision="bfloat16").fit(a, np.arange(65) % 2)


@needs_bf16
def test_amx_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("FASTMLP_AMX", "0")  # as where the OS refuses the tile permission
    assert "amx" not in _core.available_bf16_kernels()
    assert fastmlp.bf16_kernel() in ("avx512", "float32")
    a, b = _operands(7, 9, 11, False, False, np.random.default_rng(2))
    with pytest.raises(ValueError, match="AMX"):
        _core.gemm(a, b, precision="bfloat16", kernel="amx")
    monkeypatch.setenv("FASTMLP_BF16_KERNEL", "amx")
    with pytest.raises(ValueError, match="AMX"):
        fastmlp.bf16_kernel()


@needs_bf16
def test_float32_fallback_warns_once_and_trains_as_float32(monkeypatch):
    monkeypatch.setenv("FASTMLP_BF16_KERNEL", "float32")
    monkeypatch.setattr(_base, "_bf16_fallback_warned", False)
    X_train, X_test, y_train, _ = _digits()
    params = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    with pytest.warns(UserWarning, match="FASTMLP_BF16_KERNEL=float32 is set.*run in float32"):
        bf16 = MLPClassifier(precision="bfloat16", **params).fit(X_train, y_train)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="precision='bfloat16'")  # once per process
        MLPClassifier(precision="bfloat16", **params).fit(X_train, y_train)
    f32 = MLPClassifier(precision="float32", **params).fit(X_train, y_train)
    for got, want in zip(bf16.coefs_ + bf16.intercepts_, f32.coefs_ + f32.intercepts_):
        np.testing.assert_array_equal(got, want)


@needs_bf16
def test_measured_fallback_warning_names_the_speeds(monkeypatch):
    # Where bf16 products lose to float32 (vdpbf16ps on Sapphire Rapids without AMX).
    monkeypatch.setattr(_base, "_bf16_fallback_warned", False)
    monkeypatch.setattr(_core, "bf16_kernel", lambda kernel="auto": "float32")
    monkeypatch.setattr(_core, "bf16_calibration", lambda: {
        "float32_s": 1e-3, "avx512_s": 2e-3, "amx_s": 0.0, "elapsed_s": 4e-3,
        "min_speedup": 1.1, "measured_kernel": "float32"})
    with pytest.warns(UserWarning, match=r"measured no faster.*avx512 0\.50x.*from 1\.1x"):
        _base._check_bf16_cpu()


def test_missing_cpu_feature_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FASTMLP_BF16", "0")
    assert not _core.bf16_available()
    a = np.ones((3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="avx512_bf16"):
        _core.gemm(a, a.T.copy(), precision="bfloat16")
    with pytest.raises(ValueError, match="avx512_bf16"):
        fastmlp.bf16_kernel()
    assert _core.available_bf16_kernels() == []
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
@pytest.mark.parametrize("kernel", BF16_KERNELS)
def test_bf16_classifier_matches_float32_accuracy(monkeypatch, kernel):
    monkeypatch.setenv("FASTMLP_BF16_KERNEL", kernel)
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
