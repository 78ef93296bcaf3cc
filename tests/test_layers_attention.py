"""Token input and attention layers: Embedding, PositionEmbedding, LayerNormalization,
MultiHeadAttention, TransformerEncoder and Cropping1D. The fast attention against its naive
C++ oracle (impl="reference") and both against numpy, every layer against numpy, float64
finite differences of every backward (attention with and without causal, both norm orders,
dropout with a fixed mask), bitwise-equal results on 1 and 2 threads, and the errors for bad
tokens and shapes that name the layer."""

import pickle

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from _layer_checks import (
    check_input_gradient,
    check_parameter_gradient,
    network,
    numeric_gradient,
    random_params,
)
from fastmlp import NeuralNetClassifier
from fastmlp.layers import (
    Cropping1D,
    Dense,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    LastStep,
    LayerNormalization,
    MultiHeadAttention,
    PositionEmbedding,
    TransformerEncoder,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def slots(net, params, layer):
    """{slot name: array} of one layer of a core network, from the flat parameters."""
    return {p["name"]: params[p["offset"] : p["offset"] + int(np.prod(p["shape"]))]
            .reshape(p["shape"]) for p in net.layout()[layer]["params"]}


def mha_spec(heads, key_dim, impl="auto", **kwargs):
    spec = MultiHeadAttention(heads, key_dim, **kwargs)._core_spec()
    spec["args"]["impl"] = impl
    return spec


def numpy_softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def numpy_mha(x, w, causal=False, prefix=""):
    """Keras's MultiHeadAttention(query=key=value=x) with the weights `w` (by slot name)."""
    def project(name):
        out = np.einsum("nld,dhk->nhlk", x, w[f"{prefix}{name}/kernel"])
        bias = w.get(f"{prefix}{name}/bias")
        return out if bias is None else out + bias[None, :, None, :]

    q, k, v = project("query"), project("key"), project("value")
    s = np.einsum("nhik,nhjk->nhij", q, k) / np.sqrt(q.shape[-1])
    if causal:
        steps = x.shape[1]
        s = np.where(np.tril(np.ones((steps, steps), bool)), s, -np.inf)
    o = np.einsum("nhij,nhjv->nhiv", numpy_softmax(s), v)
    return np.einsum("nhiv,hvd->nid", o, w[f"{prefix}attention_output/kernel"]) + w.get(
        f"{prefix}attention_output/bias", 0.0)


def numpy_layer_norm(x, gamma=1.0, beta=0.0, eps=1e-3):
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def numpy_transformer(x, w, norm_first, activation, causal, eps=1e-5):
    def norm(z, part):
        return numpy_layer_norm(z, w[f"{part}/gamma"], w[f"{part}/beta"], eps)

    def ff(z):
        hidden = z @ w["feedforward_intermediate_dense/kernel"] + w[
            "feedforward_intermediate_dense/bias"]
        hidden = np.maximum(hidden, 0) if activation == "relu" else 0.5 * hidden * (
            1 + np.tanh(np.sqrt(2 / np.pi) * (hidden + 0.044715 * hidden**3)))
        return hidden @ w["feedforward_output_dense/kernel"] + w["feedforward_output_dense/bias"]

    def attend(z):
        return numpy_mha(z, w, causal, prefix="self_attention/")

    if norm_first:
        h = x + attend(norm(x, "self_attention_layer_norm"))
        return h + ff(norm(h, "feedforward_layer_norm"))
    h = norm(x + attend(x), "self_attention_layer_norm")
    return norm(h + ff(h), "feedforward_layer_norm")


# ---------------------------------------------------------------- Embedding


def test_embedding_looks_up_rows_and_its_gradient_adds_them():
    rng = np.random.default_rng(0)
    net = network([Embedding(7, 3)], (5,), output="identity", loss="squared_error")
    assert net.output_shape == (5, 3)
    assert [(p["name"], p["shape"], p["decayed"]) for p in net.layout()[0]["params"]] == [
        ("embeddings", (7, 3), True)]
    params = random_params(net, rng)
    table = params.reshape(7, 3)
    tokens = rng.integers(0, 7, size=(4, 5)).astype(float)
    np.testing.assert_array_equal(net.forward(params, tokens).reshape(4, 5, 3),
                                  table[tokens.astype(int)])
    g = rng.normal(size=(4, 15))
    grad = np.empty(net.n_params)
    net.forward(params, tokens)
    dx = net.backward(params, grad, g.copy(), input_grad=True)
    want = np.zeros((7, 3))
    np.add.at(want, tokens.astype(int).ravel(), g.reshape(-1, 3))
    np.testing.assert_allclose(grad.reshape(7, 3), want, rtol=1e-14)
    np.testing.assert_array_equal(dx, 0.0)  # tokens have no gradient


def test_embedding_stack_gradient_by_finite_differences():
    rng = np.random.default_rng(1)
    layers = [Embedding(6, 4), PositionEmbedding(5), LayerNormalization(), Flatten(), Dense(2)]
    net = network(layers, (5,))
    X = rng.integers(0, 6, size=(3, 5)).astype(float)
    Y = rng.uniform(0.1, 0.9, size=(3, 2))
    params = random_params(net, rng)
    grad = np.empty(net.n_params)
    net.loss_grad(params, grad, X, Y, None, 0.3)
    scratch = np.empty(net.n_params)
    numeric = numeric_gradient(lambda: net.loss_grad(params, scratch, X, Y, None, 0.3),
                               params[: net.n_params])
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_embedding_gives_nan_rows_for_values_that_are_no_tokens():
    net = network([Embedding(4, 2)], (5,), output="identity", loss="squared_error")
    params = np.arange(8.0)
    y = net.forward(params, np.array([[0.0, 3.0, 4.0, 1.5, -1.0]])).reshape(5, 2)
    np.testing.assert_array_equal(y[:2], [[0, 1], [6, 7]])
    assert np.isnan(y[2:]).all()


def test_embedding_refuses_a_vocabulary_float32_cannot_carry():
    network([Embedding(2**24, 1)], (2,), dtype=np.float32)
    with pytest.raises(ValueError, match=r"layer 0 \(Embedding\): input_dim 16777217 is above "
                                         r"16777216.*precision='float64'"):
        network([Embedding(2**24 + 1, 1)], (2,), dtype=np.float32)


# ---------------------------------------------------------------- position, norm, crop


def test_position_embedding_adds_its_table_and_checks_the_length():
    rng = np.random.default_rng(2)
    net = network([PositionEmbedding(9)], (6, 3), output="identity", loss="squared_error")
    params = random_params(net, rng)
    assert net.layout()[0]["params"][0]["shape"] == (9, 3)
    x = rng.normal(size=(4, 6, 3))
    np.testing.assert_allclose(net.forward(params, x.reshape(4, -1)).reshape(x.shape),
                               x + params.reshape(9, 3)[:6], rtol=1e-15)
    check_parameter_gradient([Dense(3), PositionEmbedding(6), Flatten(), Dense(2)], (6, 2))
    check_input_gradient([PositionEmbedding(6)], (6, 2))
    with pytest.raises(ValueError, match=r"layer 1 \(PositionEmbedding\): a sequence of 42 "
                                         r"steps \(input shape \(42, 8\)\) is longer than "
                                         r"max_length 41"):
        network([Embedding(5, 8), PositionEmbedding(41)], (42,))


@pytest.mark.parametrize("shape", [(1,), (7,), (6, 33), (2, 3, 5)])
@pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"scale": False, "epsilon": 1e-5}])
def test_layer_normalization_matches_numpy_and_finite_differences(shape, kwargs):
    rng = np.random.default_rng(3)
    layer = LayerNormalization(**kwargs)
    net = network([layer], shape, output="identity", loss="squared_error")
    assert net.n_state == 0 and not network([Dense(2), layer], shape).layout()[1]["states"]
    params = random_params(net, rng)
    w = slots(net, params, 0)
    x = rng.normal(loc=1.5, size=(5,) + shape)
    want = numpy_layer_norm(x, w.get("gamma", 1.0), w.get("beta", 0.0),
                            kwargs.get("epsilon", 1e-3))
    np.testing.assert_allclose(net.forward(params, x.reshape(5, -1)).reshape(x.shape), want,
                               rtol=1e-12, atol=1e-12)
    check_input_gradient([layer], shape, n=3)
    check_parameter_gradient([Dense(shape[-1] + 1), layer, Dense(2)], shape, n=4)


def test_cropping1d_keeps_the_middle_and_reads_out_the_last_step():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 7, 2))
    for cropping, want in [((2, 1), x[:, 2:6]), (1, x[:, 1:6]), ((6, 0), x[:, 6:])]:
        net = network([Cropping1D(cropping)], (7, 2), output="identity", loss="squared_error")
        assert net.output_shape == want.shape[1:]
        np.testing.assert_array_equal(net.forward(np.zeros(0), x.reshape(3, -1)),
                                      want.reshape(3, -1))
    check_input_gradient([Cropping1D((2, 3))], (7, 2))
    with pytest.raises(ValueError, match=r"layer 0 \(Cropping1D\): cropping \(4, 3\) leaves no "
                                         r"step of input shape \(7, 2\)"):
        network([Cropping1D((4, 3))], (7, 2))


# ---------------------------------------------------------------- attention

ATTENTION_CASES = [  # (steps, features, heads, key_dim, kwargs)
    (1, 3, 1, 2, {}), (2, 4, 2, 3, {"causal": True}), (7, 5, 3, 2, {}),
    (16, 8, 2, 16, {"causal": True}), (17, 6, 1, 16, {"value_dim": 5}),
    (33, 4, 2, 3, {"use_bias": False}), (41, 64, 2, 32, {}), (41, 64, 2, 32, {"causal": True}),
]


@pytest.mark.parametrize("steps,features,heads,key_dim,kwargs", ATTENTION_CASES)
def test_attention_matches_the_reference_and_numpy(steps, features, heads, key_dim, kwargs):
    rng = np.random.default_rng(5)
    fast = network([mha_spec(heads, key_dim, **kwargs)], (steps, features), output="identity",
                   loss="squared_error")
    ref = network([mha_spec(heads, key_dim, "reference", **kwargs)], (steps, features),
                  output="identity", loss="squared_error")
    params = random_params(fast, rng)
    x = rng.normal(size=(3, steps, features))
    want = numpy_mha(x, slots(fast, params, 0), kwargs.get("causal", False))
    for net in (fast, ref):
        np.testing.assert_allclose(net.forward(params, x.reshape(3, -1)).reshape(x.shape), want,
                                   rtol=1e-11, atol=1e-12)
    g = rng.normal(size=(3, steps * features))
    out = []
    for net in (fast, ref):
        net.forward(params, x.reshape(3, -1))
        grad = np.empty(net.n_params)
        out.append((grad, net.backward(params, grad, g.copy(), input_grad=True)))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-11, atol=1e-12)


def test_attention_slots_are_keras_shaped():
    net = network([MultiHeadAttention(3, 4, value_dim=5)], (6, 7))
    assert [(p["name"], p["shape"], p["decayed"]) for p in net.layout()[0]["params"]] == [
        ("query/kernel", (7, 3, 4), True), ("query/bias", (3, 4), False),
        ("key/kernel", (7, 3, 4), True), ("key/bias", (3, 4), False),
        ("value/kernel", (7, 3, 5), True), ("value/bias", (3, 5), False),
        ("attention_output/kernel", (3, 5, 7), True), ("attention_output/bias", (7,), False)]


@pytest.mark.parametrize("impl", ["auto", "reference"])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_gradients(impl, causal):
    layers = [mha_spec(2, 3, impl, causal=causal), Flatten(), Dense(2)]
    check_parameter_gradient(layers, (5, 4), n=3)
    check_input_gradient([mha_spec(2, 3, impl, causal=causal, value_dim=2)], (5, 4), n=2)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_dropout_has_fixed_masks(causal):
    layers = [mha_spec(2, 3, dropout=0.4, causal=causal), Flatten(), Dense(2)]
    check_parameter_gradient(layers, (6, 4), n=3, dropout_seed=11)
    net = network([mha_spec(2, 3, dropout=0.4, causal=causal)], (6, 4), output="identity",
                  loss="squared_error")
    ref = network([mha_spec(2, 3, "reference", dropout=0.4, causal=causal)], (6, 4),
                  output="identity", loss="squared_error")
    rng = np.random.default_rng(6)
    params = random_params(net, rng)
    x = rng.normal(size=(4, 24))
    a = net.forward(params, x, training=True, seed=3)
    np.testing.assert_allclose(ref.forward(params, x, training=True, seed=3), a, rtol=1e-11)
    np.testing.assert_array_equal(net.forward(params, x, training=True, seed=3), a)
    assert not np.allclose(net.forward(params, x, training=True, seed=4), a)
    np.testing.assert_allclose(net.forward(params, x), numpy_mha(
        x.reshape(4, 6, 4), slots(net, params, 0), causal).reshape(4, -1), rtol=1e-11)


TRANSFORMER_CASES = [  # (norm_first, activation, causal)
    (True, "relu", False), (True, "gelu", True), (False, "relu", True), (False, "gelu", False),
]


@pytest.mark.parametrize("norm_first,activation,causal", TRANSFORMER_CASES)
def test_transformer_encoder_matches_numpy(norm_first, activation, causal):
    rng = np.random.default_rng(7)
    layer = TransformerEncoder(2, 3, 5, norm_first=norm_first, activation=activation,
                               causal=causal)
    net = network([layer], (7, 4), output="identity", loss="squared_error")
    params = random_params(net, rng)
    x = rng.normal(size=(3, 7, 4))
    want = numpy_transformer(x, slots(net, params, 0), norm_first, activation, causal)
    np.testing.assert_allclose(net.forward(params, x.reshape(3, -1)).reshape(x.shape), want,
                               rtol=1e-10, atol=1e-12)


def test_transformer_encoder_slots_are_its_parts():
    net = network([TransformerEncoder(2, 3, 5)], (7, 4))
    names = [p["name"] for p in net.layout()[0]["params"]]
    assert names == [
        "self_attention_layer_norm/gamma", "self_attention_layer_norm/beta",
        "self_attention/query/kernel", "self_attention/query/bias",
        "self_attention/key/kernel", "self_attention/key/bias",
        "self_attention/value/kernel", "self_attention/value/bias",
        "self_attention/attention_output/kernel", "self_attention/attention_output/bias",
        "feedforward_layer_norm/gamma", "feedforward_layer_norm/beta",
        "feedforward_intermediate_dense/kernel", "feedforward_intermediate_dense/bias",
        "feedforward_output_dense/kernel", "feedforward_output_dense/bias"]
    # 2 norms + attention (3 (4x6 + 6) + 6x4 + 4) + 4x5 + 5 + 5x4 + 4
    assert net.n_params == 16 + 3 * 30 + 28 + 25 + 24


@pytest.mark.parametrize("norm_first,activation,causal", TRANSFORMER_CASES)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_transformer_encoder_gradients(norm_first, activation, causal, dropout):
    layer = TransformerEncoder(2, 3, 5, dropout=dropout, norm_first=norm_first,
                               activation=activation, causal=causal)
    # relu's kink: a difference step that crosses it is off by about eps * slope
    atol = 1e-6 if activation == "relu" else 1e-7
    check_parameter_gradient([Dense(4), layer, Flatten(), Dense(2)], (6, 3), n=3,
                             dropout_seed=5 if dropout else None, scale=0.4, atol=atol)
    check_input_gradient([layer], (6, 4), n=2, training=bool(dropout), atol=atol)


def _last_step_pair(make, steps):
    """The same stack read out by LastStep (the layer then computes its last step alone)
    and by Cropping1D + Flatten (every step computed): one function, one parameter layout."""
    kw = dict(output="identity", loss="squared_error")
    return (network([Dense(4), make(), LastStep(), Dense(2)], (steps, 3), **kw),
            network([Dense(4), make(), Cropping1D((steps - 1, 0)), Flatten(), Dense(2)],
                    (steps, 3), **kw))


LAST_STEP_CASES = [  # the layer, whether it drops
    *[(lambda rate=rate, nf=nf, a=a, c=c: TransformerEncoder(
        2, 3, 5, dropout=rate, norm_first=nf, activation=a, causal=c), rate > 0)
      for rate in (0.0, 0.3) for nf, a, c in TRANSFORMER_CASES],
    (lambda: mha_spec(2, 3), False), (lambda: mha_spec(2, 3, causal=True, value_dim=2), False),
    (lambda: mha_spec(2, 3, dropout=0.4), True),
]


@pytest.mark.parametrize("make,drops", LAST_STEP_CASES)
@pytest.mark.parametrize("steps", [1, 6, 17])
def test_a_layer_read_by_last_step_gives_the_same_function_and_gradients(make, drops, steps):
    last, every = _last_step_pair(make, steps)
    macs = [net.layout()[1]["macs_per_row"] for net in (last, every)]
    assert macs[0] < macs[1] or steps == 1
    rng = np.random.default_rng(steps)
    params = random_params(last, rng)
    x = rng.normal(size=(5, steps * 3))
    Y = rng.normal(size=(5, 2))
    seed = 5 if drops else None
    np.testing.assert_allclose(last.forward(params, x, training=drops, seed=5),
                               every.forward(params, x, training=drops, seed=5), rtol=1e-12,
                               atol=1e-13)
    grads = []
    for net in (last, every):
        grad = np.empty(net.n_params)
        loss = net.loss_grad(params, grad, x, Y, None, 0.3, training=drops, dropout_seed=seed)
        grads.append((loss, grad))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-12)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("norm_first", [True, False])
def test_a_block_read_by_last_step_passes_finite_differences(norm_first):
    layer = TransformerEncoder(2, 3, 5, dropout=0.3, norm_first=norm_first, causal=True)
    check_parameter_gradient([Dense(4), layer, LastStep(), Dense(2)], (6, 3), n=3,
                             dropout_seed=5, scale=0.4, atol=1e-6)
    check_input_gradient([TransformerEncoder(2, 3, 5, norm_first=norm_first), LastStep()],
                         (6, 4), n=2, atol=1e-6)
    check_input_gradient([mha_spec(2, 3, value_dim=2), LastStep()], (6, 4), n=2)


def test_transformer_dropout_masks_depend_on_the_seed_only():
    layers = [TransformerEncoder(2, 3, 5, dropout=0.5), Flatten(), Dense(2)]
    net = network(layers, (6, 4), output="identity", loss="squared_error", chunk_rows=8)
    rng = np.random.default_rng(8)
    params = random_params(net, rng)
    x = rng.normal(size=(5, 24))
    a = net.forward(params, x, training=True, seed=1)
    b = net.forward(params, x, training=True, seed=2)
    assert not np.allclose(a, b)
    # rows 2.. of the same pass, started at data row 2: the same masks
    np.testing.assert_array_equal(net.forward(params, x[2:], training=True, seed=1, first=2),
                                  a[2:])


@pytest.mark.parametrize("layers,shape,message", [
    ([MultiHeadAttention(2, 4)], (20,), r"layer 0 \(MultiHeadAttention\): needs samples of "
                                        r"shape \(steps, features\), got \(20,\)"),
    ([TransformerEncoder(2, 4, 8)], (3, 4, 5), r"layer 0 \(TransformerEncoder\): needs samples "
                                               r"of shape \(steps, features\), got \(3, 4, 5\)"),
    ([Flatten(), PositionEmbedding(4)], (2, 2), r"layer 1 \(PositionEmbedding\): needs samples "
                                                r"of shape \(steps, features\), got \(4,\)"),
    ([Cropping1D(1)], (6,), r"layer 0 \(Cropping1D\): needs samples of shape \(steps, "
                            r"channels\), got \(6,\)"),
])
def test_shape_errors_name_the_layer_and_the_shapes(layers, shape, message):
    with pytest.raises(ValueError, match=message):
        network(layers, shape)


# ---------------------------------------------------------------- threads and estimators


def _tokens(n=96, steps=8, seed=0):
    """A small copy task: the label is the token at the position the last token names."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 4, size=(n, steps - 1))
    p = rng.integers(0, steps - 1, size=n)
    X = np.concatenate([values, (4 + p)[:, None]], axis=1)
    return X, values[np.arange(n), p]


def _transformer(dropout=0.0, causal=False, last_step=False, **kwargs):
    layers = [Embedding(12, 8), PositionEmbedding(8),
              TransformerEncoder(2, 4, 16, dropout=dropout, causal=causal),
              TransformerEncoder(2, 4, 16, dropout=dropout, norm_first=False),
              *([LastStep()] if last_step else [Cropping1D((7, 0)), Flatten()])]
    return NeuralNetClassifier(layers, solver="adamw", learning_rate="cosine", warmup_iters=1,
                               batch_size=32, max_iter=3, random_state=0, **kwargs)


@pytest.mark.parametrize("dropout,causal,last_step",
                         [(0.0, False, False), (0.2, True, False), (0.2, True, True)])
def test_fit_is_bitwise_the_same_on_one_and_two_threads(dropout, causal, last_step):
    X, y = _tokens()
    fits = []
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="openmp"):
            clf = _transformer(dropout, causal, last_step).fit(X, y)
            fits.append((clf._packed_params().copy(), clf.predict_proba(X)))
    np.testing.assert_array_equal(fits[0][0], fits[1][0])
    np.testing.assert_array_equal(fits[0][1], fits[1][1])


def test_core_gradient_is_bitwise_the_same_on_one_and_two_threads():
    rng = np.random.default_rng(9)
    layers = [Embedding(50, 64), PositionEmbedding(41), TransformerEncoder(2, 32, 64),
              TransformerEncoder(2, 32, 64, causal=True, dropout=0.1), GlobalAveragePooling1D(),
              Dense(10)]
    grads = []
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="openmp"):
            net = network(layers, (41,), chunk_rows=64, output="softmax", loss="log_loss",
                          dtype=np.float32)
            params = (random_params(net, np.random.default_rng(0)) * 0.2).astype(np.float32)
            X = rng.integers(0, 50, size=(64, 41)).astype(np.float32) if not grads else X
            Y = np.eye(10, dtype=np.float32)[np.arange(64) % 10]
            grad = np.empty(net.n_params, np.float32)
            net.loss_grad(params, grad, X, Y, None, 0.0, dropout_seed=3)
            grads.append(grad)
    np.testing.assert_array_equal(grads[0], grads[1])


def test_transformer_classifier_layers_summary_and_pickle(capsys):
    X, y = _tokens()
    clf = _transformer(max_grad_norm=1.0).set_params(max_iter=2).fit(X, y)
    assert [f.name for f in clf.layers_] == [
        "embedding", "position_embedding", "transformer_encoder", "transformer_encoder_1",
        "cropping1d", "flatten", "dense"]
    assert clf.layers_[2].output_shape == (8, 8) and clf.layers_[4].output_shape == (1, 8)
    assert clf.layers_[0].weights["embeddings"].shape == (12, 8)
    assert clf.layers_[2].weights["self_attention/query/kernel"].shape == (8, 2, 4)
    attention = 3 * (8 * 8 + 8) + 8 * 8 + 8
    assert clf.layers_[2].n_params == 2 * 16 + attention + 8 * 16 + 16 + 16 * 8 + 8
    clf.summary()
    out = capsys.readouterr().out
    assert "transformer_encoder (TransformerEncoder)" in out and "(None, 8, 8)" in out
    assert "embedding (Embedding)" in out and "(None, 8, 8)" in out
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


def test_transformer_learns_the_small_copy_task():
    X, y = _tokens(n=1500)
    layers = [Embedding(12, 16), PositionEmbedding(8), TransformerEncoder(2, 8, 32),
              Cropping1D((7, 0)), Flatten()]
    clf = NeuralNetClassifier(layers, solver="adamw", learning_rate="cosine", warmup_iters=2,
                              learning_rate_init=3e-3, batch_size=32, max_iter=30,
                              random_state=0, precision="float32")
    clf.fit(X[:1200], y[:1200])
    assert clf.score(X[1200:], y[1200:]) > 0.95


@pytest.mark.parametrize("X,message", [
    (np.array([[0, 1], [2, 12]]), r"X\[1, 1\] = 12 is outside \[0, 12\)"),
    (np.array([[0, -1], [2, 3]]), r"X\[0, 1\] = -1 is outside \[0, 12\)"),
    (np.array([[0.0, 1.0], [2.5, 3.0]]), r"X\[1, 0\] = 2.5 is not an integer"),
    (np.array([[0.0, np.nan], [2.0, 3.0]]), r"X\[0, 1\] = nan is not an integer"),
    (np.array([[True, False], [True, True]]), r"X has dtype bool: pass an integer array"),
    (np.array([["a", "b"], ["c", "d"]]), r"X has dtype <U1"),
])
def test_bad_tokens_are_value_errors_naming_the_first_one(X, message):
    clf = NeuralNetClassifier([Embedding(12, 4), Flatten()], max_iter=1)
    prefix = r"layers\[0\] \(Embedding\(input_dim=12\)\) takes integer tokens"
    with pytest.raises(ValueError, match=prefix + ".*" + message):
        clf.fit(X, [0, 1])
    good = np.array([[0, 1], [2, 11]])
    clf.fit(good.astype(np.float32), [0, 1])  # integral floats are tokens too
    before = clf.predict_proba(good)
    with pytest.raises(ValueError, match=message):
        clf.predict(X)
    with pytest.raises(ValueError, match=r"X_val\[1, 1\] = 12 is outside"):
        clf.fit(good, [0, 1], validation_data=(np.array([[0, 1], [2, 12]]), [0, 1]))
    np.testing.assert_array_equal(clf.predict_proba(good), before)  # the model is kept


def test_embedding_must_be_the_first_layer():
    clf = NeuralNetClassifier([Dense(4), Embedding(12, 4), Flatten()], max_iter=1)
    with pytest.raises(ValueError, match=r"layers\[1\] \(Embedding\) reads the integer tokens "
                                         r"of X, so it must be the first layer"):
        clf.fit(np.zeros((4, 3)), [0, 1, 0, 1])


def test_attention_workspace_that_cannot_fit_is_a_memory_error_before_training():
    # 4,000 steps: 4 heads x 4000 x 4000 attention weights per sample, kept twice (the
    # weights and their gradient): 1 GiB a sample, 200 samples per batch
    clf = NeuralNetClassifier([Embedding(5, 8), TransformerEncoder(4, 2, 8),
                               GlobalAveragePooling1D()], batch_size=200, max_iter=1)
    with pytest.raises(MemoryError, match=r"processing 200 rows at a time needs at least"):
        clf.fit(np.zeros((400, 4000), dtype=np.int64), np.arange(400) % 2)
    assert not hasattr(clf, "layers_")
