"""Recurrent layers (GRU, LSTM, Bidirectional, LastStep): the fast path against its naive C++
oracle (impl='reference') and both against numpy's Keras formulas (and PyTorch where it is
installed), float64 finite differences over several steps with return_sequences both ways
and through Bidirectional, fits bitwise the same on 1 and 2 threads, Keras's shapes,
parameter counts and initial values, the shape errors that name the layer, the memory
check, and a small LSTM task. The fast path is csrc/layers/gru.cpp and lstm.cpp on the
shared step machinery of recurrent.cpp, its gate kernels (recurrent_gates.cpp) and its
blocked-layout products (recurrent_products.cpp)."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from _layer_checks import check_input_gradient, check_parameter_gradient, network, random_params
from fastmlp import NeuralNetClassifier, NeuralNetRegressor
from fastmlp.layers import GRU, LSTM, Bidirectional, Dense, Flatten, LastStep

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ACT = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
       "relu": lambda z: np.maximum(z, 0), "linear": lambda z: z}


def _spec(layer, impl="auto"):
    """The core spec of a layer, with impl set on every recurrent layer in it."""
    spec = layer._core_spec()

    def walk(s):
        if s["kind"] in ("GRU", "LSTM"):
            s["args"]["impl"] = impl
        for child in s["children"]:
            walk(child)

    walk(spec)
    return spec


def _slots(net, params, layer=0):
    return {p["name"]: params[p["offset"] : p["offset"] + int(np.prod(p["shape"]))]
            .reshape(p["shape"]) for p in net.layout()[layer]["params"]}


def numpy_recurrent(layer, w, x, prefix=""):
    """Keras's formulas, step by step over x (n, steps, features)."""
    kernel, rec = w[prefix + "kernel"], w[prefix + "recurrent_kernel"]
    bias = w.get(prefix + "bias")
    f, rf = ACT[layer.activation or "linear"], ACT[layer.recurrent_activation or "linear"]
    u, lstm = layer.units, isinstance(layer, LSTM)
    after = not lstm and layer.reset_after
    if bias is None:
        bias = np.zeros((2, 3 * u)) if after else np.zeros(kernel.shape[1])
    b_in, b_rec = (bias[0], bias[1]) if after else (bias, np.zeros(kernel.shape[1]))
    n, steps, _ = x.shape
    h, c = np.zeros((n, u)), np.zeros((n, u))
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    out = []
    for t in order:
        xw = x[:, t] @ kernel + b_in
        if lstm:
            a = xw + h @ rec
            i, fg = rf(a[:, :u]), rf(a[:, u : 2 * u])
            g, o = f(a[:, 2 * u : 3 * u]), rf(a[:, 3 * u :])
            c = fg * c + i * g
            h = o * f(c)
        else:
            hw = h @ rec + b_rec
            z = rf(xw[:, :u] + hw[:, :u])
            r = rf(xw[:, u : 2 * u] + hw[:, u : 2 * u])
            if after:
                hh = f(xw[:, 2 * u :] + r * hw[:, 2 * u :])
            else:
                hh = f(xw[:, 2 * u :] + (r * h) @ rec[:, 2 * u :])
            h = z * h + (1 - z) * hh
        out.append(h)
    return np.stack(out, axis=1) if layer.return_sequences else h


LAYERS = [
    GRU(4, return_sequences=True),
    GRU(3),
    GRU(5, reset_after=False, return_sequences=True),
    GRU(2, reset_after=False, go_backwards=True),
    GRU(3, go_backwards=True, return_sequences=True, activation="relu"),
    GRU(1, use_bias=False, recurrent_activation="tanh"),
    LSTM(4, return_sequences=True),
    LSTM(3, go_backwards=True),
    LSTM(2, use_bias=False, activation="relu", return_sequences=True),
    LSTM(3, activation="linear", recurrent_activation="sigmoid"),
]


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
@pytest.mark.parametrize("n,steps,features", [(1, 1, 1), (5, 7, 3), (17, 4, 2)])
def test_forward_matches_numpy_and_the_oracle(layer, n, steps, features):
    rng = np.random.default_rng(0)
    fast = network([_spec(layer)], (steps, features), output="identity", loss="squared_error")
    ref = network([_spec(layer, "reference")], (steps, features), output="identity",
                  loss="squared_error")
    params = random_params(fast, rng)
    x = rng.normal(size=(n, steps, features))
    want = numpy_recurrent(layer, _slots(fast, params), x)
    assert fast.output_shape == want.shape[1:] == ref.output_shape
    for net in (fast, ref):
        got = net.forward(params, x.reshape(n, -1)).reshape(want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    # Backward: the fast path's gradients are the oracle's.
    g = rng.normal(size=(n, fast.output_size))
    grads = []
    for net in (fast, ref):
        net.forward(params, x.reshape(n, -1))
        grad = np.full(net.n_params, np.nan)
        dx = net.backward(params, grad, g, input_grad=True)
        grads.append((grad, dx))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("units,features,n", [(7, 5, 33), (33, 9, 3), (16, 1, 64)])
@pytest.mark.parametrize("kind", ["gru", "gru_v1", "lstm"])
def test_odd_sizes_and_float32_match_the_oracle(units, features, n, kind):
    # Sizes that leave edge tiles in every product and a partial block of rows.
    layer = {"gru": GRU(units, return_sequences=True), "gru_v1": GRU(units, reset_after=False),
             "lstm": LSTM(units, return_sequences=True)}[kind]
    rng = np.random.default_rng(1)
    steps = 3
    fast = network([_spec(layer)], (steps, features), output="identity", loss="squared_error")
    ref = network([_spec(layer, "reference")], (steps, features), output="identity",
                  loss="squared_error")
    p = random_params(fast, rng, scale=0.3)
    x = rng.normal(size=(n, steps * features))
    g = rng.normal(size=(n, fast.output_size))
    outs = []
    for net in (fast, ref):
        y = net.forward(p, x)
        grad = np.empty(net.n_params)
        dx = net.backward(p, grad, g, input_grad=True, accumulate=False)
        grad2 = grad.copy()
        net.backward(p, grad2, g, accumulate=True)  # backward runs again after one forward
        np.testing.assert_allclose(grad2, 2 * grad, rtol=1e-12, atol=1e-15)
        outs.append((y, grad, dx))
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    n32 = network([_spec(layer)], (steps, features), output="identity", loss="squared_error",
                  dtype=np.float32)
    np.testing.assert_allclose(n32.forward(p.astype(np.float32), x.astype(np.float32)),
                               outs[0][0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", [GRU(16, return_sequences=True), GRU(17, reset_after=False),
                                   LSTM(16, go_backwards=True)], ids=repr)
def test_large_passes_take_the_gemm_path_and_match_the_oracle(layer):
    # At least 2^16 rows x steps and 16 features on both sides of a weight gradient: the
    # rows are gathered for our GEMM.
    rng = np.random.default_rng(7)
    n, steps, d = 700, 100, 16
    fast = network([_spec(layer)], (steps, d), chunk_rows=n, output="identity",
                   loss="squared_error")
    ref = network([_spec(layer, "reference")], (steps, d), chunk_rows=n, output="identity",
                  loss="squared_error")
    p = random_params(fast, rng, scale=0.2)
    x = rng.normal(size=(n, steps * d))
    g = rng.normal(size=(n, fast.output_size))
    grads = []
    for net in (fast, ref):
        net.forward(p, x)
        grad = np.empty(net.n_params)
        net.backward(p, grad, g)
        grads.append(grad)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["gru", "gru_v1", "lstm"])
def test_matches_pytorch(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    n, steps, d, u = 4, 6, 3, 5
    layer = LSTM(u, return_sequences=True) if kind == "lstm" else GRU(
        u, return_sequences=True, reset_after=kind == "gru")
    net = network([_spec(layer)], (steps, d), output="identity", loss="squared_error")
    p = random_params(net, rng)
    w = _slots(net, p)
    x = rng.normal(size=(n, steps, d))
    y = net.forward(p, x.reshape(n, -1)).reshape(n, steps, u)
    if kind == "gru_v1":  # PyTorch has only reset_after; compare with numpy's formulas
        np.testing.assert_allclose(y, numpy_recurrent(layer, w, x), rtol=1e-12, atol=1e-13)
        return
    G = 4 if kind == "lstm" else 3
    order = [0, 1, 2, 3] if kind == "lstm" else [1, 0, 2]  # Keras z, r, h; PyTorch r, z, n

    def torch_layout(m):
        return np.concatenate([m[..., g * u : (g + 1) * u] for g in order], axis=-1)

    mod = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(d, u, batch_first=True).double()
    with torch.no_grad():
        mod.weight_ih_l0.copy_(torch.tensor(torch_layout(w["kernel"]).T))
        mod.weight_hh_l0.copy_(torch.tensor(torch_layout(w["recurrent_kernel"]).T))
        b = torch_layout(w["bias"])
        mod.bias_ih_l0.copy_(torch.tensor(b[0] if kind == "gru" else b))
        mod.bias_hh_l0.copy_(torch.tensor(b[1] if kind == "gru" else np.zeros(G * u)))
        want, _ = mod(torch.tensor(x))
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("layer", [
    GRU(3, return_sequences=True), GRU(3), GRU(2, reset_after=False, return_sequences=True),
    GRU(3, reset_after=False, go_backwards=True), LSTM(3, return_sequences=True),
    LSTM(2, go_backwards=True), GRU(2, activation="relu", recurrent_activation="tanh"),
    LSTM(2, activation="softplus", recurrent_activation="sigmoid", return_sequences=True),
], ids=repr)
@pytest.mark.parametrize("impl", ["auto", "reference"])
def test_gradients_through_time(layer, impl):
    stack = [_spec(layer, impl), Flatten(), Dense(3)]
    check_parameter_gradient(stack, (6, 2), n=4, scale=0.4)
    check_input_gradient(stack, (6, 2), n=3, scale=0.4)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("inner", [GRU(2, return_sequences=True), LSTM(2)], ids=repr)
def test_bidirectional_gradients(merge_mode, inner):
    stack = [_spec(Bidirectional(inner, merge_mode=merge_mode)), Flatten(), Dense(2)]
    check_parameter_gradient(stack, (5, 2), n=3, scale=0.4)
    check_input_gradient(stack, (5, 2), n=3, scale=0.4)


def test_stacked_layers_and_last_step_gradients():
    stack = [Bidirectional(LSTM(2, return_sequences=True)), GRU(3, return_sequences=True),
             LastStep(), Dense(2)]
    check_parameter_gradient(stack, (4, 2), n=3, scale=0.4)
    check_input_gradient(stack, (4, 2), n=2, scale=0.4)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_matches_numpy(merge_mode):
    rng = np.random.default_rng(3)
    inner = GRU(3, return_sequences=True)
    layer = Bidirectional(inner, merge_mode=merge_mode)
    net = network([layer], (6, 2), output="identity", loss="squared_error")
    assert net.output_shape == (6, 6 if merge_mode == "concat" else 3)
    assert [p["name"] for p in net.layout()[0]["params"]] == [
        "forward_kernel", "forward_recurrent_kernel", "forward_bias",
        "backward_kernel", "backward_recurrent_kernel", "backward_bias"]
    p = random_params(net, rng)
    w = _slots(net, p)
    x = rng.normal(size=(4, 6, 2))
    fw = numpy_recurrent(inner, w, x, "forward_")
    bw = numpy_recurrent(clone(inner).set_params(go_backwards=True), w, x, "backward_")[:, ::-1]
    want = {"concat": np.concatenate([fw, bw], axis=-1), "sum": fw + bw, "mul": fw * bw,
            "ave": (fw + bw) / 2}[merge_mode]
    got = net.forward(p, x.reshape(4, -1)).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    # Without return_sequences: each direction's last state.
    last = network([Bidirectional(GRU(3), merge_mode=merge_mode)], (6, 2),
                   output="identity", loss="squared_error")
    want_last = {"concat": np.concatenate([fw[:, -1], bw[:, 0]], axis=-1),
                 "sum": fw[:, -1] + bw[:, 0], "mul": fw[:, -1] * bw[:, 0],
                 "ave": (fw[:, -1] + bw[:, 0]) / 2}[merge_mode]
    np.testing.assert_allclose(last.forward(p, x.reshape(4, -1)), want_last, rtol=1e-12,
                               atol=1e-13)


def test_bidirectional_with_its_own_backward_layer():
    rng = np.random.default_rng(4)
    layer = Bidirectional(GRU(2, return_sequences=True),
                          backward_layer=LSTM(3, return_sequences=True, go_backwards=True))
    net = network([layer], (5, 2), output="identity", loss="squared_error")
    assert net.output_shape == (5, 5)
    p = random_params(net, rng)
    w = _slots(net, p)
    x = rng.normal(size=(3, 5, 2))
    bw = numpy_recurrent(layer.backward_layer, w, x, "backward_")[:, ::-1]
    got = net.forward(p, x.reshape(3, -1)).reshape(3, 5, 5)
    np.testing.assert_allclose(got[..., 2:], bw, rtol=1e-12, atol=1e-13)
    check_parameter_gradient([layer, Flatten(), Dense(2)], (5, 2), n=3, scale=0.4)


def test_go_backwards_and_last_step():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 6, 2))
    seq = network([GRU(3, return_sequences=True)], (6, 2), output="identity",
                  loss="squared_error")
    p = random_params(seq, rng)
    back = network([GRU(3, return_sequences=True, go_backwards=True)], (6, 2),
                   output="identity", loss="squared_error")
    # go_backwards reads the steps last to first and returns the states in that order.
    np.testing.assert_allclose(back.forward(p, x.reshape(4, -1)),
                               seq.forward(p, x[:, ::-1].reshape(4, -1)), rtol=1e-14)
    last = network([GRU(3, return_sequences=True), LastStep()], (6, 2), output="identity",
                   loss="squared_error")
    single = network([GRU(3)], (6, 2), output="identity", loss="squared_error")
    np.testing.assert_array_equal(last.forward(p, x.reshape(4, -1)),
                                  single.forward(p, x.reshape(4, -1)))
    check_input_gradient([LastStep()], (3, 4), n=2)


def _sequences(n=300, steps=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, steps, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int) + (X[:, -3:, 1].mean(axis=1) > 0.5)
    return X, y


@pytest.mark.parametrize("layers,batch_size", [
    ([Bidirectional(GRU(6, return_sequences=True)), Flatten()], 100),  # row slices
    ([LSTM(5, return_sequences=True), GRU(4, reset_after=False)], 20),  # no slices
])
def test_fit_is_bitwise_the_same_on_one_and_two_threads(layers, batch_size):
    X, y = _sequences()
    params = dict(layers=layers, batch_size=batch_size, max_iter=3, random_state=0,
                  learning_rate_init=1e-2)
    with threadpool_limits(1, user_api="openmp"):
        one = NeuralNetClassifier(**params).fit(X, y)
        p1 = one.predict_proba(X)
    with threadpool_limits(2, user_api="openmp"):
        two = NeuralNetClassifier(**params).fit(X, y)
        p2 = two.predict_proba(X)
    np.testing.assert_array_equal(one._packed_params(), two._packed_params())
    assert one.loss_curve_ == two.loss_curve_
    np.testing.assert_array_equal(p1, p2)


def test_large_passes_use_threads_and_keep_the_bits():
    # Enough rows that the steps and the products over all steps split across threads,
    # and that the weight gradients take the GEMM path.
    rng = np.random.default_rng(6)
    n, steps, d = 1500, 50, 8
    for layer in (GRU(24, return_sequences=True), LSTM(20, return_sequences=True)):
        net = network([layer, Flatten(), Dense(2)], (steps, d), chunk_rows=n,
                      allow_slices=False)
        p = random_params(net, rng, scale=0.2)
        X = rng.normal(size=(n, steps * d))
        Y = rng.uniform(0.1, 0.9, size=(n, 2))
        out = []
        for threads in (1, 2):
            with threadpool_limits(threads, user_api="openmp"):
                g = np.empty(net.n_params)
                loss = net.loss_grad(p, g, X, Y, None, 0.0)
                out.append((loss, g))
        assert out[0][0] == out[1][0]
        np.testing.assert_array_equal(out[0][1], out[1][1])


def test_keras_shapes_parameter_counts_and_summary(capsys):
    X, y = _sequences(n=200, steps=40)
    X = X[:, :, :1]
    # The MNIST-1D paper's GRU on 10 classes: 5,134 parameters.
    clf = NeuralNetClassifier([Bidirectional(GRU(6, return_sequences=True)), Flatten()],
                              max_iter=1, random_state=0).fit(X[:, :, 0], np.arange(200) % 10)
    assert clf.input_shape_ == (40, 1)
    assert [f.name for f in clf.layers_] == ["bidirectional", "flatten", "dense"]
    assert clf.layers_[0].output_shape == (40, 12)
    assert clf.layers_[0].n_params == 2 * 3 * 6 * (1 + 6 + 2)
    assert clf.n_params_ == 5134
    assert clf.layers_[0].weights["forward_bias"].shape == (2, 18)
    clf.summary()
    out = capsys.readouterr().out
    assert "bidirectional (Bidirectional)" in out and "(None, 40, 12)" in out
    assert "Total params: 5,134" in out
    X2 = np.repeat(X, 3, axis=2)
    for layer, count in [(GRU(5), 3 * 5 * (3 + 5 + 2)),
                         (GRU(5, reset_after=False), 3 * 5 * (3 + 5 + 1)),
                         (LSTM(5), 4 * 5 * (3 + 5 + 1)),
                         (LSTM(5, use_bias=False), 4 * 5 * (3 + 5))]:
        m = NeuralNetRegressor([layer], max_iter=1, random_state=0).fit(X2, y.astype(float))
        assert m.layers_[0].n_params == count and m.layers_[0].output_shape == (5,)
        assert m.layers_[0].name == type(layer).__name__.lower()


def test_initial_values_are_keras_s():
    X, y = _sequences(n=50, steps=5)
    clf = NeuralNetClassifier([Bidirectional(LSTM(4)), Dense(3)], max_iter=1, random_state=0,
                              learning_rate_init=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    w = clf.layers_[0].weights
    for side in ("forward_", "backward_"):
        rec = w[side + "recurrent_kernel"]  # orthogonal rows
        np.testing.assert_allclose(rec @ rec.T, np.eye(4), atol=1e-5)
        bias = w[side + "bias"]  # unit_forget_bias
        np.testing.assert_allclose(bias, np.r_[np.zeros(4), np.ones(4), np.zeros(8)], atol=1e-5)
        bound = np.sqrt(6 / (2 + 16))  # glorot_uniform on (2, 16)
        assert np.abs(w[side + "kernel"]).max() <= bound
    assert not np.allclose(w["forward_kernel"], w["backward_kernel"])
    gru = NeuralNetClassifier([GRU(3, bias_initializer="ones")], max_iter=1, random_state=0,
                              learning_rate_init=1e-12).fit(X, y)
    np.testing.assert_allclose(gru.layers_[0].weights["bias"], 1.0, atol=1e-6)
    no_forget = NeuralNetClassifier([LSTM(2, unit_forget_bias=False)], max_iter=1,
                                    random_state=0, learning_rate_init=1e-12).fit(X, y)
    np.testing.assert_allclose(no_forget.layers_[0].weights["bias"], 0, atol=1e-6)


@pytest.mark.parametrize("layers,shape,message", [
    ([Flatten(), GRU(3)], (4, 5), r"layer 1 \(GRU\): needs samples of shape \(steps, "
                                  r"features\), got \(20,\)"),
    ([GRU(3), LSTM(2)], (4, 5), r"layer 1 \(LSTM\): needs samples of shape \(steps, "
                                r"features\), got \(3,\)"),
    ([Bidirectional(GRU(3)), LastStep()], (4, 5), r"layer 1 \(LastStep\): needs samples of "
                                                  r"shape \(steps, features\), got \(6,\)"),
    ([Flatten(), Bidirectional(LSTM(2))], (4, 5), r"layer 1 \(Bidirectional\): LSTM: needs "
                                                  r"samples of shape \(steps, features\)"),
])
def test_shape_errors_name_the_layer_and_the_shapes(layers, shape, message):
    with pytest.raises(ValueError, match=message):
        network(layers, shape)


def test_bad_input_is_a_value_error_at_fit():
    X, y = _sequences(n=40, steps=6)
    with pytest.raises(ValueError, match=r"layer 1 \(GRU\): needs samples of shape "
                                         r"\(steps, features\), got \(12,\)"):
        NeuralNetClassifier([Flatten(), GRU(3)]).fit(X, y)
    with pytest.raises(ValueError, match=r"samples of shape \(6, 2, 1\).*GRU.*\(6, 2, 1\)"):
        NeuralNetClassifier([GRU(3)]).fit(X[..., None], y)
    with pytest.raises(ValueError, match="activation"):
        NeuralNetClassifier([GRU(3, activation="gelu")]).fit(X, y)
    with pytest.raises(ValueError, match="layer"):
        NeuralNetClassifier([Bidirectional(Dense(3))]).fit(X, y)
    with pytest.raises(ValueError, match="different go_backwards"):
        NeuralNetClassifier([Bidirectional(GRU(3), backward_layer=GRU(3))]).fit(X, y)
    with pytest.raises(ValueError, match="same return_sequences"):
        NeuralNetClassifier([Bidirectional(GRU(3), backward_layer=GRU(
            3, go_backwards=True, return_sequences=True))]).fit(X, y)
    with pytest.raises(ValueError, match="flat vector"):
        NeuralNetClassifier([GRU(3, return_sequences=True)]).fit(X, y)
    model = NeuralNetClassifier([GRU(3)], max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match=r"14 features|samples of shape \(7, 2\)"):
        model.predict(np.zeros((2, 7, 2)))


def test_a_batch_beyond_memory_is_refused_before_training():
    # About 100 MB per sample (every step's gates kept for backpropagation through time):
    # 10,000 at a time need a terabyte.
    X = np.zeros((10000, 2000), dtype=np.float32)
    with pytest.raises(MemoryError, match="batch_size"):
        NeuralNetRegressor([GRU(1400)], batch_size=10000).fit(X, np.zeros(10000))


def test_prediction_passes_keep_their_workspace_small():
    # A recurrent layer keeps every step: predictions run in chunks of rows whose workspace
    # stays under 256 MB, whatever the number of rows, with the same outputs.
    X, y = _sequences(n=300, steps=12)
    clf = NeuralNetClassifier([LSTM(8)], max_iter=1, random_state=0).fit(X, y)
    assert clf._workspace_per_row > 12 * (2 * 2 + 11 * 8) + 4 * 8  # the LSTM's, and more
    assert clf._chunk_rows(4096, 8) == 4096
    big = NeuralNetClassifier([GRU(256, return_sequences=True), LastStep()])
    big._workspace_per_row = 1000 * (2 + 10 * 256)  # 1000 steps: 10-20 MB per sample
    assert big._chunk_rows(4096, 8) == 2**28 // (big._workspace_per_row * 8) == 13
    assert big._chunk_rows(4096, 4) == 26
    big._workspace_per_row = 2000  # 16 kB per sample in float64
    assert big._chunk_rows(100000, 8) == 2**28 // 16000
    proba = clf.predict_proba(X)
    clf._workspace_per_row = 2**24  # chunks of 2 rows
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_workspace_per_row_is_what_the_readme_states():
    # README "Recurrent layers": values kept per sample, T steps, d features, u units.
    T, d, u = 7, 3, 5
    cases = [(GRU(u, return_sequences=True), T * (2 * d + 10 * u) + 2 * u),
             (GRU(u), T * (2 * d + 9 * u) + 2 * u),
             (GRU(u, reset_after=False), T * (2 * d + 8 * u) + 3 * u),
             (LSTM(u), T * (2 * d + 11 * u) + 4 * u),
             (LSTM(u, return_sequences=True), T * (2 * d + 12 * u) + 4 * u)]
    for layer, want in cases:
        net = network([layer], (T, d))
        assert net.layout()[0]["workspace_per_row"] == want, layer


def test_noisy_sine_next_value_with_an_lstm():
    # The README's LSTM case, small: the next value of a noisy sine from the last 20.
    rng = np.random.default_rng(0)
    t = np.arange(3000) * 0.1
    s = np.sin(t) + 0.1 * rng.normal(size=t.size)
    X = np.lib.stride_tricks.sliding_window_view(s[:-1], 20)[:, :, None]
    y = s[20:]
    reg = NeuralNetRegressor([LSTM(16)], learning_rate_init=1e-2, batch_size=64, max_iter=8,
                             random_state=0).fit(X[:2000], y[:2000])
    assert reg.score(X[2000:], y[2000:]) > 0.95
