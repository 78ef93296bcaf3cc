"""Convolution, pooling and batch-normalization layers: the fast convolution against its
naive C++ oracle (impl='reference') and both against numpy, pooling and normalisation
against numpy, float64 finite differences of every layer (parameters and input), odd
sizes, and the shape errors that name the layer. The fast convolution is both of
csrc/layers/conv.cpp's paths: im2col on our GEMM and the direct kernels of conv_direct.cpp
(register-blocked, bias and relu fused)."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from _layer_checks import check_input_gradient, check_parameter_gradient, network, random_params
from fastmlp.layers import (
    AveragePooling1D,
    AveragePooling2D,
    BatchNormalization,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)


def conv_spec(dims, filters, kernel, strides=1, padding="valid", activation=None, impl="auto",
              use_bias=True):
    layer = (Conv1D if dims == 1 else Conv2D)(filters, kernel, strides=strides,
                                              padding=padding, activation=activation,
                                              use_bias=use_bias)
    spec = layer._core_spec()
    spec["args"]["impl"] = impl
    return spec


def _pads(size, kernel, stride, padding):
    """(before, after, out) of one axis, as Keras / an explicit padding define them."""
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2, out
    p = 0 if padding == "valid" else padding
    return p, p, (size + 2 * p - kernel) // stride + 1


def numpy_conv2d(x, w, b, strides, padding):
    """x (n, h, w, c), w (kh, kw, c, f): channels-last cross-correlation, by numpy."""
    kh, kw = w.shape[:2]
    pads = [_pads(x.shape[1 + a], w.shape[a], strides[a],
                  padding if isinstance(padding, str) else padding[a]) for a in range(2)]
    xp = np.pad(x, ((0, 0), pads[0][:2], pads[1][:2], (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))  # (n, H', W', c, kh, kw)
    win = win[:, :: strides[0], :: strides[1]][:, : pads[0][2], : pads[1][2]]
    return np.einsum("nhwcij,ijcf->nhwf", win, w) + (0 if b is None else b)


GEOMETRIES_1D = [  # (length, channels, filters, kernel, strides, padding)
    (40, 1, 25, 5, 2, 1), (19, 25, 7, 3, 2, 1), (7, 3, 2, 7, 1, "valid"), (33, 2, 3, 4, 3, "same"),
    (9, 4, 1, 1, 1, "valid"), (10, 2, 5, 3, 1, "same"), (1, 5, 3, 1, 1, "same"),
    (12, 3, 4, 5, 2, 2), (6, 1, 1, 3, 4, "same"),
]
GEOMETRIES_2D = [  # (h, w, channels, filters, kernel, strides, padding)
    (8, 8, 1, 16, 3, 1, "valid"), (7, 9, 3, 4, (3, 2), (2, 1), "same"),
    (28, 28, 1, 6, 5, 1, 2), (5, 6, 2, 3, (2, 3), 2, (1, 0)), (4, 4, 3, 2, 1, 1, "valid"),
    (9, 7, 2, 5, 4, (3, 2), "same"),
]


def _case_1d(g):
    L, c, f, k, s, p = g
    return 1, (L, c), (f, k, s, p)


def _case_2d(g):
    h, w, c, f, k, s, p = g
    return 2, (h, w, c), (f, k, s, p)


CASES = [_case_1d(g) for g in GEOMETRIES_1D] + [_case_2d(g) for g in GEOMETRIES_2D]


@pytest.mark.parametrize("impl", ["direct", "im2col"])
@pytest.mark.parametrize("dims,shape,conv", CASES)
def test_conv_matches_numpy_and_the_reference(dims, shape, conv, impl):
    rng = np.random.default_rng(0)
    f, k, s, p = conv
    fast = network([conv_spec(dims, f, k, s, p, impl=impl)], shape, output="identity",
                   loss="squared_error")
    ref = network([conv_spec(dims, f, k, s, p, impl="reference")], shape, output="identity",
                  loss="squared_error")
    assert fast.output_shape == ref.output_shape
    params = random_params(fast, rng)
    n = 5
    x = rng.normal(size=(n,) + shape)
    info = fast.layout()[0]["params"]
    W = params[: int(np.prod(info[0]["shape"]))].reshape(info[0]["shape"])
    b = params[info[1]["offset"] :]
    x2 = x if dims == 2 else x[:, None]
    W2 = W if dims == 2 else W[None]
    pad2 = p if isinstance(p, str) else ((p, p) if isinstance(p, int) else p)
    if dims == 1:
        pad2 = p if isinstance(p, str) else (0, p)
    ks = (k, k) if isinstance(k, int) else k
    ss = (s, s) if isinstance(s, int) else s
    strides = (1, s) if dims == 1 else ss
    want = numpy_conv2d(x2, W2, b, strides, pad2)
    if dims == 1:
        want = want[:, 0]
    assert want.shape[1:] == fast.output_shape, (want.shape, fast.output_shape, ks)
    got = fast.forward(params, x.reshape(n, -1)).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ref.forward(params, x.reshape(n, -1)).reshape(want.shape), want,
                               rtol=1e-12, atol=1e-12)
    # Backward: the same gradients as the reference.
    g = rng.normal(size=(n, fast.output_size))
    grads = []
    for net in (fast, ref):
        net.forward(params, x.reshape(n, -1))
        grad = np.empty(net.n_params)
        dx = net.backward(params, grad, g, input_grad=True)
        grads.append((grad, dx))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dims,shape,conv", CASES[::2])
@pytest.mark.parametrize("activation,impl", [("relu", "direct"), ("gelu", "direct"),
                                             ("tanh", "im2col")])
def test_conv_gradients(dims, shape, conv, activation, impl):
    f, k, s, p = conv
    layers = [conv_spec(dims, f, k, s, p, activation=activation, impl=impl), Flatten(),
              Dense(3)]
    # Small weights: a saturated logistic output would hit the loss's clipping.
    check_parameter_gradient(layers, shape, n=3, scale=0.2)
    check_input_gradient(layers, shape, n=2, scale=0.2)


def test_conv_paths_with_many_filters_and_batches():
    # More filters than one register block (float64: 16 lanes) and batches large enough
    # to run the kernels' sample blocks in parallel.
    rng = np.random.default_rng(9)
    shape = (9, 8, 3)
    nets = {impl: network([conv_spec(2, 37, 3, (1, 2), "same", impl=impl)], shape,
                          chunk_rows=300, output="identity", loss="squared_error")
            for impl in ("direct", "im2col", "reference")}
    params = random_params(nets["direct"], rng)
    x = rng.normal(size=(300, int(np.prod(shape))))
    g = rng.normal(size=(300, nets["direct"].output_size))
    out = {}
    for impl, net in nets.items():
        y = net.forward(params, x)
        grad = np.empty(net.n_params)
        out[impl] = (y, grad, net.backward(params, grad, g, input_grad=True))
    for impl in ("direct", "im2col"):
        for a, b in zip(out[impl], out["reference"]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("filters", [3, 8, 16, 32, 40])
@pytest.mark.parametrize("use_bias", [True, False])
def test_direct_conv_fused_bias_relu_matches_the_reference(dtype, filters, use_bias):
    # The direct kernel adds the bias and applies relu in its store; with one filter block
    # exactly as wide as the filters, backward reads dy in place (no blocked copy).
    rng = np.random.default_rng(11)
    shape = (13, 3)
    nets = [network([conv_spec(1, filters, 3, 2, 1, activation="relu", impl=impl,
                               use_bias=use_bias)], shape, output="identity",
                    loss="squared_error", dtype=dtype) for impl in ("direct", "reference")]
    params = random_params(nets[0], rng).astype(dtype)
    x = rng.normal(size=(6, 39)).astype(dtype)
    x[0, 4] = np.nan  # a NaN survives the fused relu, as the activation's
    g = rng.normal(size=(6, nets[0].output_size)).astype(dtype)
    out = []
    for net in nets:
        y = net.forward(params, x)
        grad = np.empty(net.n_params, dtype)
        out.append((y, grad, net.backward(params, grad, g, input_grad=True)))
    assert np.isnan(out[0][0]).any()
    assert (out[0][0] == 0).any() and (out[0][0] > 0).any()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for a, b in zip(out[0], out[1]):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


BY_POSITIONS = [  # (h, w, filters, kernel, strides, padding): one input channel, stride 1
    # along the width, at most 8 filters (conv_direct.h's conv_by_positions)
    (5, 1, 6, 3, 1, "same"), (3, 7, 1, (2, 3), (2, 1), "valid"), (6, 33, 8, 5, 1, "same"),
    (28, 28, 6, 5, 1, 2), (4, 17, 3, (1, 4), (3, 1), "valid"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 5])
@pytest.mark.parametrize("h,w,filters,kernel,strides,padding", BY_POSITIONS)
def test_direct_conv_by_positions_matches_the_filter_blocks_bit_for_bit(
        dtype, n, h, w, filters, kernel, strides, padding):
    # With one channel and few filters the forward pass vectorizes over output positions
    # and the kernel gradient over pairs of taps; 9 filters take the filter-block kernels.
    # Each output and each gradient value is the same chain of multiply-adds in both, so
    # the first filters of a 9-filter layer holding the same weights give the same bits;
    # both match the reference.
    rng = np.random.default_rng(5)
    shape = (h, w, 1)
    few, many, ref = (
        network([conv_spec(2, f, kernel, strides, padding, activation="relu", impl=impl)],
                shape, output="identity", loss="squared_error", dtype=dtype)
        for f, impl in ((filters, "direct"), (9, "direct"), (filters, "reference")))
    p = random_params(few, rng).astype(dtype)
    taps = int(np.prod(kernel if isinstance(kernel, tuple) else (kernel, kernel)))
    w_many = rng.normal(size=(taps, 9)).astype(dtype)
    w_many[:, :filters] = p[: taps * filters].reshape(taps, filters)
    b_many = np.zeros(9, dtype)
    b_many[:filters] = p[taps * filters :]
    p_many = np.concatenate([w_many.ravel(), b_many])
    x = rng.normal(size=(n, h * w)).astype(dtype)
    y = few.forward(p, x)
    y_many = many.forward(p_many, x).reshape(n, -1, 9)[:, :, :filters].reshape(n, -1)
    np.testing.assert_array_equal(y, y_many)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y, ref.forward(p, x), rtol=tol, atol=tol)
    g = rng.normal(size=y.shape).astype(dtype)
    g_many = np.zeros((n, y.shape[1] // filters, 9), dtype)
    g_many[:, :, :filters] = g.reshape(n, -1, filters)
    grad, grad_many = np.empty(few.n_params, dtype), np.empty(many.n_params, dtype)
    few.backward(p, grad, g)
    many.backward(p_many, grad_many, g_many.reshape(n, -1))
    np.testing.assert_array_equal(grad[: taps * filters].reshape(taps, filters),
                                  grad_many[: taps * 9].reshape(taps, 9)[:, :filters])
    np.testing.assert_array_equal(grad[taps * filters :], grad_many[taps * 9 :][:filters])
    grads = []
    for net in (few, ref):
        net.forward(p, x)
        grad = np.empty(net.n_params, dtype)
        grads.append((grad, net.backward(p, grad, g, input_grad=True)))
    # float32 gradients sum up to n * h * w products per value
    tol = 1e-12 if dtype == np.float64 else 1e-5 * np.sqrt(n * h * w)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("h,w,filters,kernel,strides,padding",
                         BY_POSITIONS[:2] + BY_POSITIONS[4:])  # float64 pairs: <= 4 filters
def test_direct_conv_by_positions_gradients(h, w, filters, kernel, strides, padding):
    layers = [conv_spec(2, filters, kernel, strides, padding, activation="relu",
                        impl="direct"), Flatten(), Dense(2)]
    check_parameter_gradient(layers, (h, w, 1), n=3, scale=0.2)
    check_input_gradient(layers, (h, w, 1), n=2, scale=0.2)


def test_conv_without_bias_and_float32():
    layers = [conv_spec(1, 3, 3, use_bias=False)]
    net = check_parameter_gradient(layers, (6, 2))[0]
    assert [p["name"] for p in net.layout()[0]["params"]] == ["kernel"]
    rng = np.random.default_rng(2)
    specs = [conv_spec(2, 4, 3, 1, "same", activation="tanh"), Flatten(), Dense(2)]
    n64, n32 = network(specs, (6, 5, 2)), network(specs, (6, 5, 2), dtype=np.float32)
    p = random_params(n64, rng)
    x = rng.normal(size=(4, 60))
    np.testing.assert_allclose(n32.forward(p.astype(np.float32), x.astype(np.float32)),
                               n64.forward(p, x), rtol=1e-5, atol=1e-6)


def numpy_pool(x, pool, strides, padding, op):
    """x (n, h, w, c): max or mean of windows; 'same' pads with values that never count."""
    pads = [_pads(x.shape[1 + a], pool[a], strides[a], padding) for a in range(2)]
    fill = -np.inf if op == "max" else np.nan
    xp = np.pad(x, ((0, 0), pads[0][:2], pads[1][:2], (0, 0)), constant_values=fill)
    win = sliding_window_view(xp, pool, axis=(1, 2))[:, :: strides[0], :: strides[1]]
    win = win[:, : pads[0][2], : pads[1][2]]
    return win.max(axis=(-2, -1)) if op == "max" else np.nanmean(win, axis=(-2, -1))


POOLS = [  # (layer, input shape, pool, strides, padding, op)
    (MaxPooling1D(2), (9, 3), (1, 2), (1, 2), "valid", "max"),
    (MaxPooling1D(3, strides=1, padding="same"), (8, 2), (1, 3), (1, 1), "same", "max"),
    (AveragePooling1D(2), (7, 4), (1, 2), (1, 2), "valid", "mean"),
    (AveragePooling1D(4, strides=3, padding="same"), (10, 1), (1, 4), (1, 3), "same", "mean"),
    (MaxPooling2D(2), (8, 7, 3), (2, 2), (2, 2), "valid", "max"),
    (MaxPooling2D((3, 2), strides=(1, 2), padding="same"), (5, 6, 2), (3, 2), (1, 2), "same",
     "max"),
    (AveragePooling2D(2), (6, 6, 2), (2, 2), (2, 2), "valid", "mean"),
    (AveragePooling2D(3, strides=2, padding="same"), (7, 5, 1), (3, 3), (2, 2), "same", "mean"),
    # A vector of channels or more (float64: 8): the per-window loops over the channels;
    # the fewer channels above take whole output rows at a time (pool.cpp, pool_sample).
    (MaxPooling2D(2), (6, 5, 9), (2, 2), (2, 2), "valid", "max"),
    (AveragePooling1D(3, strides=2), (9, 8), (1, 3), (1, 2), "valid", "mean"),
]


@pytest.mark.parametrize("layer,shape,pool,strides,padding,op", POOLS)
def test_pooling_matches_numpy_and_finite_differences(layer, shape, pool, strides, padding, op):
    rng = np.random.default_rng(4)
    net = network([layer], shape, output="identity", loss="squared_error")
    x = rng.normal(size=(3,) + shape)
    x2 = x if len(shape) == 3 else x[:, None]
    want = numpy_pool(x2, pool, strides, padding, op)
    if len(shape) == 2:
        want = want[:, 0]
    assert want.shape[1:] == net.output_shape
    np.testing.assert_allclose(net.forward(np.zeros(0), x.reshape(3, -1)).reshape(want.shape),
                               want, rtol=1e-13, atol=1e-14)
    check_input_gradient([layer], shape, n=2)
    check_parameter_gradient([Dense(2), layer, Flatten(), Dense(3)], shape, n=3)


@pytest.mark.parametrize("layer,op,shape", [
    (GlobalMaxPooling1D(), "max", (9, 4)), (GlobalAveragePooling1D(), "mean", (9, 4)),
    (GlobalMaxPooling2D(), "max", (3, 5, 2)), (GlobalAveragePooling2D(), "mean", (3, 5, 2)),
    (GlobalAveragePooling1D(), "mean", (1, 1)),
])
def test_global_pooling(layer, op, shape):
    rng = np.random.default_rng(5)
    net = network([layer], shape, output="identity", loss="squared_error")
    assert net.output_shape == (shape[-1],)
    x = rng.normal(size=(4,) + shape)
    axes = tuple(range(1, len(shape)))
    want = x.max(axis=axes) if op == "max" else x.mean(axis=axes)
    np.testing.assert_allclose(net.forward(np.zeros(0), x.reshape(4, -1)), want, rtol=1e-13)
    check_input_gradient([layer], shape, n=2)
    check_parameter_gradient([Dense(3), layer, Dense(2)], shape, n=3)


def test_max_pooling_ties_take_the_first_and_nan_propagates():
    net = network([MaxPooling1D(2)], (4, 1), output="identity", loss="squared_error")
    x = np.array([[1.0, 1.0, np.nan, 3.0]])
    y = net.forward(np.zeros(0), x)
    assert y[0, 0] == 1.0 and np.isnan(y[0, 1])
    grad = np.empty(0)
    dx = net.backward(np.zeros(0), grad, np.array([[5.0, 7.0]]), input_grad=True)
    np.testing.assert_array_equal(dx, [[5.0, 0.0, 7.0, 0.0]])


def numpy_batch_norm(x, gamma, beta, eps):
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, mean, var


@pytest.mark.parametrize("shape", [(5,), (6, 3), (4, 3, 2)])
def test_batch_normalization_training_inference_and_moving_averages(shape):
    rng = np.random.default_rng(6)
    layer = BatchNormalization(momentum=0.9, epsilon=1e-3)
    net = network([layer], shape, output="identity", loss="squared_error")
    assert net.n_state == 2 * shape[-1] and net.n_decayed == 0
    assert not network([Dense(3), layer], shape).sliced  # batch statistics couple rows
    params = random_params(net, rng)
    c = shape[-1]
    gamma, beta = params[:c], params[c : 2 * c]
    mm, mv = params[2 * c : 3 * c].copy(), params[3 * c :].copy()
    x = rng.normal(loc=2.0, size=(7,) + shape)
    want, mean, var = numpy_batch_norm(x, gamma, beta, 1e-3)
    got = net.forward(params, x.reshape(7, -1), training=True).reshape(x.shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(params[2 * c :], np.concatenate([mm, mv]))  # not updated
    net.forward(params, x.reshape(7, -1), training=True, update_state=True)
    np.testing.assert_allclose(params[2 * c : 3 * c], 0.9 * mm + 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(params[3 * c :], 0.9 * mv + 0.1 * var, rtol=1e-12)
    infer = net.forward(params, x.reshape(7, -1)).reshape(x.shape)
    np.testing.assert_allclose(
        infer, gamma * (x - params[2 * c : 3 * c]) / np.sqrt(params[3 * c :] + 1e-3) + beta,
        rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"scale": False}])
def test_batch_normalization_gradients(training, kwargs):
    layers = [Dense(4), BatchNormalization(**kwargs), Dense(3, activation="tanh")]
    check_parameter_gradient(layers, (2, 5), n=6, training=training)
    check_input_gradient([BatchNormalization(**kwargs), Dense(3)], (3, 2), n=5,
                         training=training)


@pytest.mark.parametrize("layers,shape,message", [
    ([Conv1D(4, 5)], (3, 1), r"layer 0 \(Conv1D\): kernel_size 5 is larger than the input "
                             r"\(3\) along the steps of input shape \(3, 1\)"),
    ([Conv1D(4, 3), Conv1D(4, 13, padding=2)], (10, 1),
     r"layer 1 \(Conv1D\): kernel_size 13 is larger than the padded input \(8 \+ 2 x 2 zeros "
     r"= 12\)"),
    ([Conv2D(4, (2, 5))], (8, 4, 1), r"layer 0 \(Conv2D\): kernel_size 5 is larger than the "
                                     r"input \(4\) along the width"),
    ([MaxPooling2D(3)], (2, 8, 1), r"layer 0 \(MaxPooling2D\): pool_size 3 is larger than the "
                                   r"input \(2\) along the height of input shape \(2, 8, 1\)"),
    ([Conv2D(2, 3)], (40, 1), r"layer 0 \(Conv2D\): needs samples of shape \(height, width, "
                              r"channels\), got \(40, 1\)"),
    ([Flatten(), Conv1D(2, 3)], (4, 5), r"layer 1 \(Conv1D\): needs samples of shape \(steps, "
                                        r"channels\), got \(20,\)"),
])
def test_shape_errors_name_the_layer_and_the_shapes(layers, shape, message):
    with pytest.raises(ValueError, match=message):
        network(layers, shape)
