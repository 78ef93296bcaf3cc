"""Layer kernels (activations, losses, optimizer updates) against numpy in float64."""

import numpy as np
import pytest
from scipy.special import expit, xlogy

from fastmlp import _core

SHAPES = [(1, 1), (2, 7), (7, 33), (33, 1), (257, 5)]
KERNELS = {np.float32: _core.f32, np.float64: _core.f64}
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def _rel_err(got, want):
    want = np.asarray(want, dtype=np.float64)
    return np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30)


def _ref_forward(name, z):
    if name == "identity":
        return z
    if name == "logistic":
        return expit(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "exp":
        return np.exp(z)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "gelu":  # tanh approximation
        return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))
    if name == "silu":
        return z * expit(z)
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if name == "softplus":
        return np.logaddexp(0, z)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _ref_derivative(name, a):
    return {
        "identity": np.ones_like(a),
        "logistic": a * (1 - a),
        "tanh": 1 - a**2,
        "relu": (a > 0).astype(a.dtype),
    }[name]


NEW_HIDDEN = ["leaky_relu", "gelu", "silu", "elu", "softplus"]


def _ref_derivative_z(name, z):
    """f'(z) of the activations beyond scikit-learn, from the pre-activation."""
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.01)
    if name == "gelu":
        c, k = np.sqrt(2 / np.pi), 0.044715
        t = np.tanh(c * (z + k * z**3))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t**2) * c * (1 + 3 * k * z**2)
    if name == "silu":
        s = expit(z)
        return s * (1 + z * (1 - s))
    if name == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))
    return expit(z)  # softplus


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["identity", "logistic", "tanh", "relu", "exp", "softmax"] + NEW_HIDDEN)
def test_activation_forward(name, shape, dtype):
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3, size=shape)
    a = z.astype(dtype)
    KERNELS[dtype].activation_forward(name, a)
    assert _rel_err(a, _ref_forward(name, z)) < 10 * RTOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logistic_and_softmax_do_not_overflow(dtype):
    z = np.array([[-1e4, 1e4, 0.0]], dtype=dtype)
    a = z.copy()
    KERNELS[dtype].activation_forward("logistic", a)
    np.testing.assert_allclose(a, [[0.0, 1.0, 0.5]])
    s = z.copy()
    KERNELS[dtype].activation_forward("softmax", s)
    np.testing.assert_allclose(s, [[0.0, 1.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["identity", "logistic", "tanh", "relu"])
def test_activation_backward(name, shape, dtype):
    rng = np.random.default_rng(1)
    a = _ref_forward(name, rng.normal(size=shape))
    g = rng.normal(size=shape)
    delta = g.astype(dtype)
    KERNELS[dtype].activation_backward(name, delta, a.astype(dtype))
    assert _rel_err(delta, g * _ref_derivative(name, a)) < 10 * RTOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NEW_HIDDEN)
def test_new_activation_backward(name, shape, dtype):
    rng = np.random.default_rng(1)
    z = rng.normal(scale=2, size=shape)
    a = _ref_forward(name, z)
    g = rng.normal(size=shape)
    delta = g.astype(dtype)
    KERNELS[dtype].activation_backward(name, delta, a.astype(dtype), z.astype(dtype))
    assert _rel_err(delta, g * _ref_derivative_z(name, z)) < 10 * RTOL[dtype]


def test_gelu_and_silu_backward_need_z():
    with pytest.raises(ValueError, match="needs the pre-activation"):
        _core.f64.activation_backward("gelu", np.zeros((2, 2)), np.zeros((2, 2)))


def _ref_loss(name, p, y, sw):
    eps = np.finfo(p.dtype).eps
    if name == "squared_error":
        per = 0.5 * ((y - p) ** 2).mean(axis=1)
    elif name == "absolute_error":
        per = np.abs(y - p).mean(axis=1)
    elif name == "huber":
        r = np.abs(y - p)
        per = np.where(r <= 1, 0.5 * r**2, r - 0.5).mean(axis=1)
    elif name == "poisson":
        per = (xlogy(y, y / p) - y + p).sum(axis=1)
    elif name == "log_loss":
        per = -xlogy(y, np.clip(p, eps, 1 - eps)).sum(axis=1)
    else:
        q = np.clip(p, eps, 1 - eps)
        per = -(xlogy(y, q) + xlogy(1 - y, 1 - q)).sum(axis=1)
    return per.sum() if sw is None else (per * sw).sum()


def _loss_inputs(name, shape, rng):
    if name in ("squared_error", "absolute_error", "huber"):
        return rng.normal(size=shape), rng.normal(size=shape)
    if name == "poisson":
        return np.exp(rng.normal(size=shape)), rng.poisson(2.0, size=shape).astype(float)
    if name == "log_loss":
        p = _ref_forward("softmax", rng.normal(size=shape))
        y = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
        return p, y
    return expit(rng.normal(size=shape)), rng.integers(0, 2, shape).astype(float)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "name", ["squared_error", "poisson", "log_loss", "binary_log_loss", "absolute_error", "huber"]
)
def test_loss_forward_and_backward(name, shape, dtype, weighted):
    rng = np.random.default_rng(2)
    p, y = _loss_inputs(name, shape, rng)
    sw = rng.uniform(0.1, 2.0, size=shape[0]) if weighted else None
    k = KERNELS[dtype]
    p32, y32 = p.astype(dtype), y.astype(dtype)
    sw32 = None if sw is None else sw.astype(dtype)
    got = k.loss_forward(name, p32, y32, sw32)
    want = _ref_loss(name, p32.astype(np.float64), y, sw32)
    assert abs(got - want) <= 100 * RTOL[dtype] * max(abs(want), 1.0)

    delta = np.full(shape, np.nan, dtype=dtype)
    k.loss_backward(delta, p32, y32, sw32, name)
    r = p32.astype(np.float64) - y32
    if name == "absolute_error":
        r = np.sign(r)
    elif name == "huber":
        r = np.clip(r, -1, 1)
    want_delta = r * (1.0 if sw is None else sw[:, None])
    assert _rel_err(delta, want_delta) < 10 * RTOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 33, 257, 40000])
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_update_matches_sklearn_formula(n, dtype, nesterov):
    rng = np.random.default_rng(3)
    w, v, g = (rng.normal(size=n) for _ in range(3))
    lr, mu = 0.05, 0.9
    v_new = mu * v - lr * g
    w_new = w + (mu * v_new - lr * g if nesterov else v_new)
    w_t, v_t = w.astype(dtype), v.astype(dtype)
    KERNELS[dtype].sgd_update(w_t, v_t, g.astype(dtype), lr, mu, nesterov)
    assert _rel_err(v_t, v_new) < 10 * RTOL[dtype]
    assert _rel_err(w_t, w_new) < 10 * RTOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 33, 257, 40000])
def test_adam_update_matches_sklearn_formula(n, dtype):
    rng = np.random.default_rng(4)
    w, m, g = (rng.normal(size=n) for _ in range(3))
    v = rng.uniform(size=n)
    t, lr, b1, b2, eps = 3, 1e-3, 0.9, 0.999, 1e-8
    m_new = b1 * m + (1 - b1) * g
    v_new = b2 * v + (1 - b2) * g**2
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    w_new = w - lr_t * m_new / (np.sqrt(v_new) + eps)
    w_t, m_t, v_t = (a.astype(dtype) for a in (w, m, v))
    KERNELS[dtype].adam_update(w_t, m_t, v_t, g.astype(dtype), t, lr, b1, b2, eps)
    assert _rel_err(m_t, m_new) < 10 * RTOL[dtype]
    assert _rel_err(v_t, v_new) < 10 * RTOL[dtype]
    assert _rel_err(w_t, w_new) < 10 * RTOL[dtype]


def test_kernels_refuse_bad_arrays():
    with pytest.raises(ValueError, match="C-contiguous float64"):
        _core.f64.activation_forward("relu", np.zeros((3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="unknown activation"):
        _core.f64.activation_forward("swish", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="writeable"):
        a = np.zeros((3, 3))
        a.flags.writeable = False
        _core.f64.activation_forward("relu", a)
    with pytest.raises(ValueError, match="same shape"):
        _core.f64.loss_backward(np.zeros((2, 2)), np.zeros((2, 3)), np.zeros((2, 3)), None)


# The exp-based activations run on nn/exp_math.h's exp/expm1/tanh (vectorized, not libm):
# element by element, relative to each value, over the whole range and at the edges.
ELEMENT_RTOL = {np.float32: 2e-6, np.float64: 1e-14}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["logistic", "tanh", "exp", "elu", "silu", "gelu", "softplus"])
def test_exp_based_activations_elementwise(name, dtype):
    rng = np.random.default_rng(11)
    limit = 80 if dtype == np.float32 else 700
    z = np.concatenate([
        rng.uniform(-limit, limit, 4000), rng.standard_normal(4000), 1e-3 * rng.standard_normal(500),
        [0.0, -0.0, 1e-30, -1e-30, 0.3465, -0.3465, 0.35, 20.0, -20.0, 40.0, -40.0],
    ]).astype(dtype)
    if name == "exp":
        z = z[z < (80 if dtype == np.float32 else 700)]
    a = z.reshape(1, -1).copy()
    KERNELS[dtype].activation_forward(name, a)
    want = _ref_forward(name, z.astype(np.float64))
    # gelu's 0.5 z (1 + tanh(u)) cancels for negative z in any implementation: its error
    # is relative to |z| there, not to the (tiny) value.
    scale = np.abs(want) + (np.abs(z) if name == "gelu" else 0.0)
    err = np.abs(a[0] - want) / np.maximum(scale, np.finfo(dtype).tiny)
    assert np.max(err) <= ELEMENT_RTOL[dtype] * (8 if name in ("gelu", "softplus") else 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_based_activations_at_special_values(dtype):
    z = np.array([[-np.inf, np.inf, np.nan, -1e6, 1e6]], dtype=dtype)
    for name, want in [("tanh", [-1, 1, np.nan, -1, 1]), ("logistic", [0, 1, np.nan, 0, 1]),
                       ("exp", [0, np.inf, np.nan, 0, np.inf]),
                       ("elu", [-1, np.inf, np.nan, -1, 1e6])]:
        a = z.copy()
        KERNELS[dtype].activation_forward(name, a)
        np.testing.assert_array_equal(a[0], np.array(want, dtype=dtype), err_msg=name)
