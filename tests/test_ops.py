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


LOSSES = ["squared_error", "poisson", "log_loss", "binary_log_loss", "absolute_error", "huber"]


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
@pytest.mark.parametrize("name", LOSSES)
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


# The log loss packs each block's nonzero targets and takes their terms 8 at a time
# (losses.cpp); rows of several nonzero targets, of none, wider than a block (their sums
# carried from block to block), and each row's sum in output order, against a float64
# reference row by row.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (257, 10), (1100, 1), (5, 1025), (3, 1500)])
@pytest.mark.parametrize("targets", ["one_hot", "soft", "sparse"])
def test_log_loss_terms_of_nonzero_targets(shape, targets, dtype):
    rng = np.random.default_rng(5)
    p = _ref_forward("softmax", rng.normal(size=shape)) if shape[1] > 1 else rng.uniform(0, 1, shape)
    if targets == "one_hot":
        y = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
    elif targets == "soft":
        y = rng.dirichlet(np.ones(shape[1]), size=shape[0])
    else:  # some rows without any target, others with a few
        y = (rng.uniform(size=shape) < 0.2) * rng.uniform(0.5, 2.0, size=shape)
    sw = rng.uniform(0.1, 2.0, size=shape[0])
    p32, y32, sw32 = p.astype(dtype), y.astype(dtype), sw.astype(dtype)
    eps = np.finfo(dtype).eps
    q = np.clip(p32.astype(np.float64), eps, 1 - eps)
    per = -xlogy(y32.astype(np.float64), q).sum(axis=1)
    for weights, want in [(None, per.sum()), (sw32, (per * sw32).sum())]:
        got = KERNELS[dtype].loss_forward("log_loss", p32, y32, weights)
        assert abs(got - want) <= 1e-13 * max(abs(want), 1.0)


def test_log_loss_of_no_outputs_or_rows():
    for shape in [(3, 0), (2000, 0), (0, 4)]:
        assert _core.f64.loss_forward("log_loss", np.zeros(shape), np.zeros(shape), None) == 0.0


# Every loss runs its terms 8 at a time over blocks of 1,024 elements: whole rows, or
# pieces of rows wider than a block, whose sums carry over to the next block.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", LOSSES)
def test_loss_forward_blocks_and_wide_rows(name, dtype):
    rng = np.random.default_rng(7)
    for shape in [(1500, 1), (300, 7), (2, 1024), (2, 1025), (3, 2100)]:
        p, y = _loss_inputs(name, shape, rng)
        p32, y32 = p.astype(dtype), y.astype(dtype)
        got = KERNELS[dtype].loss_forward(name, p32, y32, None)
        p64 = p32.astype(np.float64)
        if name in ("log_loss", "binary_log_loss"):  # clipped with the array's eps
            p64 = np.clip(p64, np.finfo(dtype).eps, 1 - np.finfo(dtype).eps)
        want = _ref_loss(name, p64, y32.astype(np.float64), None)
        assert abs(got - want) <= 1e-12 * max(abs(want), 1.0), shape


# A row's terms are added in output order however the blocks cut it: the loss of all rows
# is, bit for bit, the sum in row order of each row's loss taken alone (whose blocks start
# at the row's first output, where in the whole array rows start anywhere in a block).
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", LOSSES)
def test_loss_forward_row_sums_across_blocks(name, dtype):
    rng = np.random.default_rng(8)
    for shape in [(4, 1023), (3, 1025), (3, 2100), (2, 3000), (300, 7)]:
        p, y = _loss_inputs(name, shape, rng)
        if name == "log_loss":  # a few targets per row, some near the ends of blocks
            y = (rng.uniform(size=shape) < 0.01) * rng.uniform(0.5, 2.0, size=shape)
            y[:, [0, min(1023, shape[1] - 1), -1]] = 1.0
        sw = rng.uniform(0.1, 2.0, size=shape[0])
        p, y, sw = p.astype(dtype), y.astype(dtype), sw.astype(dtype)
        kernel = KERNELS[dtype].loss_forward
        rows = [kernel(name, p[i : i + 1], y[i : i + 1], None) for i in range(shape[0])]
        for weights, terms in [(None, rows), (sw, [float(w) * r for w, r in zip(sw, rows)])]:
            want = 0.0
            for t in terms:
                want += t
            assert kernel(name, p, y, weights) == want, shape


# A NaN probability makes the loss NaN, as scikit-learn's np.clip and scipy's xlogy make it
# (xlogy(0, NaN) is NaN: a zero target's NaN probability counts too), and a fit without
# early stopping then stops at that epoch with scikit-learn's error.
@pytest.mark.parametrize("out", [3, 1500])
def test_nan_probabilities_give_nan_losses(out):
    from sklearn.neural_network._base import LOSS_FUNCTIONS

    rng = np.random.default_rng(9)
    p = _ref_forward("softmax", rng.normal(size=(4, out)))
    y = np.eye(out)[[0, 1, 2, 0]]
    cases = {"target's": (1, 1), "zero target's": (2, 0), "none": None}
    for where, at in cases.items():
        q = p.copy()
        if at:
            q[at] = np.nan
        for name, yy, qq in [("log_loss", y, q), ("binary_log_loss", y, q),
                             ("poisson", y, q), ("poisson", np.zeros_like(y), q * (q < 0))]:
            with np.errstate(all="ignore"):  # scikit-learn's log of NaN, 0 / 0
                want = LOSS_FUNCTIONS[name](yy, qq)
            got = _core.f64.loss_forward(name, qq, yy, None) / len(yy)
            assert np.isnan(got) == np.isnan(want), (name, where)


def _ulps(got, x):
    """|got - log(x)| in float64 ulps of the exact log (numpy's long double log as the
    reference: 64 significant bits on x86-64)."""
    exact = np.log(x.astype(np.longdouble))
    near = exact.astype(np.float64)
    ulp = np.spacing(np.abs(near))
    return np.abs(got.astype(np.longdouble) - exact) / ulp.astype(np.longdouble)


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 60, reason="needs an 80-bit long double")
def test_log_within_one_ulp():
    rng = np.random.default_rng(6)
    tiny = np.finfo(np.float64).smallest_subnormal
    powers = np.ldexp(1.0, np.arange(-1074, 1024))
    x = np.concatenate([
        np.exp2(rng.uniform(-1074, 1024, 200000)),  # every binade, subnormals included
        rng.uniform(0.5, 2.0, 200000),  # both of fdlibm's forms, m either side of sqrt(2)
        1.0 + rng.uniform(-1e-6, 1e-6, 50000),  # near 1, where log is nearly x - 1
        powers, np.nextafter(powers, 0), np.nextafter(powers, np.inf),
        [tiny, 2 * tiny, np.finfo(np.float64).tiny, np.finfo(np.float64).max, 1.0],
    ])
    x = x[x > 0]  # the step below the smallest subnormal is 0
    got = _core.log(x)
    away = x != 1.0  # log(1) = 0, whose ulp is the smallest subnormal
    assert np.max(_ulps(got[away], x[away])) < 1.0
    assert np.all(got[~away] == 0.0)


def test_log_at_special_values():
    x = np.array([0.0, -0.0, -1.0, -np.inf, np.inf, np.nan])
    got = _core.log(x)
    np.testing.assert_array_equal(got[:2], [-np.inf, -np.inf])
    assert np.isnan(got[2]) and np.isnan(got[3]) and np.isnan(got[5])
    assert got[4] == np.inf
    with pytest.raises(ValueError, match="float64"):
        _core.log(np.ones(3, dtype=np.float32))


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


def _penalized_step_ref(solver, t, w, a, b, g, more, n_coefs, lr, beta_1, beta_2, eps, alpha,
                        scale):
    """The fused Adam(W) step in the C++ loop's order of IEEE operations, in w's dtype."""
    T = w.dtype.type
    g = g + more if more is not None else g.copy()
    penalty = 0.0 if solver == "adamw" else alpha
    g[:n_coefs] = (g[:n_coefs] + T(penalty) * w[:n_coefs]) * T(scale)
    g[n_coefs:] = g[n_coefs:] * T(scale)
    m = T(beta_1) * a + T(1.0 - beta_1) * g
    v = T(beta_2) * b + T(1.0 - beta_2) * g * g
    step = T(lr * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t))
    w = w.copy()
    if solver == "adamw":
        w[:n_coefs] = w[:n_coefs] * T(1.0 - lr * alpha)
    return w - step * m / (np.sqrt(v) + T(eps)), m, v


def _assert_same_values(got, want):
    """Equal, NaN where NaN, and zeros of the same sign."""
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got[got == 0]), np.signbit(want[want == 0]))


def _step_inputs(rng, n, dtype):
    """Weights, optimizer state and two gradients with every kind of value an Adam step
    can meet: ordinary, zero (a dead unit: g = m = v = 0), tiny, huge, inf and NaN."""
    a, g, more = (rng.normal(size=n).astype(dtype) for _ in range(3))
    # Weights from 1 down to 1e-12, so that w - step shows the step's last bits.
    w = (rng.normal(size=n) * 10.0 ** rng.uniform(-12, 0, size=n)).astype(dtype)
    b = rng.uniform(size=n).astype(dtype)
    info = np.finfo(dtype)
    kinds = rng.integers(0, 12, size=n)
    zero_g = (kinds <= 3) | (kinds == 8)
    g[zero_g] = more[zero_g] = w[zero_g] = 0  # g = 0, so v and m only decay
    a[kinds == 0] = b[kinds == 0] = 0  # a dead unit: g = m = v = 0
    w[kinds == 1] = -0.0
    b[kinds == 2] = info.tiny / 3  # v below the normal numbers
    a[kinds == 3] = info.tiny / 3  # a numerator below them (over d = eps: a normal step)
    b[kinds == 3] = 0
    g[kinds == 4] = np.sqrt(info.max) * 2  # g*g overflows: v = inf
    a[kinds == 5] = info.max / 4  # a huge numerator
    g[kinds == 6] = np.nan
    g[kinds == 7] = more[kinds == 7] = a[kinds == 7] = w[kinds == 7] = -0.0  # m = -0
    b[kinds == 8] = 0  # v = 0 under an ordinary m: d = eps
    return w, a, b, g, more


# Bit for bit: the AVX-512 step (nn/adam_avx512.cpp) refines approximate square roots and
# reciprocals, and must round as IEEE sqrt and division do; CPUs without AVX-512 run the
# plain loop, which must too.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 33, 257, 5003])
@pytest.mark.parametrize("solver", ["adam", "adamw"])
@pytest.mark.parametrize("merge", [False, True])
@pytest.mark.parametrize("small_eps", [False, True])
def test_penalized_adam_step_bit_for_bit(dtype, n, solver, merge, small_eps):
    rng = np.random.default_rng(n)
    w, a, b, g, more = _step_inputs(rng, n, dtype)
    more = more if merge else None
    n_coefs, t, lr, alpha, scale = (4 * n) // 5, 3, 1e-3, 1e-3, 1 / 7.0
    # A small eps no longer hides sqrt(v)'s last bits in d = sqrt(v) + eps.
    eps = (1e-80 if dtype == np.float64 else 1e-10) if small_eps else 1e-8
    want = _penalized_step_ref(solver, t, w, a, b, g, more, n_coefs, lr, 0.9, 0.999, eps,
                               alpha, scale)
    with np.errstate(all="ignore"):
        sq = KERNELS[dtype].penalized_update(solver, t, w, a, b, g, more, n_coefs, lr, 0.0,
                                             False, 0.9, 0.999, eps, alpha, scale)
    for got, ref in zip((w, a, b), want):
        _assert_same_values(got, ref)
    assert np.isfinite(sq) or not np.isfinite(want[0][:n_coefs]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_step_all_ones_divisor(dtype):
    # d = sqrt(v) + eps with an all-ones significand over a power-of-two numerator: the one
    # case where a Newton-refined reciprocal's correction rounds the wrong way (Markstein).
    T = dtype
    mant = 52 if dtype == np.float64 else 23
    eps = 2.0**-20
    d = T((2.0 - 2.0**-mant) * 2.0**-5)
    s = T(d - T(eps))
    assert T(np.sqrt(s * s)) == s and s + T(eps) == d
    # beta_1 = beta_2 = 0: m = v/g = g, step = lr; lr so that lr*g is a power of two.
    lr = float(T(2.0**-12) / s)
    while T(lr) * s != T(2.0**-12):
        lr = float(np.nextafter(T(lr), T(1 if T(lr) * s < T(2.0**-12) else 0)))
    n = 32
    w, a, b = np.zeros(n, T), np.zeros(n, T), np.zeros(n, T)  # w - step = -step exactly
    g = np.full(n, s, T)
    g[::5] = T(0.375)  # other lanes in the same vectors
    want = _penalized_step_ref("adam", 1, w, a, b, g, None, 0, lr, 0.0, 0.0, eps, 0.0, 1.0)
    KERNELS[dtype].penalized_update("adam", 1, w, a, b, g, None, 0, lr, 0.0, False, 0.0, 0.0,
                                    eps, 0.0, 1.0)
    _assert_same_values(w, want[0])


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


# --------------------------------------------------------------- the epochs' shuffle
def _mt_state(rng):
    state = rng.get_state()
    mt = np.empty(625, dtype=np.uint32)
    mt[:624], mt[624] = state[1], state[2]
    return mt


@pytest.mark.parametrize("n", [1, 2, 7, 33, 257, 1797, 5003])
@pytest.mark.parametrize("drawn", [0, 1, 620, 622, 623, 624, 1000])
def test_legacy_shuffle_is_numpys_draw_for_draw(n, drawn):
    # `drawn` values first put the generator's position anywhere in its block, the last
    # few included (where the shuffle cannot look three draws ahead).
    rng = np.random.RandomState(n + drawn)
    rng.randint(2**32, size=drawn, dtype=np.uint64)
    mt = _mt_state(rng)
    ours, ref = np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)
    for _ in range(3):  # each epoch shuffles the last order again
        _core.legacy_shuffle(ours, mt)
        rng.shuffle(ref)
        np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(mt, _mt_state(rng))


def test_legacy_shuffle_checks_its_arguments():
    mt = _mt_state(np.random.RandomState(0))
    order = np.arange(10, dtype=np.int64)
    with pytest.raises(ValueError, match="int64"):
        _core.legacy_shuffle(order.astype(np.int32), mt)
    with pytest.raises(ValueError, match="uint32"):
        _core.legacy_shuffle(order, mt.astype(np.int64))
    with pytest.raises(ValueError, match="state has 624 elements"):
        _core.legacy_shuffle(order, mt[:624].copy())
    bad = mt.copy()
    bad[624] = 625
    with pytest.raises(ValueError, match="position"):
        _core.legacy_shuffle(order, bad)
    order.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _core.legacy_shuffle(order, mt)
