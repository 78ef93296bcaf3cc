"""Training beyond scikit-learn: dropout, solver='adamw', max_grad_norm and
learning_rate='cosine' with warmup_iters.

numpy oracles in float64 for the dropout masks (a transcription of the splitmix64 hash),
the dropped forward pass, the AdamW step, gradient clipping and the cosine schedule; the
estimators' parameters, errors, pickling, thread-count independence and defaults that
keep scikit-learn's behaviour. The finite-difference check with a fixed dropout mask is
in tests/test_gradcheck.py.
"""

import inspect
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_regression

from fastmlp import MLPAutoencoder, MLPClassifier, MLPRegressor, _core

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EXTRAS = {"dropout": 0.0, "max_grad_norm": None, "warmup_iters": 0}


# ------------------------------------------------------------------ dropout masks
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _numpy_mask(rows, width, p, seed, layer):
    """The mask of csrc/nn/dropout.h: splitmix64 stream per (seed, layer), by row and unit."""
    with np.errstate(over="ignore"):
        stream = _mix64(_mix64(np.array([seed], dtype=np.uint64)) + np.uint64(layer))
        counter = (np.asarray(rows, dtype=np.uint64)[:, None] * np.uint64(width)
                   + np.arange(width, dtype=np.uint64)[None, :])
        bits = _mix64(stream + (counter + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15))
    u = (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.where(u >= p, 1.0 / (1.0 - p), 0.0)


@pytest.mark.parametrize("layer", [0, 3])
def test_dropout_mask_matches_numpy_hash(layer):
    rng = np.random.default_rng(0)
    rows = rng.permutation(50)[:17].astype(np.int64)
    a = rng.normal(size=(17, 9))
    y, mask = np.empty_like(a), np.empty_like(a)
    _core.f64.dropout_forward(y, mask, a, rows, 0.3, 12345, layer)
    np.testing.assert_array_equal(mask, _numpy_mask(rows, 9, 0.3, 12345, layer))
    np.testing.assert_array_equal(y, a * mask)


def test_dropout_mask_depends_on_data_rows_not_positions():
    a = np.ones((40, 5))
    rows = np.arange(40, dtype=np.int64)
    perm = np.random.default_rng(1).permutation(40).astype(np.int64)
    y, m_in_order, m_perm = np.empty_like(a), np.empty_like(a), np.empty_like(a)
    _core.f64.dropout_forward(y, m_in_order, a, rows, 0.5, 7, 0)
    _core.f64.dropout_forward(y, m_perm, a, perm, 0.5, 7, 0)
    np.testing.assert_array_equal(m_perm, m_in_order[perm])
    _core.f64.dropout_forward(y, m_perm, a, None, 0.5, 7, 0)  # None: rows 0..n-1
    np.testing.assert_array_equal(m_perm, m_in_order)
    _core.f64.dropout_forward(y, m_perm, a, rows, 0.5, 8, 0)  # another seed, other masks
    assert not np.array_equal(m_perm, m_in_order)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_keeps_one_minus_p_and_scales_kept_units(dtype, p):
    a = np.ones((1000, 64), dtype=dtype)
    y, mask = np.empty_like(a), np.empty_like(a)
    kernels = _core.f32 if dtype == np.float32 else _core.f64
    kernels.dropout_forward(y, mask, a, None, p, 2024, 1)
    kept = mask != 0
    n = kept.size
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_array_equal(mask[kept], dtype(1.0 / (1.0 - p)))
    # Inverted dropout keeps the expected activation: mean(y) ~ mean(a).
    assert abs(y.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / n)


def _one_hidden_net(dropout, hidden="tanh"):
    sizes = [4, 6, 3]
    net = _core.Network64(sizes, hidden, "identity", "squared_error", 8, dropout=dropout)
    rng = np.random.default_rng(3)
    params = rng.normal(scale=0.7, size=net.n_params)
    X, Y = rng.normal(size=(11, 4)), rng.normal(size=(11, 3))
    W0, W1 = params[:24].reshape(4, 6), params[24:42].reshape(6, 3)
    b0, b1 = params[42:48], params[48:51]
    return net, params, X, Y, (W0, b0, W1, b1)


def test_network_loss_with_dropout_matches_numpy():
    net, params, X, Y, (W0, b0, W1, b1) = _one_hidden_net([0.4])
    seed = 99
    mask = _numpy_mask(np.arange(len(X)), 6, 0.4, seed, 0)
    out = (np.tanh(X @ W0 + b0) * mask) @ W1 + b1
    expected = ((out - Y) ** 2).mean() / 2
    grad = np.empty_like(params)
    loss = net.loss_grad(params, grad, X, Y, None, 0.0, dropout_seed=seed)
    assert loss == pytest.approx(expected, rel=1e-12)
    # Without a seed (scoring, L-BFGS) nothing is dropped: the plain network's loss.
    plain = ((np.tanh(X @ W0 + b0) @ W1 + b1 - Y) ** 2).mean() / 2
    assert net.loss_grad(params, grad, X, Y, None, 0.0) == pytest.approx(plain, rel=1e-12)


def test_network_predict_never_drops():
    net, params, X, _, _ = _one_hidden_net([0.5])
    plain, _, _, _, _ = _one_hidden_net([])
    out, ref = np.empty((len(X), 3)), np.empty((len(X), 3))
    net.predict(params, X, out)
    plain.predict(params, X, ref)
    np.testing.assert_array_equal(out, ref)


def test_network_refuses_bad_dropout():
    with pytest.raises(ValueError, match="one rate per hidden layer"):
        _core.Network64([3, 4, 5, 2], "relu", "identity", "squared_error", 8, dropout=[0.1])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        _core.Network64([3, 4, 2], "relu", "identity", "squared_error", 8, dropout=[1.0])


# ------------------------------------------------------------------ optimizer oracles
def _problem(seed=0, n=24, sizes=(5, 8, 2)):
    rng = np.random.default_rng(seed)
    net = _core.Network64(list(sizes), "tanh", "identity", "squared_error", n)
    params = rng.normal(scale=0.5, size=net.n_params)
    X, Y = rng.normal(size=(n, sizes[0])), rng.normal(size=(n, sizes[-1]))
    n_coefs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return net, params, X, Y, n_coefs


def _epoch(net, params, state_a, state_b, t, solver, lr, X, Y, batch, alpha, **kw):
    return net.train_epoch(params, state_a, state_b, t, solver, lr, 0.0, False, 0.9, 0.999,
                           1e-8, X, Y, None, None, batch, alpha, **kw)


def test_adamw_matches_numpy():
    net, params, X, Y, n_coefs = _problem()
    alpha, lr, b1, b2, eps = 0.05, 0.01, 0.9, 0.999, 1e-8
    w = params.copy()
    m, v = np.zeros_like(w), np.zeros_like(w)
    ref, rm, rv = params.copy(), np.zeros_like(w), np.zeros_like(w)
    t = 0
    for step in range(1, 4):
        g = np.empty_like(ref)
        data_loss = net.loss_grad(ref, g, X, Y, None, 0.0)  # no L2 term for adamw
        rm = b1 * rm + (1 - b1) * g
        rv = b2 * rv + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
        ref[:n_coefs] *= 1 - lr * alpha  # decoupled decay: weights only
        ref -= lr_t * rm / (np.sqrt(rv) + eps)
        loss, t = _epoch(net, w, m, v, t, "adamw", lr, X, Y, len(X), alpha)
        assert t == step
        assert loss == pytest.approx(data_loss, rel=1e-12)  # loss_ holds no penalty
        np.testing.assert_allclose(w, ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(m, rm, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_commit_receives_the_state_from_before_the_epoch(solver):
    # The estimators' Ctrl-C undo: train_epoch copies the arrays it is about to change.
    net, params, X, Y, _ = _problem(3)
    w, a, b = params.copy(), np.full_like(params, 0.25), np.full_like(params, 0.5)
    live = (w, a) if solver == "sgd" else (w, a, b)
    before = [x.copy() for x in live]
    commit = [np.full_like(x, np.nan) for x in live]
    _epoch(net, w, a, b, 0, solver, 0.01, X, Y, 8, 0.1, commit=commit)
    for got, want, now in zip(commit, before, live):
        np.testing.assert_array_equal(got, want)
        assert not np.array_equal(now, want)
    with pytest.raises(ValueError, match="commit has 3 elements"):
        _epoch(net, w, a, b, 0, solver, 0.01, X, Y, 8, 0.1, commit=[np.empty(3)])
    with pytest.raises(ValueError, match="more arrays than the epoch changes"):
        _epoch(net, w, a, b, 0, solver, 0.01, X, Y, 8, 0.1, commit=commit + [w.copy()] * 2)
    with pytest.raises(ValueError, match="C-contiguous float64"):
        _epoch(net, w, a, b, 0, solver, 0.01, X, Y, 8, 0.1, commit=[w.astype(np.float32)])


def test_adamw_without_alpha_is_adam():
    net, params, X, Y, _ = _problem(1)
    runs = []
    for solver in ("adam", "adamw"):
        w, m, v = params.copy(), np.zeros_like(params), np.zeros_like(params)
        _epoch(net, w, m, v, 0, solver, 0.01, X, Y, 8, 0.0)
        runs.append(w)
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("max_norm", [0.05, 1e6])
def test_clipping_matches_numpy(max_norm):
    net, params, X, Y, _ = _problem(2)
    alpha, lr = 0.3, 0.5
    g = np.empty_like(params)
    net.loss_grad(params, g, X, Y, None, alpha)  # with L2 term and 1/S: what is clipped
    norm = np.linalg.norm(g)
    ref = params - lr * g * min(1.0, max_norm / norm)
    w, vel = params.copy(), np.zeros_like(params)
    _epoch(net, w, vel, vel, 0, "sgd", lr, X, Y, len(X), alpha, max_grad_norm=max_norm)
    np.testing.assert_allclose(w, ref, rtol=1e-12, atol=1e-15)
    if max_norm > norm:  # no clipping: bitwise the step without it
        w2, vel2 = params.copy(), np.zeros_like(params)
        _epoch(net, w2, vel2, vel2, 0, "sgd", lr, X, Y, len(X), alpha)
        np.testing.assert_array_equal(w, w2)


def test_clipping_with_adamw_uses_the_data_gradient():
    net, params, X, Y, n_coefs = _problem(3)
    alpha, lr, max_norm = 0.1, 0.01, 0.02
    g = np.empty_like(params)
    net.loss_grad(params, g, X, Y, None, 0.0)
    g *= min(1.0, max_norm / np.linalg.norm(g))
    m, v = 0.1 * g, 0.001 * g * g
    ref = params.copy()
    ref[:n_coefs] *= 1 - lr * alpha
    ref -= lr * np.sqrt(1 - 0.999) / (1 - 0.9) * m / (np.sqrt(v) + 1e-8)
    w, sm, sv = params.copy(), np.zeros_like(params), np.zeros_like(params)
    _epoch(net, w, sm, sv, 0, "adamw", lr, X, Y, len(X), alpha, max_grad_norm=max_norm)
    np.testing.assert_allclose(w, ref, rtol=1e-10, atol=1e-14)


def _cosine(base, s, W, S):
    if s < W:
        return base * (s + 1) / W
    return base * 0.5 * (1 + np.cos(np.pi * min(s - W, S - W) / (S - W)))


def test_cosine_learning_rate_matches_numpy():
    for W, S in [(0, 10), (3, 10), (9, 10), (0, 1)]:
        for s in range(S + 3):
            assert _core.cosine_learning_rate(0.1, s, W, S) == pytest.approx(
                _cosine(0.1, s, W, S), rel=1e-14, abs=1e-18)
    assert _core.cosine_learning_rate(0.1, 12, 2, 12) == 0.0  # and stays 0 past the end
    with pytest.raises(ValueError):
        _core.cosine_learning_rate(0.1, 0, 5, 5)


def test_cosine_schedule_in_training_matches_numpy():
    net, params, X, Y, _ = _problem(4)
    base, batch, epochs, warmup = 0.3, 8, 3, 1  # 3 steps per epoch
    per_epoch = len(X) // batch
    S, W = epochs * per_epoch, warmup * per_epoch
    ref = params.copy()
    g = np.empty_like(ref)
    for s in range(S):
        rows = slice((s % per_epoch) * batch, (s % per_epoch + 1) * batch)
        net.loss_grad(ref, g, X[rows], Y[rows], None, 0.0)
        ref -= _cosine(base, s, W, S) * g
    w, vel = params.copy(), np.zeros_like(params)
    for e in range(epochs):
        _epoch(net, w, vel, vel, 0, "sgd", base, X, Y, batch, 0.0, step=e * per_epoch,
               schedule="cosine", warmup_steps=W, total_steps=S)
    np.testing.assert_allclose(w, ref, rtol=1e-12, atol=1e-14)


def _sklearn_init(sizes, seed):
    """scikit-learn's Glorot-uniform draws for relu, packed as fastmlp packs them."""
    rng = np.random.RandomState(seed)
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return np.concatenate([a.ravel() for a in coefs + intercepts])


def test_estimator_cosine_with_warmup_matches_numpy():
    X, y = make_regression(n_samples=40, n_features=3, noise=1.0, random_state=0)
    y = y / y.std()
    batch, epochs, warmup = 10, 4, 1
    est = MLPRegressor(
        hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, learning_rate="cosine",
        learning_rate_init=0.05, warmup_iters=warmup, max_iter=epochs, batch_size=batch,
        shuffle=False, alpha=0.0, random_state=0, n_iter_no_change=100,
    ).fit(X, y)
    sizes = [3, 5, 1]
    ref = _sklearn_init(sizes, 0)
    net = _core.Network64(sizes, "relu", "identity", "squared_error", batch)
    per_epoch = len(X) // batch
    S, W = epochs * per_epoch, warmup * per_epoch
    g = np.empty_like(ref)
    for s in range(S):
        rows = slice((s % per_epoch) * batch, (s % per_epoch + 1) * batch)
        net.loss_grad(ref, g, X[rows], y[rows, None].copy(), None, 0.0)
        ref -= _cosine(0.05, s, W, S) * g
    np.testing.assert_allclose(est._flat_params, ref, rtol=1e-10, atol=1e-13)


def test_cosine_rate_is_zero_after_max_iter_partial_fits():
    X, y = make_regression(n_samples=30, n_features=3, random_state=1)
    est = MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", momentum=0.0,
                       learning_rate="cosine", max_iter=3, random_state=0)
    for _ in range(3):
        est.partial_fit(X, y)
    before = [c.copy() for c in est.coefs_]
    est.partial_fit(X, y)  # past the schedule's end: rate 0
    for a, b in zip(before, est.coefs_):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ estimators
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor, MLPAutoencoder])
def test_new_parameters_in_get_params_clone_and_pickle(Est):
    params = Est().get_params()
    for name, default in EXTRAS.items():
        assert params[name] == default
    est = Est(dropout=[0.1], max_grad_norm=2.0, warmup_iters=1, learning_rate="cosine",
              solver="adamw")
    cloned = clone(est)
    for name in ("dropout", "max_grad_norm", "warmup_iters", "learning_rate", "solver"):
        assert cloned.get_params()[name] == est.get_params()[name]
    # Added after scikit-learn's parameters, contiguous, in this order.
    signature = list(inspect.signature(Est.__init__).parameters)
    start = signature.index("dropout")
    assert signature[start:start + 3] == ["dropout", "max_grad_norm", "warmup_iters"]
    assert start > signature.index("n_iter_no_change")


def test_pickled_model_with_extras_predicts_the_same():
    X, y = load_digits(return_X_y=True)
    X = X[:400] / 16
    clf = MLPClassifier(hidden_layer_sizes=(32,), dropout=0.2, solver="adamw",
                        max_grad_norm=1.0, learning_rate="cosine", warmup_iters=1,
                        max_iter=5, random_state=0).fit(X, y[:400])
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.get_params() == clf.get_params()
    back.partial_fit(X, y[:400])  # the optimizer state, schedule step included, survives


def test_defaults_keep_the_random_stream_and_results():
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16
    kw = dict(hidden_layer_sizes=(16,), max_iter=4, random_state=0)
    base = MLPClassifier(**kw).fit(X, y[:300])
    for extra in (dict(dropout=0.0), dict(dropout=[0.0]), dict(max_grad_norm=None)):
        other = MLPClassifier(**kw, **extra).fit(X, y[:300])
        np.testing.assert_array_equal(other.loss_curve_, base.loss_curve_)
        for a, b in zip(other.coefs_, base.coefs_):
            np.testing.assert_array_equal(a, b)


def test_predict_is_unaffected_by_dropout():
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16
    clf = MLPClassifier(hidden_layer_sizes=(32,), dropout=0.5, max_iter=3,
                        random_state=0).fit(X, y[:300])
    h = np.maximum(X @ clf.coefs_[0] + clf.intercepts_[0], 0)
    z = h @ clf.coefs_[1] + clf.intercepts_[1]
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))


def test_dropout_changes_training_and_still_learns_digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    train, test = slice(0, 1300), slice(1300, None)
    kw = dict(hidden_layer_sizes=(128,), max_iter=40, random_state=0)
    plain = MLPClassifier(**kw).fit(X[train], y[train])
    dropped = MLPClassifier(**kw, dropout=0.2).fit(X[train], y[train])
    assert not np.array_equal(plain.coefs_[0], dropped.coefs_[0])
    assert dropped.score(X[test], y[test]) >= 0.9
    assert dropped.score(X[test], y[test]) >= plain.score(X[test], y[test]) - 0.02


def test_adamw_alpha_decays_the_weights():
    X, y = load_digits(return_X_y=True)
    X = X[:500] / 16
    kw = dict(hidden_layer_sizes=(32,), max_iter=20, random_state=0, solver="adamw")
    free = MLPClassifier(**kw, alpha=0.0).fit(X, y[:500])
    decayed = MLPClassifier(**kw, alpha=10.0).fit(X, y[:500])
    assert np.linalg.norm(decayed.coefs_[0]) < 0.8 * np.linalg.norm(free.coefs_[0])
    # The biases are not decayed: with alpha=10 they keep about their scale.
    assert np.linalg.norm(decayed.intercepts_[0]) > 0.5 * np.linalg.norm(free.intercepts_[0])
    assert decayed.score(X, y[:500]) > 0.5  # 20 short epochs: still learning


def test_max_grad_norm_changes_training_only_when_it_bites():
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16
    kw = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0, solver="sgd",
              learning_rate_init=0.1)
    base = MLPClassifier(**kw).fit(X, y[:300])
    loose = MLPClassifier(**kw, max_grad_norm=1e9).fit(X, y[:300])
    tight = MLPClassifier(**kw, max_grad_norm=1e-3).fit(X, y[:300])
    np.testing.assert_array_equal(loose.coefs_[0], base.coefs_[0])
    # With every gradient clipped to norm G, Nesterov's step mu*v - lr*g (|v| <= lr*G /
    # (1 - mu)) moves the weights by at most lr*G / (1 - mu): 6 steps of 200/100 rows.
    moved = np.linalg.norm(tight._flat_params - _sklearn_init([64, 16, 10], 0))
    assert moved <= 6 * 0.1 * 1e-3 / (1 - 0.9) * (1 + 1e-9)
    assert np.linalg.norm(base._flat_params - _sklearn_init([64, 16, 10], 0)) > 10 * moved


def test_thread_count_does_not_change_the_model_with_the_extras():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not _core.has_openmp:
        pytest.skip("built without OpenMP")
    rng = np.random.RandomState(0)
    for n_features, hidden in ((20, (64,)), (200, (256, 32))):
        X = rng.standard_normal((300, n_features))
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
        params = dict(hidden_layer_sizes=hidden, max_iter=3, random_state=0, dropout=0.3,
                      solver="adamw", max_grad_norm=0.5, learning_rate="cosine",
                      warmup_iters=1)
        fits = []
        for threads in (1, 2):
            with threadpoolctl.threadpool_limits(limits=threads, user_api="openmp"):
                fits.append(MLPClassifier(**params).fit(X, y))
        one, two = fits
        np.testing.assert_array_equal(one.loss_curve_, two.loss_curve_)
        np.testing.assert_array_equal(one._flat_params, two._flat_params)


def test_dropout_sequence_per_hidden_layer_and_autoencoder():
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16
    clf = MLPClassifier(hidden_layer_sizes=(16, 8), dropout=(0.5, 0.0), max_iter=3,
                        random_state=0).fit(X, y[:300])
    one = MLPClassifier(hidden_layer_sizes=(16, 8), dropout=0.5, max_iter=3,
                        random_state=0).fit(X, y[:300])
    assert not np.array_equal(clf.coefs_[0], one.coefs_[0])
    ae = MLPAutoencoder(n_components=4, hidden_layer_sizes=(16,), dropout=[0.1, 0.0, 0.1],
                        solver="adamw", max_iter=3, random_state=0).fit(X)
    rates = [f.layer.rate for f in ae.regressor_.layers_ if f.layer.kind == "Dropout"]
    assert rates == [0.1, 0.1]  # after the encoder's and the decoder's hidden layer
    assert ae.transform(X).shape == (300, 4)


@pytest.mark.parametrize("kw,match", [
    (dict(solver="lbfgs", dropout=0.1), "dropout apply to the stochastic solvers"),
    (dict(solver="lbfgs", max_grad_norm=1.0), "max_grad_norm apply"),
    (dict(solver="lbfgs", learning_rate="cosine"), "learning_rate='cosine' apply"),
    (dict(warmup_iters=2), "warmup_iters=2 applies to learning_rate='cosine' only"),
    (dict(learning_rate="cosine", warmup_iters=5, max_iter=5), "smaller than max_iter"),
    (dict(dropout=[0.1, 0.2]), "one rate per hidden layer"),
    (dict(dropout=[1.5]), r"in \[0, 1\)"),
    (dict(dropout=[[0.1]]), "one rate per hidden layer"),
    (dict(dropout=1.0), "dropout"),
    (dict(dropout=-0.1), "dropout"),
    (dict(max_grad_norm=0.0), "max_grad_norm"),
    (dict(max_grad_norm=-1.0), "max_grad_norm"),
    (dict(warmup_iters=-1), "warmup_iters"),
    (dict(solver="adamw ", max_iter=2), "solver"),
    (dict(learning_rate="cos"), "learning_rate"),
])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_bad_values_raise_clear_errors(Est, kw, match):
    X, y = np.random.RandomState(0).standard_normal((20, 3)), np.arange(20) % 2
    est = Est(hidden_layer_sizes=(4,), **kw)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")
