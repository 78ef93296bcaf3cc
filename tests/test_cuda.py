"""The CUDA path: always-run checks of the build and the errors, and (on a GPU) each
device kernel against the CPU path on random inputs of odd sizes, then fit/predict on
the device against the CPU. GPU tests skip with a reason where no GPU is usable."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import DataConversionWarning

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor, _core

GPU = fastmlp.cuda_available()
needs_gpu = pytest.mark.skipif(
    not GPU,
    reason=f"no usable GPU (has_cuda={_core.has_cuda}: {_core.cuda_device()})",
)
SHAPES = [(1, 1, 1), (2, 7, 3), (7, 1, 257), (63, 65, 33), (257, 129, 200), (130, 100, 784)]
SKLEARN_HIDDEN = ["identity", "logistic", "tanh", "relu"]
# Beyond scikit-learn: their formulas are nn/activation_math.h and nn/loss_math.h, shared
# by the CPU loops and the device kernels.
NEW_HIDDEN = ["leaky_relu", "gelu", "silu", "elu", "softplus"]
NEW_LOSSES = ["absolute_error", "huber"]
# Training features beyond scikit-learn (README "Regularised training"), on the device too.
TRAINING_EXTRAS = [
    dict(dropout=0.3),
    dict(dropout=[0.5, 0.0]),
    dict(dropout=0.3, activation="gelu"),
    dict(solver="adamw", alpha=0.01),
    dict(max_grad_norm=0.1),
    dict(max_grad_norm=0.1, solver="sgd"),
    dict(learning_rate="cosine", warmup_iters=1),
    dict(learning_rate="cosine", solver="sgd"),
    dict(solver="adamw", alpha=0.01, dropout=0.2, max_grad_norm=0.5, learning_rate="cosine",
         warmup_iters=2),
]


# --------------------------------------------------------------- always run
def test_cuda_available_is_a_bool_and_never_raises():
    assert fastmlp.cuda_available() in (True, False)
    assert isinstance(_core.cuda_device(), str)
    if not _core.has_cuda:
        assert fastmlp.cuda_available() is False


def test_has_cuda_reflects_the_build():
    assert _core.has_cuda == hasattr(_core, "CudaNetwork32")
    assert _core.has_cuda == hasattr(_core, "cuda_kernels")


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_device_parameter(Est):
    assert Est().device == "cpu"
    assert Est(device="cuda").get_params()["device"] == "cuda"
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="device"):
        Est(device="gpu").fit(X, y)


@pytest.mark.skipif(GPU, reason="checks the error raised where no GPU is usable")
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_device_cuda_without_gpu_raises_clearly(Est):
    X, y = make_classification(n_samples=30, n_features=4, random_state=0)
    est = Est(device="cuda", max_iter=2)
    with pytest.raises(RuntimeError, match="device='cuda'"):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("kw", [dict(activation=a) for a in NEW_HIDDEN]
                         + [dict(loss=loss) for loss in NEW_LOSSES] + TRAINING_EXTRAS)
def test_device_auto_takes_the_gpu_for_every_activation_loss_and_extra(kw):
    from fastmlp import _cuda

    X = np.zeros((4, 2))
    est = MLPRegressor(device="auto", **{"solver": "adam", **kw})
    assert _cuda.fit_device(est, X) == ("cuda" if GPU else "cpu")
    assert _cuda.predict_on_device(est, X, np.zeros(3, np.float32)) == GPU


@pytest.mark.skipif(GPU, reason="checks the error raised where no GPU is usable")
@pytest.mark.parametrize("kw", TRAINING_EXTRAS)
def test_training_extras_with_device_cuda_need_only_a_gpu(kw):
    # No ValueError about the features: only the missing GPU (or CUDA build) stops the fit.
    X, y = make_classification(n_samples=30, n_features=4, random_state=0)
    with pytest.raises(RuntimeError, match="device='cuda'"):
        MLPClassifier(hidden_layer_sizes=(4, 3), device="cuda", max_iter=3, **kw).fit(X, y)
    est = MLPClassifier(hidden_layer_sizes=(4, 3), device="auto", max_iter=3, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    assert est.coefs_[0].dtype == np.float64  # 'auto' fell back to the CPU


@pytest.mark.skipif(not _core.has_cuda, reason="CudaNetwork32 exists in CUDA builds only")
@pytest.mark.parametrize("dropout,match", [([0.2], "one rate per hidden layer"),
                                           ([0.2, 1.0], r"\[0, 1\)")])
def test_cuda_network_checks_dropout_before_the_device(dropout, match):
    with pytest.raises(ValueError, match=match):
        _core.CudaNetwork32([3, 4, 5, 2], "relu", "identity", "squared_error", 8,
                            dropout=dropout)


def test_device_auto_falls_back_to_cpu():
    X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    kw = dict(hidden_layer_sizes=(7,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MLPClassifier(device="auto", solver="lbfgs", **kw).fit(X, y)
        b = MLPClassifier(device="cpu", solver="lbfgs", **kw).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


# --------------------------------------------------------------- kernels (GPU)
def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@needs_gpu
@pytest.mark.parametrize("precision", ["float32", "tf32", "bf16"])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_gemm_matches_cpu(precision, ta, tb, M, N, K):
    rng = np.random.default_rng(M * 1000 + N * 10 + K)
    a = rand(rng, K, M) if ta else rand(rng, M, K)
    b = rand(rng, N, K) if tb else rand(rng, K, N)
    ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    out = np.full((M, N), np.nan, dtype=np.float32)  # beta == 0 must not read C
    _core.cuda_kernels.gemm(a, b, ta, tb, precision, 1.0, 0.0, out)
    # Tensor-core inputs are rounded to 10 (TF32) or 7 (BF16) mantissa bits.
    tol = {"float32": 1e-5, "tf32": 2e-3, "bf16": 1.6e-2}[precision]
    np.testing.assert_allclose(out, ref, rtol=tol * 10, atol=tol * np.sqrt(K) * 3)
    c0 = rand(rng, M, N)
    out = c0.copy()
    _core.cuda_kernels.gemm(a, b, ta, tb, precision, 0.5, 2.0, out)
    np.testing.assert_allclose(out, 0.5 * ref + 2.0 * c0, rtol=tol * 10, atol=tol * np.sqrt(K) * 3)


@needs_gpu
@pytest.mark.parametrize("name", SKLEARN_HIDDEN + ["exp", "softmax"] + NEW_HIDDEN)
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (33, 257)])
def test_bias_activation_forward_matches_cpu(name, shape):
    rng = np.random.default_rng(0)
    a, bias = rand(rng, *shape) * 3, rand(rng, shape[1])
    ref = a + bias
    _core.f32.activation_forward(name, ref)
    _core.cuda_kernels.bias_activation_forward(name, a, bias)
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-6)


@needs_gpu
@pytest.mark.parametrize("name", SKLEARN_HIDDEN + NEW_HIDDEN)
def test_activation_backward_matches_cpu(name):
    rng = np.random.default_rng(1)
    z, d = rand(rng, 37, 19) * 3, rand(rng, 37, 19)
    a = z.copy()
    _core.f32.activation_forward(name, a)
    ref = d.copy()
    _core.f32.activation_backward(name, ref, a, z)  # z: read by gelu and silu only
    _core.cuda_kernels.activation_backward(name, d, a, z)
    # The new activations' derivatives go through exp/tanh/expm1, whose device versions
    # may differ from glibc's by an ulp or two.
    tol = dict(rtol=1e-6, atol=1e-7) if name in SKLEARN_HIDDEN else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d, ref, **tol)


@needs_gpu
@pytest.mark.parametrize("name", ["gelu", "silu"])
def test_activation_backward_needs_the_preactivation(name):
    a = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="pre-activation"):
        _core.cuda_kernels.activation_backward(name, a.copy(), a)


@needs_gpu
@pytest.mark.parametrize("name", ["squared_error", "log_loss", "binary_log_loss", "poisson"]
                         + NEW_LOSSES)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_matches_cpu(name, weighted):
    rng = np.random.default_rng(2)
    n, k = 61, 5
    if name in NEW_LOSSES:
        # Residuals on both sides of huber's delta = 1, and exact zeros (sign 0).
        p = rand(rng, n, k) * 2
        y = rand(rng, n, k) * 2
        y[::7] = p[::7]
    else:
        p = rng.uniform(0.01, 0.99, (n, k)).astype(np.float32)
        y = (rng.uniform(size=(n, k)) < 0.5).astype(np.float32)
    sw = rng.uniform(0.5, 2, n).astype(np.float32) if weighted else None
    ref_loss = _core.f32.loss_forward(name, p, y, sw)
    ref_delta = np.empty_like(p)
    _core.f32.loss_backward(ref_delta, p, y, sw, name)
    delta = np.empty_like(p)
    loss = _core.cuda_kernels.loss_forward_backward(name, delta, p, y, sw)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-9)
    np.testing.assert_allclose(delta, ref_delta, rtol=1e-6)


@needs_gpu
@pytest.mark.parametrize("shape", [(1, 1), (200, 33), (7, 257)])
def test_bias_grad_and_gather(shape):
    rng = np.random.default_rng(3)
    d = rand(rng, *shape)
    np.testing.assert_allclose(_core.cuda_kernels.bias_grad(d), d.astype(np.float64).sum(0),
                               rtol=1e-5, atol=1e-5)
    rows = rng.integers(0, shape[0], size=11).astype(np.int64)
    np.testing.assert_array_equal(_core.cuda_kernels.gather_rows(d, rows), d[rows])


@needs_gpu
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("shuffled", [False, True])
def test_dropout_masks_are_the_cpus(p, shuffled):
    # The same function of (seed, layer, data row, unit) on both sides
    # (nn/dropout_math.h): the device drops exactly the units the CPU drops.
    rng = np.random.default_rng(5)
    a = rand(rng, 37, 19)
    rows = rng.permutation(100_003)[:37].astype(np.int64) if shuffled else None
    y_cpu, mask_cpu = np.empty_like(a), np.empty_like(a)
    y_gpu, mask_gpu = np.full_like(a, np.nan), np.full_like(a, np.nan)
    for layer in (0, 3):
        _core.f32.dropout_forward(y_cpu, mask_cpu, a, rows, p, 12345, layer)
        _core.cuda_kernels.dropout_forward(y_gpu, mask_gpu, a, rows, p, 12345, layer)
        np.testing.assert_array_equal(mask_gpu, mask_cpu)
        np.testing.assert_array_equal(y_gpu, y_cpu)
    assert 0 < (mask_gpu == 0).sum() < mask_gpu.size


@needs_gpu
@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("clip", [False, True])
def test_penalized_update_matches_numpy(solver, clip):
    rng = np.random.default_rng(4)
    n, n_coefs, scale, t = 5003, 4000, 1 / 7.0, 3
    alpha = 0.5 if solver == "adamw" else 1e-3  # a decay large enough to show in w
    w, g = rand(rng, n), rand(rng, n)
    a = rng.uniform(0, 1, n).astype(np.float32)
    b = rng.uniform(0, 1, n).astype(np.float32)
    geff = g.astype(np.float64).copy()
    if solver != "adamw":  # adamw: alpha decays the weights, the gradient has no L2 term
        geff[:n_coefs] += alpha * w[:n_coefs]
    geff *= scale
    # Clipping (to half the norm, so it always clips) scales the whole gradient.
    norm = np.sqrt((geff**2).sum())
    max_grad_norm = 0.5 * norm if clip else 0.0
    if clip:
        geff *= max_grad_norm / norm
    sq_ref = float((w[:n_coefs].astype(np.float64) ** 2).sum())
    w64, a64, b64 = (x.astype(np.float64) for x in (w, a, b))
    lr = 0.1 if solver == "sgd" else 1e-3
    if solver == "sgd":
        a64 = 0.9 * a64 - 0.1 * geff
        w64 = w64 + 0.9 * a64 - 0.1 * geff
    else:
        a64 = 0.9 * a64 + 0.1 * geff
        b64 = 0.999 * b64 + 0.001 * geff**2
        lr_t = lr * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        if solver == "adamw":
            w64[:n_coefs] *= 1 - lr * alpha
        w64 = w64 - lr_t * a64 / (np.sqrt(b64) + 1e-8)
    sq = _core.cuda_kernels.penalized_update(solver, t, w, a, b, g, n_coefs, lr, 0.9, True,
                                             0.9, 0.999, 1e-8, alpha, scale,
                                             max_grad_norm=max_grad_norm)
    np.testing.assert_allclose(sq, sq_ref, rtol=1e-6)
    np.testing.assert_allclose(w, w64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a, a64, rtol=1e-5, atol=1e-6)
    if solver != "sgd":
        np.testing.assert_allclose(b, b64, rtol=1e-5, atol=1e-9)


# --------------------------------------------------------------- fit / predict (GPU)
@needs_gpu
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_classifier_fit_on_device_matches_cpu(solver, shuffle):
    X, y = make_classification(n_samples=301, n_features=13, n_classes=3, n_informative=5,
                               random_state=0)
    X = X.astype(np.float32)
    kw = dict(hidden_layer_sizes=(17, 9), solver=solver, max_iter=5, shuffle=shuffle,
              random_state=0, batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gpu = MLPClassifier(device="cuda", **kw).fit(X, y)
        cpu = MLPClassifier(device="cpu", **kw).fit(X, y)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-4)
    for cg, cc in zip(gpu.coefs_, cpu.coefs_):
        assert isinstance(cg, np.ndarray)
        np.testing.assert_allclose(cg, cc, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), atol=1e-4)
    # A GPU-fitted model pickles and predicts the same on the CPU.
    loaded = pickle.loads(pickle.dumps(gpu))
    loaded.set_params(device="cpu")
    np.testing.assert_allclose(loaded.predict_proba(X), gpu.predict_proba(X), atol=1e-5)


@needs_gpu
@pytest.mark.parametrize("activation", NEW_HIDDEN)
def test_fit_with_new_activations_on_device_matches_cpu(activation):
    # Two hidden layers: gelu and silu backpropagate through a kept pre-activation.
    X, y = make_classification(n_samples=301, n_features=13, n_classes=3, n_informative=5,
                               random_state=0)
    X = X.astype(np.float32)
    kw = dict(hidden_layer_sizes=(17, 9), activation=activation, solver="adam", max_iter=5,
              random_state=0, batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gpu = MLPClassifier(device="cuda", **kw).fit(X, y)
        cpu = MLPClassifier(device="cpu", **kw).fit(X, y)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-4)
    for cg, cc in zip(gpu.coefs_, cpu.coefs_):
        np.testing.assert_allclose(cg, cc, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), atol=1e-4)


@needs_gpu
@pytest.mark.parametrize("loss", ["squared_error", "poisson"] + NEW_LOSSES)
def test_regressor_fit_on_device_matches_cpu(loss):
    X, y = make_regression(n_samples=257, n_features=7, random_state=0)
    X = X.astype(np.float32) / 10
    y = np.abs(y) / 100 if loss == "poisson" else y / 100
    sw = np.random.default_rng(0).uniform(0.5, 2, len(y))
    kw = dict(hidden_layer_sizes=(11,), max_iter=4, random_state=0, loss=loss, batch_size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gpu = MLPRegressor(device="cuda", **kw).fit(X, y, sample_weight=sw)
        cpu = MLPRegressor(device="cpu", **kw).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-3, atol=1e-4)


@needs_gpu
@pytest.mark.parametrize("kw", TRAINING_EXTRAS)
@pytest.mark.parametrize("shuffle", [False, True])
def test_fit_with_training_extras_on_device_matches_cpu(kw, shuffle):
    # Dropout: the device masks are the CPU's for the same seed (data rows are the shuffled
    # order's entries), so the two fits follow the same path up to float32 rounding.
    X, y = make_classification(n_samples=301, n_features=13, n_classes=3, n_informative=5,
                               random_state=0)
    X = X.astype(np.float32)
    params = dict(hidden_layer_sizes=(17, 9), solver="adam", max_iter=5, shuffle=shuffle,
                  random_state=0, batch_size=64)
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gpu = MLPClassifier(device="cuda", **params).fit(X, y)
        cpu = MLPClassifier(device="cpu", **params).fit(X, y)
    assert gpu.n_iter_ == cpu.n_iter_
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-4)
    for cg, cc in zip(gpu.coefs_, cpu.coefs_):
        np.testing.assert_allclose(cg, cc, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), atol=1e-4)
    # The optimizer state mirrored to the host matches too (cosine's step counter included).
    assert gpu._optimizer["step"] == cpu._optimizer["step"]
    assert gpu._optimizer.get("t") == cpu._optimizer.get("t")


@needs_gpu
def test_regressor_with_sample_weight_and_all_extras_on_device_matches_cpu():
    X, y = make_regression(n_samples=257, n_features=7, random_state=0)
    X, y = X.astype(np.float32) / 10, y / 100
    sw = np.random.default_rng(0).uniform(0.5, 2, len(y))
    kw = dict(hidden_layer_sizes=(11, 5), max_iter=4, random_state=0, batch_size=50,
              solver="adamw", alpha=0.05, dropout=[0.3, 0.1], max_grad_norm=0.2,
              learning_rate="cosine", warmup_iters=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gpu = MLPRegressor(device="cuda", **kw).fit(X, y, sample_weight=sw)
        cpu = MLPRegressor(device="cpu", **kw).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-3, atol=1e-4)


@needs_gpu
def test_partial_fit_continues_the_cosine_schedule_on_device():
    X, y = make_classification(n_samples=120, n_features=6, random_state=0)
    X = X.astype(np.float32)
    kw = dict(hidden_layer_sizes=(8,), learning_rate="cosine", warmup_iters=1, max_iter=4,
              random_state=0, batch_size=32, dropout=0.2)
    gpu = MLPClassifier(device="cuda", **kw)
    cpu = MLPClassifier(device="cpu", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            gpu.partial_fit(X, y, classes=[0, 1])
            cpu.partial_fit(X, y, classes=[0, 1])
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), atol=1e-4)


@needs_gpu
def test_float64_input_converts_with_a_warning():
    X, y = make_classification(n_samples=50, n_features=4, random_state=0)
    with pytest.warns(DataConversionWarning, match="float32"):
        est = MLPClassifier(device="cuda", max_iter=2).fit(X, y)
    assert est.coefs_[0].dtype == np.float32


@needs_gpu
def test_lbfgs_on_device_raises():
    X, y = make_classification(n_samples=50, n_features=4, random_state=0)
    with pytest.raises(ValueError, match="sgd"):
        MLPClassifier(device="cuda", solver="lbfgs").fit(X.astype(np.float32), y)


# A child of fork() whose parent used the GPU cannot use CUDA: it must get a clear error
# (device='cuda'), fall back to the CPU (device='auto', and predict of a GPU-fitted model),
# and never hang. Run in a fresh interpreter with a timeout, so a hang fails the test.
_FORK_AFTER_GPU = """
import os, warnings
import numpy as np
warnings.filterwarnings("ignore")
import fastmlp
from fastmlp import MLPClassifier
rng = np.random.RandomState(0)
X = rng.standard_normal((400, 10)).astype(np.float32)
y = (X[:, 0] > 0).astype(int)
gpu = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, device="cuda").fit(X, y)
pid = os.fork()
if pid == 0:
    code = 0
    try:
        MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, device="cuda").fit(X, y)
        code = 2
    except RuntimeError as e:
        code = 0 if "fork" in str(e) else 3
    if code == 0 and fastmlp.cuda_available():
        code = 4
    if code == 0:
        MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, device="auto").fit(X, y)
        gpu.predict(X)  # the CPU predicts a GPU-fitted model here
    os._exit(code)
_, status = os.waitpid(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
print("ok")
"""


@needs_gpu
def test_forked_child_of_a_gpu_parent_gets_a_clear_error():
    import subprocess
    import sys

    try:
        proc = subprocess.run([sys.executable, "-c", _FORK_AFTER_GPU], capture_output=True,
                              text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail("the forked child hung")
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr
