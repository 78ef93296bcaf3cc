"""Shared checks of the layer engine (fastmlp._core.Sequential64): finite-difference
gradients with respect to the parameters and to the input, in float64."""

import numpy as np

from fastmlp import _core
from fastmlp.layers import Layer


def spec(layer):
    """The core spec of a fastmlp.layers object (or a dict already)."""
    return layer._core_spec() if isinstance(layer, Layer) else layer


def network(layers, input_shape, chunk_rows=64, output="logistic", loss="binary_log_loss",
            dtype=np.float64, **kwargs):
    cls = _core.Sequential64 if dtype == np.float64 else _core.Sequential32
    return cls([spec(l) for l in layers], list(input_shape), output, loss, chunk_rows, **kwargs)


def random_params(net, rng, scale=0.5):
    """Parameters followed by the state; variances (states named *variance) positive."""
    flat = rng.normal(scale=scale, size=net.n_params + net.n_state)
    for info in net.layout():
        for s in info["states"]:
            at = net.n_params + s["offset"]
            size = int(np.prod(s["shape"]))
            if "variance" in s["name"]:
                flat[at : at + size] = rng.uniform(0.5, 1.5, size)
    return flat


def numeric_gradient(f, x, eps=1e-6):
    """Central differences of the scalar function f at x (modified in place, restored)."""
    g = np.empty(x.size)
    flat = x.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        g[i] = (up - down) / (2 * eps)
    return g.reshape(x.shape)


def check_parameter_gradient(layers, input_shape, n=5, seed=0, training=True,
                             dropout_seed=None, alpha=0.3, chunk_rows=64, rtol=1e-5,
                             atol=1e-7, scale=0.5):
    """loss_grad's gradient against central differences of loss_grad's loss.

    The loss is the binary log loss of a logistic output on every value of the stack's
    output (sum over outputs, gradient p - y: consistent), soft targets in (0, 1).
    """
    rng = np.random.default_rng(seed)
    net = network(layers, input_shape, chunk_rows=chunk_rows)
    X = rng.normal(size=(n, int(np.prod(input_shape))))
    Y = rng.uniform(0.05, 0.95, size=(n, net.output_size))
    sw = rng.uniform(0.5, 2.0, n)
    params = random_params(net, rng, scale)
    grad = np.empty(net.n_params)
    kw = dict(dropout_seed=dropout_seed, training=training)
    loss = net.loss_grad(params, grad, X, Y, sw, alpha, **kw)
    scratch = np.empty(net.n_params)
    trainable = params[: net.n_params]
    numeric = numeric_gradient(lambda: net.loss_grad(params, scratch, X, Y, sw, alpha, **kw),
                               trainable)
    np.testing.assert_allclose(grad, numeric, rtol=rtol, atol=atol)
    return net, loss


def check_input_gradient(layers, input_shape, n=4, seed=1, training=False, rng_seed=7,
                         rtol=1e-5, atol=1e-7, scale=0.5):
    """backward's input gradient of L = sum(forward(x) * g) against central differences."""
    rng = np.random.default_rng(seed)
    net = network(layers, input_shape, output="identity", loss="squared_error")
    x = rng.normal(size=(n, int(np.prod(input_shape))))
    params = random_params(net, rng, scale)
    g = rng.normal(size=(n, net.output_size))

    def loss():
        return float(np.sum(net.forward(params, x, training=training, seed=rng_seed) * g))

    loss()
    grad = np.empty(net.n_params)
    dx = net.backward(params, grad, g, input_grad=True)
    np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=rtol, atol=atol)
    return net
