"""Estimator behaviour: the same results as scikit-learn's MLPs for the same
random_state, partial_fit, warm_start, early stopping, verbose output, pickling, sparse,
multilabel, float32, sample weights, assigned coefs_, and scikit-learn's errors."""

import io
import pickle
import warnings
from contextlib import redirect_stdout

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as sk
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import MinMaxScaler

from fastmlp import MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return MinMaxScaler().fit_transform(X[:400]), y[:400]


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=150, n_features=8, noise=0.5, random_state=0)
    return X, y / 100


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_classifier_follows_sklearn_step_by_step(digits, solver, activation):
    # Same initial weights, same batch order, same formulas: the same trajectory up to
    # rounding, so only a handful of iterations are compared.
    X, y = digits
    params = dict(hidden_layer_sizes=(16,), solver=solver, activation=activation,
                  max_iter=5, random_state=3, learning_rate_init=0.01)
    ours = _quiet_fit(MLPClassifier(**params), X, y)
    ref = _quiet_fit(sk.MLPClassifier(**params), X, y)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.loss_, ref.loss_, rtol=1e-6)
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-6)
        assert ours.t_ == ref.t_
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_random_state_instance_ends_where_sklearns_does(digits, solver, shuffle):
    # The epochs' shuffles are drawn in C++ from a copy of the generator's state, handed
    # back after the fit: a user's RandomState then continues as it would after
    # scikit-learn's fit, and the fit itself follows scikit-learn's batches.
    X, y = digits
    params = dict(hidden_layer_sizes=(16,), solver=solver, max_iter=4, shuffle=shuffle,
                  learning_rate_init=0.01)
    ours_rng, ref_rng = np.random.RandomState(5), np.random.RandomState(5)
    ours = _quiet_fit(MLPClassifier(random_state=ours_rng, **params), X, y)
    ref = _quiet_fit(sk.MLPClassifier(random_state=ref_rng, **params), X, y)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-6)
    ours_state, ref_state = ours_rng.get_state(), ref_rng.get_state()
    assert ours_state[0] == ref_state[0] and ours_state[2:] == ref_state[2:]
    np.testing.assert_array_equal(ours_state[1], ref_state[1])


def test_only_a_fits_own_generator_shuffles_in_core(digits, monkeypatch):
    # A user's RandomState (or numpy's global one) may be drawn from by another thread
    # during the fit: it shuffles itself. An int random_state's generator is the fit's own.
    import fastmlp._base as base

    calls = []
    real = base._core.legacy_shuffle
    monkeypatch.setattr(base._core, "legacy_shuffle",
                        lambda order, state: calls.append(1) or real(order, state))
    X, y = digits
    params = dict(hidden_layer_sizes=(8,), max_iter=3)
    _quiet_fit(MLPClassifier(random_state=0, **params), X, y)
    assert len(calls) == 3
    _quiet_fit(MLPClassifier(random_state=np.random.RandomState(0), **params), X, y)
    _quiet_fit(MLPClassifier(random_state=None, **params), X, y)
    assert len(calls) == 3


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_regressor_follows_sklearn(regression, loss, solver):
    X, y = regression
    if loss == "poisson":
        y = np.abs(y)
    params = dict(loss=loss, hidden_layer_sizes=(10, 5), solver=solver, max_iter=5,
                  random_state=1, learning_rate_init=0.001)
    ours = _quiet_fit(MLPRegressor(**params), X, y)
    ref = _quiet_fit(sk.MLPRegressor(**params), X, y)
    np.testing.assert_allclose(ours.loss_, ref.loss_, rtol=1e-6)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-5, atol=1e-8)
    assert ours.out_activation_ == ref.out_activation_


def test_multioutput_regression_and_sample_weight_follow_sklearn():
    X, Y = make_regression(n_samples=80, n_features=5, n_targets=3, random_state=0)
    sw = np.random.default_rng(0).uniform(0.2, 3.0, len(X))
    params = dict(hidden_layer_sizes=(7,), max_iter=4, random_state=0, solver="sgd",
                  learning_rate_init=1e-4)
    ours = _quiet_fit(MLPRegressor(**params), X, Y / 100, sample_weight=sw)
    ref = _quiet_fit(sk.MLPRegressor(**params), X, Y / 100, sample_weight=sw)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-6)
    assert ours.predict(X).shape == (80, 3)


def test_hand_worked_sgd_step():
    # One sample, no hidden layer, identity output, squared error, lr 0.1, no momentum:
    # w <- w - lr * (x (p - y) + alpha w),  b <- b - lr (p - y)
    X, y = np.array([[1.0, 2.0]]), np.array([3.0])
    reg = MLPRegressor(hidden_layer_sizes=(), solver="sgd", momentum=0.0, alpha=0.5,
                       learning_rate_init=0.1, max_iter=1, shuffle=False, random_state=0)
    reg.partial_fit(X, y)  # initialise...
    reg.coefs_ = [np.array([[0.5], [-1.0]])]
    reg.intercepts_ = [np.array([0.25])]
    reg._optimizer = None  # fresh velocity
    reg.partial_fit(X, y)
    p = 0.5 * 1.0 - 1.0 * 2.0 + 0.25  # -1.25
    err = p - 3.0  # -4.25
    w_expected = np.array([[0.5], [-1.0]]) - 0.1 * (np.array([[1.0], [2.0]]) * err + 0.5 * np.array([[0.5], [-1.0]]))
    np.testing.assert_allclose(reg.coefs_[0], w_expected)
    np.testing.assert_allclose(reg.intercepts_[0], [0.25 - 0.1 * err])
    assert reg.loss_ == pytest.approx(0.5 * err**2 + 0.25 * (0.25 + 1.0))


def test_partial_fit_matches_sklearn_and_rules(digits):
    X, y = digits
    classes = np.unique(y)
    ours = MLPClassifier(hidden_layer_sizes=(12,), random_state=0)
    ref = sk.MLPClassifier(hidden_layer_sizes=(12,), random_state=0)
    for _ in range(3):
        ours.partial_fit(X, y, classes=classes)
        ref.partial_fit(X, y, classes=classes)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-6)
    assert ours.n_iter_ == 1 and ours.t_ == 3 * len(X)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        MLPClassifier().partial_fit(X, np.where(y == 9, 10, y), classes=classes[:-1])
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=classes)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")  # sklearn 1.9 quirk


def test_warm_start_continues_and_checks(digits):
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(10,), max_iter=3, warm_start=True,
                                   random_state=0), X, y)
    first = [c.copy() for c in clf.coefs_]
    _quiet_fit(clf, X, y)
    assert len(clf.loss_curve_) == 6 and clf.n_iter_ == 3
    assert not np.allclose(first[0], clf.coefs_[0])
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
        clf.fit(X[y < 5], y[y < 5])
    clf.set_params(hidden_layer_sizes=(11,))
    with pytest.raises(ValueError, match="layer sizes"):
        clf.fit(X, y)


def test_assigned_coefs_are_used(digits):
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(10,), max_iter=2, random_state=0), X, y)
    proba = clf.predict_proba(X)
    clf.coefs_ = [c * 0 for c in clf.coefs_]
    clf.intercepts_ = [b * 0 for b in clf.intercepts_]
    np.testing.assert_allclose(clf.predict_proba(X), np.full_like(proba, 0.1))
    clf.intercepts_[1][:] = np.arange(10.0)  # in-place edits of the views are seen too
    assert not np.allclose(clf.predict_proba(X), 0.1)
    clf.coefs_[0] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"coefs_\[0\] has shape"):
        clf.predict(X)


def test_early_stopping_matches_sklearn(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(10,), early_stopping=True, max_iter=30,
                  random_state=0, n_iter_no_change=3)
    ours = _quiet_fit(MLPClassifier(**params), X, y)
    ref = _quiet_fit(sk.MLPClassifier(**params), X, y)
    assert ours.validation_scores_ == pytest.approx(ref.validation_scores_)
    assert ours.best_validation_score_ == pytest.approx(ref.best_validation_score_)
    assert ours.best_loss_ is None
    np.testing.assert_allclose(ours.coefs_[0], ref.coefs_[0], rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X[:10], y[:10])


def test_verbose_output_matches_sklearn(digits, capsys):
    X, y = digits
    params = dict(hidden_layer_sizes=(5,), max_iter=40, random_state=0, verbose=True,
                  tol=0.5, solver="sgd", learning_rate="adaptive", early_stopping=True)
    outputs = []
    for cls in (MLPClassifier, sk.MLPClassifier):
        buf = io.StringIO()
        with redirect_stdout(buf):
            _quiet_fit(cls(**params), X, y)
        outputs.append(buf.getvalue())
    ours, ref = outputs
    assert "Setting learning rate to" in ours and "Validation score:" in ours
    assert [line.split("=")[0] for line in ours.splitlines()] == [
        line.split("=")[0] for line in ref.splitlines()
    ]


def test_convergence_warning(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
        MLPClassifier(max_iter=2).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier(solver="lbfgs", max_iter=2).fit(X, y)


def _restricted_load(data):
    """Unpickle allowing only numpy, builtins and fastmlp: plain values, no other objects."""

    class Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            if module.split(".")[0] in {"numpy", "builtins", "copyreg", "fastmlp"}:
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"pickle refers to {module}.{name}")

    return Restricted(io.BytesIO(data)).load()


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_pickle_and_joblib_round_trip(digits, tmp_path, solver):
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, solver=solver,
                                   random_state=0), X, y)
    clone = _restricted_load(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))
    joblib.dump(clf, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    if solver != "lbfgs":  # training resumes with the saved optimizer state
        a, b = pickle.loads(pickle.dumps(clf)), clf
        a.partial_fit(X, y)
        b.partial_fit(X, y)
        np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])


def test_pickle_from_newer_format_is_refused(digits):
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(4,), max_iter=1), X, y)
    state = clf.__getstate__()
    state["_fastmlp_format_version"] = 99
    with pytest.raises(ValueError, match="format version 99"):
        MLPClassifier().__setstate__(state)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_input_matches_dense(digits, fmt):
    X, y = digits
    params = dict(hidden_layer_sizes=(10,), max_iter=3, random_state=0)
    dense = _quiet_fit(MLPClassifier(**params), X, y)
    sparse = _quiet_fit(MLPClassifier(**params), sp.csr_matrix(X).asformat(fmt), y)
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(sparse.predict_proba(sp.csr_matrix(X).asformat(fmt)),
                               dense.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_multilabel_matches_sklearn():
    X, Y = make_classification(n_samples=120, n_features=10, random_state=0), None
    X, _ = X
    Y = (np.random.default_rng(0).uniform(size=(120, 3)) < 0.4).astype(int)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    ours = _quiet_fit(MLPClassifier(**params), X, Y)
    ref = _quiet_fit(sk.MLPClassifier(**params), X, Y)
    assert ours.out_activation_ == "logistic" and ours.n_outputs_ == 3
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-5)


def test_float32_stays_float32(digits):
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0),
                     X.astype(np.float32), y)
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float64  # as sklearn: float64 X computes in float64
    reg = _quiet_fit(MLPRegressor(max_iter=3), X.astype(np.float32), y.astype(np.float32))
    assert reg.predict(X.astype(np.float32)).dtype == np.float32


def test_binary_and_string_labels(digits):
    X, y = digits
    labels = np.where(y % 2, "odd", "even")
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0), X, labels)
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    assert set(clf.predict(X)) <= {"odd", "even"}
    assert clf.predict_proba(X).shape == (len(X), 2)
    single = _quiet_fit(MLPClassifier(max_iter=2), X, np.zeros(len(X), dtype=int))
    assert (single.predict(X) == 0).all() and single.predict_proba(X).shape == (len(X), 2)


def test_sklearn_input_errors(digits):
    X, y = digits
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MLPClassifier().fit(np.where(X == 0, np.nan, X), y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        MLPClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(10, 0)).fit(X, y)
    with pytest.raises(ValueError, match="must be a str among"):
        MLPRegressor((50,)).fit(X, y)
    with pytest.raises(ValueError, match="The 'momentum' parameter of MLPClassifier"):
        MLPClassifier(momentum=1.5).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(X, np.linspace(0, 1, len(X)))
    clf = _quiet_fit(MLPClassifier(max_iter=1), X, y)
    with pytest.raises(ValueError, match="X has 63 features, but MLPClassifier is expecting 64"):
        clf.predict(X[:, 1:])


def test_get_params_matches_sklearn():
    # Every scikit-learn parameter with its default, and fastmlp's additions with theirs
    # (which keep scikit-learn's behaviour).
    additions = {"device": "cpu", "dropout": 0.0, "max_grad_norm": None, "warmup_iters": 0,
                 "early_stopping_metric": "score",
                 "precision": None}
    for ours, theirs in [(MLPClassifier(), sk.MLPClassifier()), (MLPRegressor(), sk.MLPRegressor())]:
        params = ours.get_params()
        for name, default in additions.items():
            assert params.pop(name) == default
        if isinstance(ours, MLPClassifier):
            assert params.pop("class_weight") is None
        assert params == theirs.get_params()
    assert repr(MLPRegressor(hidden_layer_sizes=(5,), loss="poisson")) == (
        "MLPRegressor(hidden_layer_sizes=(5,), loss='poisson')"
    )
