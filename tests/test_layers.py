"""The layer engine's layers one by one: numpy oracles of the forward pass, float64
finite differences of the parameter and input gradients, the flat layout, and fits that
are bitwise the same on 1 and 2 threads. Convolution, pooling and normalisation layers
have their own files (test_layers_conv.py, ...) built on the same checks. Every kind is
made by name through csrc/layers/registry.cpp."""

import numpy as np
import pytest

from _layer_checks import (
    check_input_gradient,
    check_parameter_gradient,
    network,
    random_params,
)
from fastmlp import _core
from fastmlp.layers import Activation, Dense, Dropout, Flatten

HIDDEN = ["identity", "logistic", "tanh", "relu", "leaky_relu", "gelu", "silu", "elu",
          "softplus", "softmax", "exp"]


def _numpy_activation(name, z):
    if name == "identity":
        return z
    if name == "logistic":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z < 0, 0.01 * z, z)
    if name == "gelu":
        return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))
    if name == "silu":
        return z / (1 + np.exp(-z))
    if name == "elu":
        return np.where(z > 0, z, np.expm1(z))
    if name == "softplus":
        return np.logaddexp(0, z)
    if name == "exp":
        return np.exp(z)
    assert name == "softmax"
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("activation", HIDDEN)
@pytest.mark.parametrize("input_shape", [(5,), (3, 4)])
def test_dense_forward_matches_numpy(activation, input_shape):
    rng = np.random.default_rng(0)
    layer = Dense(7, activation=activation)
    net = network([layer], input_shape, output="identity", loss="squared_error")
    assert net.output_shape == input_shape[:-1] + (7,)
    params = random_params(net, rng)
    info = net.layout()[0]["params"]
    W = params[info[0]["offset"] : info[0]["offset"] + input_shape[-1] * 7].reshape(-1, 7)
    b = params[info[1]["offset"] : info[1]["offset"] + 7]
    x = rng.normal(size=(9,) + input_shape)
    got = net.forward(params, x.reshape(9, -1)).reshape((9,) + input_shape[:-1] + (7,))
    np.testing.assert_allclose(got, _numpy_activation(activation, x @ W + b), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("activation", HIDDEN)
def test_dense_gradients(activation):
    layers = [Dense(4, activation=activation), Dense(3, activation="tanh")]
    check_parameter_gradient(layers, (2, 5))
    check_input_gradient(layers, (2, 5))


def test_dense_without_bias_has_only_a_kernel():
    net = check_parameter_gradient([Dense(4, use_bias=False)], (6,))[0]
    assert [p["name"] for p in net.layout()[0]["params"]] == ["kernel"]
    assert net.n_params == net.n_decayed == 24


@pytest.mark.parametrize("activation", HIDDEN)
def test_activation_layer_gradients_and_forward(activation):
    layers = [Dense(6), Activation(activation), Dense(3)]
    check_parameter_gradient(layers, (4,))
    check_input_gradient([Activation(activation)], (2, 3))
    rng = np.random.default_rng(3)
    net = network([Activation(activation)], (2, 3), output="identity", loss="squared_error")
    x = rng.normal(size=(4, 2, 3))
    np.testing.assert_allclose(net.forward(np.zeros(0), x.reshape(4, -1)).reshape(x.shape),
                               _numpy_activation(activation, x), rtol=1e-12, atol=1e-14)


def test_flatten_gradients_and_shape():
    net = check_input_gradient([Flatten(), Dense(3)], (2, 3, 2))
    assert net.layout()[0]["output_shape"] == (12,)
    check_parameter_gradient([Dense(2), Flatten(), Dense(3)], (3, 4))


def test_dropout_gradient_with_fixed_masks_and_keep_rate():
    layers = [Dense(8), Dropout(0.4), Dense(3)]
    check_parameter_gradient(layers, (5,), n=9, dropout_seed=2024)
    check_input_gradient(layers, (5,), training=True)
    net = network([Dropout(0.25)], (1000,), output="identity", loss="squared_error")
    y = net.forward(np.zeros(0), np.ones((3, 1000)), training=True, seed=5)
    assert set(np.unique(y)) <= {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.03
    # Inference passes keep every unit.
    np.testing.assert_array_equal(net.forward(np.zeros(0), np.ones((3, 1000))), 1.0)
    # A unit's mask depends on its data row, not on the pass's position in the batch.
    whole = net.forward(np.zeros(0), np.ones((3, 1000)), training=True, seed=5)
    row2 = net.forward(np.zeros(0), np.ones((1, 1000)), training=True, seed=5, first=2)
    np.testing.assert_array_equal(whole[2], row2[0])


def test_dense_stack_is_the_mlp_bit_for_bit():
    # The engine's layout of Dense layers is scikit-learn's packing, and its products
    # are the MLP's: the same loss and gradient, bit for bit.
    rng = np.random.default_rng(0)
    sizes = [5, 7, 4, 3]
    mlp = _core.Network64(sizes, "tanh", "softmax", "log_loss", 4)
    seq = network([Dense(7, activation="tanh"), Dense(4, activation="tanh"), Dense(3)], (5,),
                  chunk_rows=4, output="softmax", loss="log_loss")
    assert (seq.n_params, seq.n_decayed) == (mlp.n_params, 5 * 7 + 7 * 4 + 4 * 3)
    X = rng.normal(size=(9, 5))
    Y = np.eye(3)[rng.integers(0, 3, 9)]
    p = rng.normal(size=mlp.n_params)
    g1, g2 = np.empty_like(p), np.empty_like(p)
    assert mlp.loss_grad(p, g1, X, Y, None, 0.3) == seq.loss_grad(p, g2, X, Y, None, 0.3)
    np.testing.assert_array_equal(g1, g2)


def test_layout_puts_every_decayed_slot_first():
    net = network([Dense(3), Dense(2), Dense(4, use_bias=False)], (5,))
    slots = [(i, p["name"], p["offset"], p["decayed"])
             for i, info in enumerate(net.layout()) for p in info["params"]]
    assert slots == [(0, "kernel", 0, True), (0, "bias", 29, False),
                     (1, "kernel", 15, True), (1, "bias", 32, False),
                     (2, "kernel", 21, True)]
    assert net.n_decayed == 29 and net.n_params == 34


def test_engine_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"layer 1 \(Dense\): units must be > 0"):
        network([Dense(3), {"kind": "Dense", "args": {"units": 0}}], (4,))
    with pytest.raises(ValueError, match=r"layer 0 \(Dense\): unknown argument 'unit'"):
        network([{"kind": "Dense", "args": {"unit": 3}}], (4,))
    with pytest.raises(ValueError, match=r"layer 0 \(Conv9D\): unknown layer kind"):
        network([{"kind": "Conv9D"}], (4,))
    with pytest.raises(ValueError, match="argument 'units' must be an integer"):
        network([{"kind": "Dense", "args": {"units": "3"}}], (4,))
    with pytest.raises(ValueError, match="empty axis"):
        network([Dense(3)], (0,))


def test_float32_engine_matches_float64():
    rng = np.random.default_rng(1)
    layers = [Dense(6, activation="relu"), Dropout(0.3), Dense(3)]
    n64 = network(layers, (5,))
    n32 = network(layers, (5,), dtype=np.float32)
    p = random_params(n64, rng)
    X = rng.normal(size=(8, 5))
    Y = rng.uniform(0.1, 0.9, (8, 3))
    g64, g32 = np.empty(n64.n_params), np.empty(n64.n_params, dtype=np.float32)
    l64 = n64.loss_grad(p, g64, X, Y, None, 0.1, dropout_seed=3)
    l32 = n32.loss_grad(p.astype(np.float32), g32, X.astype(np.float32),
                        Y.astype(np.float32), None, 0.1, dropout_seed=3)
    assert abs(l32 - l64) < 1e-5 * max(1, abs(l64))
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)
