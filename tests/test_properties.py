"""Property-based tests (hypothesis) over shapes, dtypes, layer sizes, batch sizes, solvers
and parameter values: a fit either succeeds or raises one of scikit-learn's documented
errors (never anything else, never a crash); a fitted model predicts finite values,
probabilities in [0, 1] whose rows sum to 1, and labels from classes_; the core's gradient
matches central differences on random networks.

Bounded for CI: FASTMLP_HYPOTHESIS_EXAMPLES (default 25) examples per test, no deadline,
and a fixed seed so a CI run is reproducible. Explore more with e.g.
FASTMLP_HYPOTHESIS_EXAMPLES=500 FASTMLP_HYPOTHESIS_RANDOM=1 python -m pytest tests/test_properties.py
"""

import os
import re
import warnings

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from _network_problem import network_inputs

from fastmlp import MLPClassifier, MLPRegressor, _core

BOUNDED = settings(
    max_examples=int(os.environ.get("FASTMLP_HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    derandomize=not os.environ.get("FASTMLP_HYPOTHESIS_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow],
)

# The only errors a fit may raise on valid parameters: divergence, and early stopping's
# validation split being impossible on tiny data (scikit-learn's own messages).
ALLOWED_FIT_ERRORS = re.compile(
    "Solver produced non-finite parameter weights"
    "|The validation set is too small"
    "|the resulting train set will be empty"
    "|The least populated class(es)? in y ha(s|ve) only 1 member"
    "|The test_size = .* should be greater or equal to the number of classes"
    "|The train_size = .* should be greater or equal to the number of classes"
)

DTYPES = [np.float64, np.float32, np.float16, np.int64, np.bool_]


@st.composite
def problems(draw, classifier):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 40))
    d = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from(DTYPES))
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0, 1e3]))
    X = rng.normal(scale=scale, size=(n, d))
    X = (X > 0) if dtype is np.bool_ else X.astype(dtype)
    if dtype is not np.float16 and draw(st.booleans()):  # scipy.sparse has no float16
        X = sp.csr_matrix(np.where(rng.uniform(size=X.shape) < 0.5, 0, X).astype(X.dtype))
        X = X.asformat(draw(st.sampled_from(["csr", "csc", "coo"])))
    if classifier:
        n_classes = draw(st.integers(1, 4))
        y = rng.integers(0, n_classes, n)
        if draw(st.booleans()):
            y = np.array(["a", "b", "c", "d"])[y]
    else:
        y = rng.normal(size=n) * draw(st.sampled_from([1e-2, 1.0, 1e2]))
    solver = draw(st.sampled_from(["lbfgs", "sgd", "adam"]))
    params = dict(
        hidden_layer_sizes=tuple(draw(st.lists(st.integers(1, 12), min_size=1, max_size=3))),
        activation=draw(st.sampled_from(["identity", "logistic", "tanh", "relu"])),
        solver=solver,
        alpha=draw(st.sampled_from([0.0, 1e-4, 1.0, 10.0])),
        batch_size=draw(st.one_of(st.just("auto"), st.integers(1, 50))),
        learning_rate=draw(st.sampled_from(["constant", "invscaling", "adaptive"])),
        learning_rate_init=draw(st.sampled_from([1e-4, 1e-3, 1e-1, 0.5])),
        momentum=draw(st.sampled_from([0.0, 0.5, 0.9, 1.0])),
        nesterovs_momentum=draw(st.booleans()),
        early_stopping=draw(st.booleans()),
        validation_fraction=draw(st.sampled_from([0.1, 0.3, 0.5])),
        shuffle=draw(st.booleans()),
        max_iter=draw(st.integers(1, 8)),
        n_iter_no_change=draw(st.integers(1, 3)),
        random_state=draw(st.integers(0, 10)),
    )
    if not classifier and draw(st.booleans()):
        params["loss"] = "poisson"
        y = np.abs(y)
    return X, y, params


def _fit_or_allowed_error(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # batch_size clipped
        try:
            return est.fit(X, y)
        except ValueError as e:
            if not ALLOWED_FIT_ERRORS.search(str(e)):
                raise
            return None


@BOUNDED
@given(problems(classifier=True))
def test_classifier_fit_never_crashes_and_predicts_probabilities(problem):
    X, y, params = problem
    clf = _fit_or_allowed_error(MLPClassifier(**params), X, y)
    if clf is None:
        return
    proba = clf.predict_proba(X)
    assert proba.shape == (X.shape[0], max(len(clf.classes_), 2))
    assert np.isfinite(proba).all() and (proba >= 0).all() and (proba <= 1).all()
    tol = 1e-5 if proba.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=tol)
    assert set(np.unique(clf.predict(X))) <= set(clf.classes_)
    for a in clf.coefs_ + clf.intercepts_:
        assert np.isfinite(a).all()


@BOUNDED
@given(problems(classifier=False))
def test_regressor_fit_never_crashes_and_predicts_finite_values(problem):
    X, y, params = problem
    reg = _fit_or_allowed_error(MLPRegressor(**params), X, y)
    if reg is None:
        return
    pred = reg.predict(X)
    assert pred.shape == (X.shape[0],)
    assert np.isfinite(pred).all()
    if params.get("loss") == "poisson":
        assert (pred >= 0).all()


_OUTPUTS = [
    ("identity", "squared_error", lambda r, n, k: r.normal(size=(n, k))),
    ("exp", "poisson", lambda r, n, k: r.poisson(1.5, size=(n, k)).astype(float)),
    ("softmax", "log_loss", lambda r, n, k: np.eye(k)[r.integers(0, k, n)]),
    ("logistic", "binary_log_loss", lambda r, n, k: r.integers(0, 2, (n, k)).astype(float)),
]


@BOUNDED
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    n=st.integers(1, 12),
    chunk=st.integers(1, 12),
    hidden=st.sampled_from(["identity", "logistic", "tanh", "relu"]),
    output=st.sampled_from(_OUTPUTS),
    sparse=st.booleans(),
    weighted=st.booleans(),
    alpha=st.sampled_from([0.0, 0.1, 3.0]),
)
def test_gradient_matches_finite_differences(seed, sizes, n, chunk, hidden, output, sparse,
                                             weighted, alpha):
    out_act, loss, make_y = output
    rng = np.random.default_rng(seed)
    Xc, Y, sw = network_inputs(rng, n, sizes, make_y, sparse, weighted)
    n_coefs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    params = rng.normal(scale=0.5, size=n_coefs + sum(sizes[1:]))
    net = _core.Network64(sizes, hidden, out_act, loss, chunk)
    grad = np.empty_like(params)
    net.loss_grad(params, grad, Xc, Y, sw, alpha)
    scratch = np.empty_like(params)

    def numeric(eps):
        out = np.empty_like(params)
        for i in range(params.size):
            p = params.copy()
            p[i] += eps
            up = net.loss_grad(p, scratch, Xc, Y, sw, alpha)
            p[i] -= 2 * eps
            out[i] = (up - net.loss_grad(p, scratch, Xc, Y, sw, alpha)) / (2 * eps)
        return out

    num = numeric(1e-6)
    if loss == "squared_error":
        # scikit-learn's convention (see test_gradcheck.py): the gradient is that of the
        # sum over outputs, the reported loss the mean over outputs.
        l2 = alpha * np.concatenate([params[:n_coefs], np.zeros(params.size - n_coefs)])
        l2 /= n if sw is None else sw.sum()
        num = (num - l2) * sizes[-1] + l2
    check = np.ones(params.size, dtype=bool)
    if hidden == "relu":
        # A difference across relu's kink is not a derivative: compare only where two
        # step sizes agree.
        num2 = numeric(1e-7)
        if loss == "squared_error":
            num2 = (num2 - l2) * sizes[-1] + l2
        check = np.isclose(num, num2, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grad[check], num[check], rtol=1e-5, atol=1e-7)
