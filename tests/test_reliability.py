"""Reliability: bad and unusual inputs, requests too large to allocate, divergence,
Ctrl-C, exceptions from verbose output, threads, determinism, memory growth and
pickling. Every failure must be a Python exception (never a crash), and a fit that
raises must leave the estimator as it was before the call.

The sanitizer run (scripts/sanitize.sh) runs this file with the rest of the suite.
"""

import copy
import gc
import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from contextlib import redirect_stdout

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier, MLPRegressor, _core

NON_FINITE = "Solver produced non-finite parameter weights"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = np.where(X[:, 0] + X[:, 1] > 0, 1, 0) + (X[:, 2] > 1)  # classes 0, 1, 2
    return X, y, X @ np.arange(1.0, 6.0) / 10


def _clf(**kw):
    return MLPClassifier(**{"hidden_layer_sizes": (6,), "max_iter": 5, "random_state": 0, **kw})


def _reg(**kw):
    return MLPRegressor(**{"hidden_layer_sizes": (6,), "max_iter": 5, "random_state": 0, **kw})


def _fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def _params(est):
    return [a.copy() for a in est.coefs_ + est.intercepts_]


def _assert_same_params(a, b):
    pa, pb = (x if isinstance(x, list) else _params(x) for x in (a, b))
    assert len(pa) == len(pb)
    for u, v in zip(pa, pb):
        np.testing.assert_array_equal(u, v)


def _state(est):
    """Everything fitted, as plain values, to compare two estimators exactly."""
    out = {}
    for k, v in vars(est).items():
        if k.endswith("_") and not k.startswith("__") and k not in ("coefs_", "intercepts_"):
            out[k] = v.tolist() if isinstance(v, np.ndarray) else copy.deepcopy(v)
    opt = vars(est).get("_optimizer")
    if opt:
        out["_optimizer"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                             for k, v in opt.items()}
    out["params"] = [a.tolist() for a in _params(est)]
    return out


# ---------------------------------------------------------------------------- inputs
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "y"])
def test_non_finite_input_is_refused(data, bad, where):
    X, _, y = data
    X, y = X.copy(), y.copy()
    (X if where == "X" else y)[3, ...] = bad
    with pytest.raises(ValueError, match=f"Input {where} contains"):
        _reg().fit(X, y)
    if where == "X":
        model = _fit(_reg(), data[0], data[2])
        with pytest.raises(ValueError, match="Input X contains"):
            model.predict(X)


def test_wrong_dimensions_are_refused(data):
    X, y, yr = data
    with pytest.raises(ValueError, match="Expected 2D array"):
        _clf().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="dim 3"):
        _clf().fit(X[:, :, None], y)
    with pytest.raises(ValueError, match="dim 3"):
        _reg().fit(X, yr[:, None, None])
    model = _fit(_clf(), X, y)
    with pytest.raises(ValueError, match="Expected 2D array"):
        model.predict(X[0])


def test_inconsistent_lengths_are_refused(data):
    X, y, yr = data
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _clf().fit(X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        _reg().fit(X, yr, sample_weight=np.ones(len(X) - 1))


def test_empty_data_is_refused(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="0 sample"):
        _clf().fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="0 feature"):
        _clf().fit(X[:, :0], y)
    model = _fit(_clf(), X, y)
    with pytest.raises(ValueError, match="0 sample"):
        model.predict(X[:0])


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_one_sample(data, solver):
    X, y, yr = data
    reg = _fit(_reg(solver=solver), X[:1], yr[:1])
    assert np.isfinite(reg.predict(X)).all()
    clf = _fit(_clf(solver=solver), X[:1], y[:1])
    assert (clf.predict(X) == y[0]).all()
    if solver != "lbfgs":  # early stopping holds out a validation set: none is left
        with pytest.raises(ValueError, match="train set will be empty"):
            _reg(solver=solver, early_stopping=True).fit(X[:1], yr[:1])


def test_single_class(data):
    X, _, _ = data
    clf = _fit(_clf(), X, np.full(len(X), "only"))
    assert list(clf.classes_) == ["only"]
    assert (clf.predict(X) == "only").all()
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.isfinite(proba).all()


def test_partial_fit_refuses_unseen_labels_and_keeps_model(data):
    X, y, _ = data
    clf = _clf().partial_fit(X, y, classes=[0, 1, 2])
    before = _state(clf)
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X, y + 1)
    assert _state(clf) == before
    with pytest.raises(ValueError, match="classes must be passed"):
        _clf().partial_fit(X, y)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba", "score"])
def test_predict_before_fit(data, method):
    X, y, _ = data
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(NotFittedError):
        getattr(_clf(), method)(*args)
    if method in ("predict", "score"):
        with pytest.raises(NotFittedError):
            getattr(_reg(), method)(*args)


@pytest.mark.parametrize("sparse", [False, True])
def test_feature_count_must_match_at_predict(data, sparse):
    X, y, _ = data
    model = _fit(_clf(), X, y)
    for bad in (X[:, :3], np.hstack([X, X])):
        with pytest.raises(ValueError, match="features, but MLPClassifier is expecting 5"):
            model.predict(sp.csr_matrix(bad) if sparse else bad)


def _layouts(X, tmp_path):
    """(name, array equal in value to the float64 reference, the reference)."""
    path = tmp_path / "X.npy"
    np.save(path, X)
    readonly = X.copy()
    readonly.flags.writeable = False
    wide = np.zeros((X.shape[0] * 2, X.shape[1] * 3))
    wide[::2, ::3] = X
    ints = np.round(X * 4).astype(np.int64)
    return [
        ("non-contiguous", wide[::2, ::3], X),
        ("fortran", np.asfortranarray(X), X),
        ("read-only", readonly, X),
        ("memmap", np.load(path, mmap_mode="r"), X),
        ("int64", ints, ints.astype(np.float64)),
        ("int32", ints.astype(np.int32), ints.astype(np.float64)),
        ("bool", X > 0, (X > 0).astype(np.float64)),
        ("float16", X.astype(np.float16), X.astype(np.float16).astype(np.float64)),
    ]


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_array_layouts_and_dtypes_give_the_reference_model(data, tmp_path, solver):
    X, y, _ = data
    for name, arr, ref in _layouts(X, tmp_path):
        ours = _fit(_clf(solver=solver), arr, y)
        expected = _fit(_clf(solver=solver), np.ascontiguousarray(ref), y)
        _assert_same_params(ours, expected)
        np.testing.assert_array_equal(ours.predict_proba(arr), expected.predict_proba(ref),
                                      err_msg=name)
        assert ours.coefs_[0].dtype == np.float64, name


def test_read_only_memmap_targets_and_sample_weight(data, tmp_path):
    X, _, yr = data
    sw = np.linspace(0.5, 2, len(yr))
    maps = []
    for name, arr in (("X", X), ("y", yr), ("sw", sw)):
        np.save(tmp_path / f"{name}.npy", arr)
        maps.append(np.load(tmp_path / f"{name}.npy", mmap_mode="r"))
    ours = _fit(_reg(), maps[0], maps[1], sample_weight=maps[2])
    _assert_same_params(ours, _fit(_reg(), X, yr, sample_weight=sw))
    np.testing.assert_array_equal(ours.predict(maps[0]), ours.predict(X))


def test_pandas_feature_names_are_kept_and_checked(data):
    pd = pytest.importorskip("pandas")
    X, y, _ = data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = _fit(_clf(), df, y)
    np.testing.assert_array_equal(model.feature_names_in_, df.columns)
    np.testing.assert_array_equal(model.predict(df), _fit(_clf(), X, y).predict(X))
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(df.rename(columns={"f0": "other"}))
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(df[df.columns[::-1]])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        model.predict(X)
    assert not hasattr(_fit(_clf(), X, y), "feature_names_in_")


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_formats_match_dense(data, fmt):
    X, y, _ = data
    Xs = X * (np.abs(X) > 0.7)
    model = _fit(_clf(), sp.coo_matrix(Xs).asformat(fmt), y)
    dense = _fit(_clf(), Xs, y)
    for a, b in zip(_params(model), _params(dense)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.predict_proba(sp.coo_matrix(Xs).asformat(fmt)),
                               dense.predict_proba(Xs), rtol=1e-12, atol=1e-14)


def test_non_canonical_csr_matches_dense(data):
    # Duplicate and unsorted column indices, int32 indices, explicit zeros: what
    # scipy means by the matrix is what the core computes.
    X, y, _ = data
    model = _fit(_clf(), X, y)
    data_ = np.array([1.0, 2.0, -3.0, 0.0, 0.5, 4.0])
    indices = np.array([4, 0, 4, 2, 1, 1], dtype=np.int32)
    indptr = np.array([0, 4, 4, 6], dtype=np.int32)
    A = sp.csr_matrix((data_, indices, indptr), shape=(3, 5))
    assert not A.has_canonical_format
    np.testing.assert_allclose(model.predict_proba(A), model.predict_proba(A.toarray()),
                               rtol=1e-12, atol=1e-14)


def test_requests_too_large_to_allocate(data):
    X, y, _ = data
    # A layer of 2^31 units: MemoryError before anything is allocated.
    for solver in ("adam", "lbfgs"):
        with pytest.raises(MemoryError, match="GiB"):
            _clf(hidden_layer_sizes=(2**31,), solver=solver).fit(X, y)
    with pytest.raises((MemoryError, ValueError)):
        _clf(hidden_layer_sizes=(2**62, 2**62)).fit(X, y)
    # A batch beyond memory: 2^16 rows through a 2^22-unit layer at once.
    Xb = np.zeros((2**16, 1), dtype=np.float32)
    yb = np.arange(2**16) % 2
    with pytest.raises(MemoryError, match="batch_size"):
        _clf(hidden_layer_sizes=(2**22,), batch_size=2**16).fit(Xb, yb)
    # The core itself refuses (never a crash) when asked directly.
    with pytest.raises(MemoryError):
        _core.Network64([4, 2**40, 1], "relu", "identity", "squared_error", 1)
    with pytest.raises(MemoryError):
        _core.Network32([4, 8, 1], "relu", "identity", "squared_error", 2**62)
    with pytest.raises(ValueError):
        _core.Network64([4, 2**62, 2**62, 1], "relu", "identity", "squared_error", 1)
    # The estimator is left usable.
    assert np.isfinite(_fit(_clf(), X, y).predict_proba(X)).all()


# ---------------------------------------------------------------------- divergence
def _exploding():
    # scikit-learn's own divergence test: features near the largest float64.
    rng = np.random.RandomState(0)
    return np.finfo(np.float64).max * rng.uniform(size=(10, 2)), rng.standard_normal(10)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_divergence_raises_and_leaves_an_unfitted_estimator(solver):
    X, y = _exploding()
    reg = MLPRegressor(solver=solver, random_state=0)
    with pytest.raises(ValueError, match=NON_FINITE):
        _fit(reg, X, y)
    with pytest.raises(NotFittedError):
        reg.predict(X)
    assert not hasattr(reg, "coefs_")


def test_divergent_refit_keeps_the_previous_model(data):
    X, _, yr = data
    reg = _fit(_reg(), X, yr)
    before = _state(reg)
    pred = reg.predict(X)
    Xb, yb = _exploding()
    with pytest.raises(ValueError, match=NON_FINITE):
        reg.fit(np.hstack([Xb, Xb, Xb[:, :1]]), yb)
    assert _state(reg) == before
    np.testing.assert_array_equal(reg.predict(X), pred)


def test_divergence_stops_at_the_first_non_finite_epoch(data):
    X, _, yr = data
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(ValueError, match=NON_FINITE):
        _reg(solver="sgd", learning_rate_init=1e12, max_iter=200, verbose=True).fit(X, yr * 1e3)
    assert out.getvalue().count("Iteration") < 5


def test_fit_raises_when_the_last_step_overflows_the_outputs():
    # Found by hypothesis: every epoch loss is finite (each is taken before its step)
    # but the last step leaves weights whose outputs overflow float32.
    X = np.random.default_rng(0).normal(scale=1e3, size=(4, 5)).astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(1, 2), activation="identity", solver="sgd",
                        learning_rate_init=0.1, momentum=0.0, shuffle=False, max_iter=4,
                        n_iter_no_change=2, random_state=0)
    with pytest.raises(ValueError, match=NON_FINITE):
        _fit(clf, X, np.zeros(4, dtype=int))
    assert not hasattr(clf, "coefs_")


def _diverging_iris(**kw):
    # scikit-learn's test_mlp_diverging_loss (its issue 29504): finite for four epochs,
    # NaN from the sixth.
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    params = dict(hidden_layer_sizes=100, activation="identity", solver="sgd",
                  learning_rate_init=1, max_iter=20, early_stopping=True,
                  n_iter_no_change=10, random_state=0)
    return X, y, {**params, **kw}


def test_diverging_fit_with_early_stopping_keeps_the_best_epoch_as_sklearn():
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    X, y, params = _diverging_iris()
    fitted = []
    for cls in (MLPRegressor, SkMLPRegressor):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted.append(cls(**params).fit(X, y))
        # scikit-learn trains on (a NaN score resets the no-improvement count) to max_iter
        assert [w.category for w in caught if w.category is not RuntimeWarning] == [
            ConvergenceWarning]
    ours, ref = fitted
    assert ours.n_iter_ == ref.n_iter_ == 20
    assert np.isnan(ours.loss_) and np.isnan(ours.validation_scores_[-1])
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.validation_scores_, ref.validation_scores_, rtol=1e-9)
    assert ours.best_validation_score_ == ours.validation_scores_[0]
    for a, b in zip(_params(ours), _params(ref)):  # the first epoch's, restored
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert np.isfinite(ours.predict(X)).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scikit-learn's overflow and NaN
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_diverging_classifier_loss_turns_nan_in_the_epoch_sklearns_does():
    # The softmax of overflowing logits is NaN: scikit-learn's clipped log loss stays NaN
    # there (np.clip, xlogy), so the loss curve turns NaN in the same epoch.
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    X, y = load_iris(return_X_y=True)
    params = dict(solver="sgd", learning_rate_init=1e6, max_iter=15, early_stopping=True,
                  random_state=0)
    ours = MLPClassifier(**params).fit(X * 1e30, y)
    ref = SkMLPClassifier(**params).fit(X * 1e30, y)
    assert 0 < np.isnan(ref.loss_curve_).sum() < len(ref.loss_curve_)
    np.testing.assert_array_equal(np.isnan(ours.loss_curve_), np.isnan(ref.loss_curve_))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow, as scikit-learn's
def test_diverging_fit_with_early_stopping_on_the_loss_keeps_the_best_epoch():
    X, y, params = _diverging_iris(early_stopping_metric="loss")
    reg = _fit(MLPRegressor(**params), X, y)
    # NaN never improves the validation loss: training stops n_iter_no_change epochs later.
    curve = reg.validation_loss_curve_
    assert reg.n_iter_ == len(curve) < 20 and np.isnan(curve[-1])
    assert reg.best_validation_loss_ == np.nanmin(curve)
    assert np.isfinite(reg.predict(X)).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverging_warm_start_with_early_stopping_keeps_the_previous_best():
    X, y, params = _diverging_iris(warm_start=True)
    reg = _fit(MLPRegressor(**{**params, "learning_rate_init": 0.001}), X, y)
    best, before = reg.best_validation_score_, _params(reg)
    reg.set_params(learning_rate_init=1e6)
    _fit(reg, X, y)  # every new epoch scores worse (then NaN): the previous best stays
    assert np.isnan(reg.validation_scores_[-1]) and reg.best_validation_score_ == best
    _assert_same_params(reg, before)


def test_diverging_first_epoch_with_early_stopping_raises():
    # Where no epoch ever validates, scikit-learn returns the random initial weights as
    # a fitted model; fastmlp raises its divergence error instead and keeps nothing.
    X, y, params = _diverging_iris(learning_rate_init=1e12)
    reg = MLPRegressor(**params)
    with pytest.raises(ValueError, match=NON_FINITE):
        _fit(reg, X * 1e200, y * 1e200)
    assert not hasattr(reg, "coefs_")


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_divergent_continuation_keeps_previous_weights_and_state(data, solver, how):
    X, _, yr = data
    make = lambda: _reg(solver=solver, hidden_layer_sizes=(8,), max_iter=10,  # noqa: E731
                        learning_rate_init=0.01)
    reg, twin = _fit(make(), X, yr), _fit(make(), X, yr)
    before = _state(reg)
    reg.set_params(warm_start=how == "warm_start", learning_rate_init=1e12)
    with pytest.raises(ValueError, match=NON_FINITE):  # squares overflow at once
        if how == "warm_start":
            _fit(reg, X * 1e200, yr * 1e200)
        else:
            reg.partial_fit(X * 1e200, yr * 1e200)
    assert _state(reg) == before
    # It continues exactly as a model that never saw the failed call.
    reg.set_params(warm_start=True, learning_rate_init=0.01)
    twin.set_params(warm_start=True)
    _assert_same_params(_fit(reg, X, yr), _fit(twin, X, yr))
    _assert_same_params(reg.partial_fit(X, yr), twin.partial_fit(X, yr))


class _BrokenStdout(io.StringIO):
    def __init__(self, fail_after):
        super().__init__()
        self.fail_after = fail_after

    def write(self, s):
        if "Iteration" in s:
            self.fail_after -= 1
            if self.fail_after < 0:
                raise OSError("stdout is gone")
        return super().write(s)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_exception_from_verbose_output_propagates_cleanly(data, solver):
    X, y, _ = data
    clf = _clf(solver=solver, verbose=True, max_iter=20)
    with redirect_stdout(_BrokenStdout(fail_after=3)), pytest.raises(OSError, match="gone"):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")
    # A continuation that fails in the same way keeps the model it had.
    clf = _fit(_clf(solver=solver, max_iter=20), X, y)
    before = _state(clf)
    clf.set_params(verbose=True, warm_start=True)
    with redirect_stdout(_BrokenStdout(fail_after=2)), pytest.raises(OSError, match="gone"):
        clf.fit(X, y)
    assert _state(clf) == before
    clf.set_params(verbose=False)
    assert _fit(clf, X, y).n_iter_ == 20


# Each child restores Python's Ctrl-C handler first: a shell starts background jobs with
# SIGINT ignored, and Python then installs no handler, so a test suite run with `&` would
# see the signal vanish.
_INTERRUPTED_CHILD = textwrap.dedent("""
    import signal, time, warnings
    import numpy as np
    from fastmlp import MLPClassifier

    signal.signal(signal.SIGINT, signal.default_int_handler)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 64))
    y = (X[:, :3].sum(axis=1) > 0).astype(int)
    params = dict(hidden_layer_sizes=(256, 256), random_state=0, tol=0.0,
                  n_iter_no_change=np.inf)
    clf = MLPClassifier(max_iter=100000, verbose=True, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    returned = time.monotonic()
    print("RETURNED", returned, flush=True)
    print("WARNINGS", [str(w.message) for w in caught], flush=True)
    # The weights are those of the last completed epoch: a fresh fit of that many
    # epochs (same random_state, same batches) gives them bit for bit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = MLPClassifier(max_iter=clf.n_iter_, **params).fit(X, y)
    same = all(np.array_equal(a, b) for a, b in
               zip(clf.coefs_ + clf.intercepts_, ref.coefs_ + ref.intercepts_))
    print("N_ITER", clf.n_iter_, len(clf.loss_curve_), "SAME", same,
          "LOSS", clf.loss_ == ref.loss_, "USABLE", bool(np.isfinite(clf.predict_proba(X)).all()),
          flush=True)
""")


# The same with a recurrent network on the layer engine, whose epochs are long: the check
# between mini-batches must stop it mid-epoch.
_INTERRUPTED_RECURRENT_CHILD = textwrap.dedent("""
    import signal, time, warnings
    import numpy as np
    from fastmlp import NeuralNetClassifier
    from fastmlp.layers import GRU, LSTM, Bidirectional

    signal.signal(signal.SIGINT, signal.default_int_handler)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 40, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    params = dict(layers=[Bidirectional(GRU(24, return_sequences=True)), LSTM(16)],
                  batch_size=50, random_state=0, tol=0.0, n_iter_no_change=np.inf)
    clf = NeuralNetClassifier(max_iter=100000, verbose=True, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    returned = time.monotonic()
    print("RETURNED", returned, flush=True)
    print("WARNINGS", [str(w.message) for w in caught], flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = NeuralNetClassifier(max_iter=clf.n_iter_, **params).fit(X, y)
    same = np.array_equal(clf._packed_params(), ref._packed_params())
    print("N_ITER", clf.n_iter_, len(clf.loss_curve_), "SAME", same,
          "LOSS", clf.loss_ == ref.loss_, "USABLE", bool(np.isfinite(clf.predict_proba(X)).all()),
          flush=True)
""")


@pytest.mark.parametrize("child", [_INTERRUPTED_CHILD, _INTERRUPTED_RECURRENT_CHILD],
                         ids=["mlp", "recurrent"])
def test_ctrl_c_stops_fit_fast_and_keeps_the_last_completed_epoch(child):
    # A plain subprocess (fork + exec: no OpenMP state crosses, see RECIPES), one OpenMP
    # thread so that another process on a 2-core machine cannot stretch the timing.
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-u", "-c", child], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        epoch_times = []
        for line in proc.stdout:
            if line.startswith("Iteration"):
                epoch_times.append(time.monotonic())
                if len(epoch_times) == 3:
                    break
        assert len(epoch_times) == 3, proc.stderr.read()
        # Land in the middle of an epoch, where the weights are half-updated.
        time.sleep(0.4 * (epoch_times[2] - epoch_times[1]))
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    lines = {ln.split()[0]: ln.split(None, 1)[1] for ln in out.splitlines()
             if ln.split() and ln.split()[0] in ("RETURNED", "WARNINGS", "N_ITER")}
    assert proc.returncode == 0, err
    assert float(lines["RETURNED"]) - sent < 0.5
    assert "Training interrupted by user." in lines["WARNINGS"]
    n_iter, n_curve, _, same, _, loss_same, _, usable = lines["N_ITER"].split()
    assert int(n_iter) >= 3 and int(n_iter) == int(n_curve)
    assert same == "True" and loss_same == "True" and usable == "True"


# ---------------------------------------------------------------------- concurrency
def _problems():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 40))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return [
        (MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=8, random_state=0), X, y),
        (MLPRegressor(hidden_layer_sizes=(48,), solver="sgd", max_iter=8, random_state=1),
         X.astype(np.float32), X[:, 2] - X[:, 3]),
        (MLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=30, random_state=2),
         sp.csr_matrix(X * (X > 0.5)), y),
    ]


def test_parallel_threads_give_the_sequential_models():
    sequential = [_fit(clone(est), X, y) for est, X, y in _problems()]
    problems = _problems()
    results, errors = [None] * len(problems), []

    def work(i):
        try:
            est, X, y = problems[i]
            results[i] = _fit(est, X, y)
            results[i].predict(X)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    for _ in range(2):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(problems))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for seq, par, (_, X, _) in zip(sequential, results, problems):
            _assert_same_params(seq, par)
            np.testing.assert_array_equal(seq.predict(X), par.predict(X))


def _longest_stall(work):
    """Run work() in this thread while another Python thread ticks; return the longest
    time the ticking thread was stopped during work, and work's duration."""
    ticks, stop = [], threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            for _ in range(200):
                pass

    t = threading.Thread(target=tick)
    t.start()
    time.sleep(0.05)
    start = time.perf_counter()
    work()
    end = time.perf_counter()
    stop.set()
    t.join()
    inside = [start] + [x for x in ticks if start <= x <= end] + [end]
    return max(np.diff(inside)), end - start


def test_fit_and_predict_release_the_gil():
    # If the core held the GIL, the ticking thread would stop for the whole epoch.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6000, 64)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(512,), max_iter=1, random_state=0)
    with threadpool_limits(limits=1, user_api="openmp"):
        for _ in range(3):  # a busy machine may stretch one run
            stall, duration = _longest_stall(lambda: _fit(clf, X, y))
            if duration > 0.2:
                break
        assert stall < duration / 3
        Xbig = np.tile(X, (8, 1))
        stall, duration = _longest_stall(lambda: clf.predict_proba(Xbig))
        assert stall < duration / 3


# ---------------------------------------------------------------------- determinism
def _model_bytes(est):
    return b"".join(np.ascontiguousarray(a).tobytes() for a in est.coefs_ + est.intercepts_)


_DETERMINISM_CASES = [
    dict(solver="adam", hidden_layer_sizes=(256, 128), batch_size=256, max_iter=3),
    dict(solver="sgd", hidden_layer_sizes=(192,), batch_size=200, max_iter=3),
    dict(solver="lbfgs", hidden_layer_sizes=(128,), max_iter=5),
]


def _determinism_fits(sparse):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 96))
    y = (X[:, :4].sum(axis=1) > 0).astype(int)
    if sparse:
        X = sp.csr_matrix(X * (X > 0.8))
    return [_fit(MLPClassifier(random_state=3, **p), X, y) for p in _DETERMINISM_CASES]


@pytest.mark.parametrize("sparse", [False, True])
def test_same_random_state_is_bitwise_identical_across_runs_and_thread_counts(sparse):
    reference = [_model_bytes(m) for m in _determinism_fits(sparse)]
    for threads in (1, 3):  # the reference ran with the default (all cores)
        with threadpool_limits(limits=threads, user_api="openmp"):
            assert [_model_bytes(m) for m in _determinism_fits(sparse)] == reference, threads


def test_same_random_state_is_bitwise_identical_in_another_process(tmp_path):
    script = textwrap.dedent(f"""
        import sys, hashlib
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_reliability import _determinism_fits, _model_bytes
        print(hashlib.sha256(b"".join(_model_bytes(m) for m in _determinism_fits(False)))
              .hexdigest())
    """)
    import hashlib

    here = hashlib.sha256(b"".join(_model_bytes(m) for m in _determinism_fits(False)))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == here.hexdigest()


# ---------------------------------------------------------------------- memory
def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="under AddressSanitizer RSS counts its quarantine of freed memory")
def test_no_memory_growth_over_many_fits_and_predictions(data):
    X, y, yr = data
    Xs = sp.csr_matrix(X * (X > 0))

    def one_round():
        clf = _fit(_clf(max_iter=2), X, y)
        clf.predict(X), clf.predict_proba(Xs)
        reg = _fit(_reg(solver="lbfgs", max_iter=3), Xs, yr)
        reg.predict(X)
        clf.partial_fit(X, y)
        pickle.loads(pickle.dumps(reg)).predict(X)

    for _ in range(100):
        one_round()
    gc.collect()
    before = _rss_bytes()
    for _ in range(500):  # 2,000 fits and 3,000 predictions
        one_round()
    gc.collect()
    grown = _rss_bytes() - before
    assert grown < 8 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB"


# ---------------------------------------------------------------------- serialisation
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_predicts_and_continues_identically(data, tmp_path, dtype):
    X, y, _ = data
    X = X.astype(dtype)
    clf = _clf(solver="adam", max_iter=10).partial_fit(X, y, classes=[0, 1, 2])
    via_pickle = pickle.loads(pickle.dumps(clf))
    joblib.dump(clf, tmp_path / "m.joblib")
    via_joblib = joblib.load(tmp_path / "m.joblib")
    for other in (via_pickle, via_joblib):
        np.testing.assert_array_equal(other.predict_proba(X), clf.predict_proba(X))
        assert other.coefs_[0].dtype == dtype
    for _ in range(3):
        for est in (clf, via_pickle, via_joblib):
            est.partial_fit(X, y)
    _assert_same_params(via_pickle, clf)
    _assert_same_params(via_joblib, clf)


@pytest.mark.parametrize("version", [2, 10**6, "1", None])
def test_unknown_format_version_is_refused(data, version):
    X, y, _ = data
    state = _fit(_clf(), X, y).__getstate__()
    state["_fastmlp_format_version"] = version
    with pytest.raises(ValueError, match="format version"):
        MLPClassifier().__setstate__(state)
