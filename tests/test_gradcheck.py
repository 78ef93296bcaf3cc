"""Finite-difference checks of the whole network's loss gradient (float64), for every
hidden activation x output loss, dense and sparse input, with and without sample weights,
and with dropout under a fixed mask (a fixed seed); and the float32 network against the
float64 one."""

import numpy as np
import pytest

from _network_problem import network_inputs

from fastmlp import _core

OUTPUTS = [  # (output activation, loss, target maker)
    ("identity", "squared_error", lambda r, n, k: r.normal(size=(n, k))),
    ("exp", "poisson", lambda r, n, k: r.poisson(1.5, size=(n, k)).astype(float)),
    ("softmax", "log_loss", lambda r, n, k: np.eye(k)[r.integers(0, k, n)]),
    ("logistic", "binary_log_loss", lambda r, n, k: r.integers(0, 2, (n, k)).astype(float)),
    ("identity", "absolute_error", lambda r, n, k: r.normal(size=(n, k))),
    ("identity", "huber", lambda r, n, k: r.normal(scale=2.0, size=(n, k))),
]
HIDDEN = ["identity", "logistic", "tanh", "relu", "leaky_relu", "gelu", "silu", "elu", "softplus"]


def _problem(hidden_act, out_act, make_y, sparse, weighted, seed=0):
    rng = np.random.default_rng(seed)
    n, sizes = 9, [5, 7, 4, 3]
    Xc, Y, sw = network_inputs(rng, n, sizes, make_y, sparse, weighted)
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    params = rng.normal(scale=0.5, size=n_params)
    return sizes, Xc, Y, sw, params


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("out_act,loss,make_y", OUTPUTS)
@pytest.mark.parametrize("hidden_act", HIDDEN)
def test_gradient_matches_finite_differences(hidden_act, out_act, loss, make_y, sparse, weighted):
    sizes, Xc, Y, sw, params = _problem(hidden_act, out_act, make_y, sparse, weighted)
    alpha = 0.3
    net = _core.Network64(sizes, hidden_act, out_act, loss, 4)  # chunks of 4 rows: 3 chunks
    grad = np.empty_like(params)
    net.loss_grad(params, grad, Xc, Y, sw, alpha)
    eps = 1e-6
    numeric = np.empty_like(params)
    scratch = np.empty_like(params)
    for i in range(params.size):
        p = params.copy()
        p[i] += eps
        up = net.loss_grad(p, scratch, Xc, Y, sw, alpha)
        p[i] -= 2 * eps
        down = net.loss_grad(p, scratch, Xc, Y, sw, alpha)
        numeric[i] = (up - down) / (2 * eps)
    if loss in ("squared_error", "absolute_error", "huber"):
        # scikit-learn's quirk: the gradient is that of the sum over outputs while the
        # reported loss is the mean over outputs; the data term differs by n_outputs.
        n_out = sizes[-1]
        l2 = alpha * np.concatenate(
            [params[: sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))],
             np.zeros(sum(sizes[1:]))]
        ) / (len(Y) if sw is None else sw.sum())
        numeric = (numeric - l2) * n_out + l2
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("hidden_act", HIDDEN)
def test_gradient_with_fixed_dropout_mask_matches_finite_differences(hidden_act, sparse):
    # A seed fixes the masks (a function of seed, layer, data row and unit), so the
    # dropped network is a smooth function of the parameters; chunks of 4 rows must see
    # the same masks as the whole batch would.
    out_act, loss, make_y = OUTPUTS[2]  # softmax + log_loss
    sizes, Xc, Y, sw, params = _problem(hidden_act, out_act, make_y, sparse, True, seed=2)
    alpha, seed = 0.2, 2024
    net = _core.Network64(sizes, hidden_act, out_act, loss, 4, dropout=[0.3, 0.5])
    grad = np.empty_like(params)
    dropped = net.loss_grad(params, grad, Xc, Y, sw, alpha, dropout_seed=seed)
    scratch = np.empty_like(params)
    assert dropped != net.loss_grad(params, scratch, Xc, Y, sw, alpha)  # masks did drop
    eps = 1e-6
    numeric = np.empty_like(params)
    for i in range(params.size):
        p = params.copy()
        p[i] += eps
        up = net.loss_grad(p, scratch, Xc, Y, sw, alpha, dropout_seed=seed)
        p[i] -= 2 * eps
        down = net.loss_grad(p, scratch, Xc, Y, sw, alpha, dropout_seed=seed)
        numeric[i] = (up - down) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
    whole = _core.Network64(sizes, hidden_act, out_act, loss, 64, dropout=[0.3, 0.5])
    g_whole = np.empty_like(params)
    assert whole.loss_grad(params, g_whole, Xc, Y, sw, alpha, dropout_seed=seed) == (
        pytest.approx(dropped, rel=1e-12))
    np.testing.assert_allclose(g_whole, grad, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("out_act,loss,make_y", OUTPUTS)
def test_float32_network_matches_float64(out_act, loss, make_y):
    sizes, Xc, Y, sw, params = _problem("tanh", out_act, make_y, False, True, seed=1)
    g64 = np.empty_like(params)
    l64 = _core.Network64(sizes, "tanh", out_act, loss, 16).loss_grad(params, g64, Xc, Y, sw, 0.1)
    f = np.float32
    g32 = np.empty(params.size, dtype=f)
    l32 = _core.Network32(sizes, "tanh", out_act, loss, 16).loss_grad(
        params.astype(f), g32, Xc.astype(f), Y.astype(f), sw.astype(f), 0.1
    )
    assert abs(l32 - l64) <= 1e-5 * max(1.0, abs(l64))
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)


def test_network_refuses_inconsistent_arguments():
    net = _core.Network64([3, 4, 2], "relu", "identity", "squared_error", 8)
    params = np.zeros(net.n_params)
    grad = np.zeros(net.n_params)
    X, Y = np.zeros((5, 3)), np.zeros((5, 2))
    with pytest.raises(ValueError, match="features"):
        net.loss_grad(params, grad, np.zeros((5, 4)), Y, None, 0.0)
    with pytest.raises(ValueError, match="params has"):
        net.loss_grad(params[:-1], grad, X, Y, None, 0.0)
    with pytest.raises(ValueError, match="Y has"):
        net.loss_grad(params, grad, X, np.zeros((4, 2)), None, 0.0)
    with pytest.raises(ValueError, match="sample_weight has"):
        net.loss_grad(params, grad, X, Y, np.ones(4), 0.0)
    with pytest.raises(ValueError, match="X.indices out of range"):
        bad = (np.ones(1), np.array([7], dtype=np.int64), np.array([0, 1, 1, 1, 1, 1], dtype=np.int64), 3)
        net.loss_grad(params, grad, bad, Y, None, 0.0)
    with pytest.raises(ValueError, match="order holds a row out of range"):
        net.train_epoch(params, np.zeros_like(params), np.zeros_like(params), 0, "adam", 1e-3,
                        0.9, True, 0.9, 0.999, 1e-8, X, Y, None,
                        np.array([0, 1, 2, 3, 9], dtype=np.int64), 2, 0.0)
    with pytest.raises(ValueError, match="layer sizes must be > 0"):
        _core.Network64([3, 0, 2], "relu", "identity", "squared_error", 8)
    with pytest.raises(ValueError, match="output activations only"):
        _core.Network64([3, 2], "softmax", "identity", "squared_error", 8)
