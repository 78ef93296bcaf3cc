"""The generative models' layer kinds: Sampling (a VAE's reparameterisation and KL term),
UpSampling1D/2D and Reshape (the mirrored decoder): numpy oracles, float64 finite
differences, the noise's independence of batches and threads."""

import numpy as np
import pytest
from _layer_checks import check_input_gradient, check_parameter_gradient, network, random_params
from threadpoolctl import threadpool_limits

from fastmlp import _core
from fastmlp.layers import Conv2D, Dense, Reshape, Sampling, UpSampling1D, UpSampling2D


# ------------------------------------------------------------------ Sampling
def test_sampling_inference_outputs_the_mean_and_training_draws_normals():
    net = network([Sampling()], (2 * 3,), chunk_rows=4096, output="identity",
                  loss="squared_error")
    rng = np.random.default_rng(0)
    n = 4000
    mu = rng.normal(size=(n, 3))
    log_var = rng.normal(size=(n, 3))
    x = np.hstack([mu, log_var])
    params = np.empty(0)
    np.testing.assert_array_equal(net.forward(params, x, training=False), mu)
    z = net.forward(params, x, training=True, seed=5)
    eps = (z - mu) / np.exp(0.5 * log_var)
    assert abs(eps.mean()) < 0.05 and abs(eps.std() - 1) < 0.05
    assert abs(np.corrcoef(eps[:, 0], eps[:, 1])[0, 1]) < 0.05
    # The noise of a sample depends on its data row only: a pass over rows 100.. gives
    # those rows' noise.
    z_tail = net.forward(params, np.ascontiguousarray(x[100:]), training=True, seed=5,
                         first=100)
    np.testing.assert_array_equal(z_tail, z[100:])
    assert not np.array_equal(net.forward(params, x, training=True, seed=6), z)


def test_sampling_gradient_with_its_kl_term_and_fixed_noise():
    # Dense -> Sampling -> Dense, binary log loss: loss and gradient both carry the KL term.
    layers = [Dense(6, activation="tanh"), Sampling(kl_weight=0.7), Dense(3)]
    for training in (True, False):
        check_parameter_gradient(layers, (4,), n=5, dropout_seed=11, training=training)


def test_sampling_kl_term_is_in_the_loss():
    # Inference pass (z = mu) and zero weights after the Sampling layer: the loss is the
    # data term of a constant prediction plus exactly kl_weight * KL / samples.
    w = 0.3
    net = network([Dense(4), Sampling(kl_weight=w), Dense(2)], (3,), output="identity",
                  loss="squared_error")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 3))
    Y = rng.normal(size=(6, 2))
    params = random_params(net, rng)
    layout = net.layout()
    last = layout[2]["params"]
    for slot in last:  # the last Dense outputs 0
        params[slot["offset"] : slot["offset"] + int(np.prod(slot["shape"]))] = 0
    kernel, bias = (params[s["offset"] : s["offset"] + int(np.prod(s["shape"]))]
                    for s in layout[0]["params"])
    h = X @ kernel.reshape(3, 4) + bias
    mu, log_var = h[:, :2], h[:, 2:]
    kl = 0.5 * np.sum(mu**2 + np.exp(log_var) - 1 - log_var)
    data = 0.5 * np.mean(Y**2)  # half the squared error, mean over outputs and samples
    grad = np.empty(net.n_params)
    loss = net.loss_grad(params, grad, X, Y, None, 0.0, training=False)
    # Reported like the squared error: per output (2 of them).
    assert loss == pytest.approx(data + w * kl / 2 / len(X), rel=1e-12)


def test_sampling_refuses_odd_or_nested_inputs():
    with pytest.raises(ValueError, match=r"layer 0 \(Sampling\).*even size"):
        network([Sampling()], (5,))
    with pytest.raises(ValueError, match="kl_weight"):
        Sampling(kl_weight=-1.0)._core_spec()


def test_sampling_gives_the_same_bits_on_one_and_two_threads():
    layers = [Dense(8, activation="relu"), Sampling(0.1), Dense(5)]
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 5))
    outs = []
    for threads in (1, 2):
        net = network(layers, (5,), chunk_rows=128, output="identity", loss="squared_error")
        params = random_params(net, np.random.default_rng(3))
        grad = np.empty(net.n_params)
        with threadpool_limits(threads, user_api="openmp"):
            loss = net.loss_grad(params, grad, X, X, None, 0.0, dropout_seed=9)
        outs.append((loss, grad.copy()))
    for loss, grad in outs[1:]:
        assert loss == outs[0][0]
        np.testing.assert_array_equal(grad, outs[0][1])


# ------------------------------------------------------------------ UpSampling, Reshape
def test_upsampling_matches_numpy_and_its_gradients():
    rng = np.random.default_rng(0)
    net = network([UpSampling2D((2, 3))], (3, 4, 2), output="identity", loss="squared_error")
    x = rng.normal(size=(5, 3 * 4 * 2))
    y = net.forward(np.empty(0), x)
    want = np.repeat(np.repeat(x.reshape(5, 3, 4, 2), 2, axis=1), 3, axis=2)
    np.testing.assert_array_equal(y, want.reshape(5, -1))
    assert net.output_shape == (6, 12, 2)
    net1 = network([UpSampling1D(3)], (4, 2), output="identity", loss="squared_error")
    x1 = rng.normal(size=(3, 8))
    want1 = np.repeat(x1.reshape(3, 4, 2), 3, axis=1).reshape(3, -1)
    np.testing.assert_array_equal(net1.forward(np.empty(0), x1), want1)
    check_input_gradient([UpSampling2D((2, 2))], (3, 3, 2))
    check_input_gradient([UpSampling1D(2)], (5, 3))
    check_parameter_gradient([UpSampling2D(2), Conv2D(2, 3, padding="same")], (3, 3, 1), n=3)


def test_reshape_keeps_the_values_and_checks_the_size():
    net = network([Reshape((2, 3, 2))], (12,), output="identity", loss="squared_error")
    x = np.arange(24.0).reshape(2, 12)
    np.testing.assert_array_equal(net.forward(np.empty(0), x), x)
    assert net.output_shape == (2, 3, 2)
    check_input_gradient([Reshape((4, 3)), Dense(2)], (12,))
    with pytest.raises(ValueError, match=r"layer 0 \(Reshape\).*cannot reshape"):
        network([Reshape((5, 2))], (12,))


def test_new_kinds_are_value_objects():
    from sklearn.base import clone

    for layer in (Sampling(0.5), UpSampling1D(3), UpSampling2D((2, 1)), Reshape((2, 2))):
        assert clone(layer) == layer
        assert repr(layer).startswith(type(layer).__name__)
    assert _core.Sequential64([Sampling()._core_spec()], [4], "identity", "squared_error",
                              8).output_shape == (2,)
