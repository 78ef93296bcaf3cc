"""class_weight, fit(validation_data=...), validation_loss_curve_ and early_stopping_metric.

The validation loss is checked against a numpy float64 oracle of scikit-learn's loss
(per-sample loss, weighted mean, L2 term of an epoch), class weights against
scikit-learn's compute_sample_weight (bitwise, through the sample_weight path).
"""

import pickle
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import sklearn.neural_network as sk
from scipy.special import expit, softmax, xlogy
from sklearn.base import clone
from sklearn.callback import ScoringMonitor
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import recall_score
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_sample_weight

from fastmlp import MLPAutoencoder, MLPClassifier, MLPRegressor


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def multiclass():
    X, y = make_classification(
        n_samples=300, n_features=8, n_informative=5, n_classes=3,
        weights=[0.6, 0.3, 0.1], random_state=0,
    )
    return train_test_split(X, y, test_size=0.3, random_state=0)


def _same_model(a, b):
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(wa, wb)
    assert a.loss_curve_ == b.loss_curve_


def _forward(est, X):
    """Output activations in float64, numpy only."""
    a = np.asarray(X, dtype=np.float64)
    acts = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "logistic": expit,
            "identity": lambda z: z}
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        a = a @ W.astype(np.float64) + b.astype(np.float64)
        if i < len(est.coefs_) - 1:
            a = acts[est.activation](a)
    out = est.out_activation_
    if out == "softmax":
        return softmax(a, axis=1)
    if out == "logistic":
        return expit(a)
    return a


def _oracle_val_loss(est, X, Y, sw, n_train, batch_size):
    """scikit-learn's per-sample loss, weighted mean, plus an epoch's L2 term."""
    p = _forward(est, X)
    eps = np.finfo(np.float64).eps
    if est.out_activation_ == "softmax":
        per = -xlogy(Y, np.clip(p, eps, 1 - eps)).sum(axis=1)
    elif est.out_activation_ == "logistic":
        q = np.clip(p, eps, 1 - eps)
        per = -(xlogy(Y, q) + xlogy(1 - Y, 1 - q)).sum(axis=1)
    else:
        per = 0.5 * ((Y - p) ** 2).mean(axis=1)
    data = np.average(per, weights=sw)
    sq = sum(float((W.astype(np.float64) ** 2).sum()) for W in est.coefs_)
    n_batches = -(-n_train // batch_size)
    return data + 0.5 * est.alpha * sq * n_batches / n_train


# ------------------------------------------------------------------ class_weight
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("class_weight", [{0: 1.0, 1: 2.5, 2: 7.0}, {2: 3.0, 0: 1, 1: 1}, "balanced"])
def test_class_weight_equals_sample_weight(multiclass, solver, class_weight):
    X, _, y, _ = multiclass
    params = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=15, random_state=0)
    a = MLPClassifier(class_weight=class_weight, **params).fit(X, y)
    b = MLPClassifier(**params).fit(X, y, sample_weight=compute_sample_weight(class_weight, y))
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(wa, wb)
    assert a.loss_ == b.loss_


def test_class_weight_multiplies_sample_weight(multiclass):
    X, _, y, _ = multiclass
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    params = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    a = MLPClassifier(class_weight="balanced", **params).fit(X, y, sample_weight=sw)
    b = MLPClassifier(**params).fit(X, y, sample_weight=sw * compute_sample_weight("balanced", y))
    _same_model(a, b)


def test_class_weight_multilabel_follows_compute_sample_weight():
    X = make_classification(n_samples=120, n_features=6, random_state=0)[0]
    Y = (np.random.RandomState(0).rand(120, 3) < [0.2, 0.5, 0.8]).astype(int)
    params = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    for cw in ("balanced", [{0: 1, 1: 3}, {0: 2, 1: 1}, {0: 1, 1: 1}]):
        a = MLPClassifier(class_weight=cw, **params).fit(X, Y)
        b = MLPClassifier(**params).fit(X, Y, sample_weight=compute_sample_weight(cw, Y))
        _same_model(a, b)
    with pytest.raises(ValueError, match="list of dicts"):
        MLPClassifier(class_weight={0: 1, 1: 2}, **params).fit(X, Y)
    with pytest.raises(ValueError, match="number of elements in class_weight"):
        MLPClassifier(class_weight=[{0: 1, 1: 2}], **params).fit(X, Y)


def test_class_weight_errors(multiclass):
    X, _, y, _ = multiclass
    with pytest.raises(ValueError, match=r"The classes, \[1, 2\], are not in class_weight"):
        MLPClassifier(class_weight={0: 1, 5: 2}, max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="single output"):
        MLPClassifier(class_weight=[{0: 1}], max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        MLPClassifier(class_weight="uniform", max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="'balanced' is not supported for partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


def test_class_weight_partial_fit_dict(multiclass):
    X, _, y, _ = multiclass
    cw = {0: 1.0, 1: 2.0, 2: 5.0}
    a = MLPClassifier(hidden_layer_sizes=(8,), random_state=0, class_weight=cw)
    b = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    # A batch without class 2 still gets the dict's weights of its own classes.
    first = y != 2
    a.partial_fit(X[first], y[first], classes=[0, 1, 2])
    b.partial_fit(X[first], y[first], classes=[0, 1, 2],
                  sample_weight=np.array([cw[c] for c in y[first]]))
    a.partial_fit(X, y)
    b.partial_fit(X, y, sample_weight=np.array([cw[c] for c in y]))
    _same_model(a, b)


def test_balanced_improves_minority_recall():
    X, y = make_classification(n_samples=2000, n_features=10, n_informative=4,
                               weights=[0.95], flip_y=0.02, class_sep=0.6, random_state=3)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, random_state=0)
    params = dict(hidden_layer_sizes=(16,), max_iter=60, random_state=0)
    plain = MLPClassifier(**params).fit(X_tr, y_tr)
    balanced = MLPClassifier(class_weight="balanced", **params).fit(X_tr, y_tr)
    assert recall_score(y_te, balanced.predict(X_te)) > recall_score(y_te, plain.predict(X_te)) + 0.1


def test_new_params_get_params_clone_pickle(multiclass):
    X, _, y, _ = multiclass
    clf = MLPClassifier(max_iter=5, class_weight={0: 1, 1: 2, 2: 3},
                        early_stopping_metric="loss", early_stopping=True, random_state=0)
    params = clf.get_params()
    assert params["class_weight"] == {0: 1, 1: 2, 2: 3}
    assert params["early_stopping_metric"] == "loss"
    twin = clone(clf)
    assert twin.get_params() == params
    clf.fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.validation_loss_curve_ == clf.validation_loss_curve_
    assert back.best_validation_loss_ == clf.best_validation_loss_
    assert MLPRegressor(early_stopping_metric="loss").get_params()["early_stopping_metric"] == "loss"
    assert "class_weight" not in MLPRegressor().get_params()
    with pytest.raises(ValueError, match="early_stopping_metric"):
        MLPRegressor(early_stopping_metric="r2").fit(X, y)


# ------------------------------------------------------------------ validation_data
class _Recorder:
    """A callback (sklearn.callback) that keeps the weights after every epoch."""

    def __init__(self):
        self.params = []

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, *, fitted_estimator=None):
        pass

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, fitted_estimator=None):
        if context.parent is not None:
            self.params.append(SimpleNamespace(
                coefs_=[np.array(c) for c in fitted_estimator.coefs_],
                intercepts_=[np.array(b) for b in fitted_estimator.intercepts_],
                activation=estimator.activation,
                out_activation_=fitted_estimator.out_activation_,
                alpha=estimator.alpha,
            ))
        return False


@pytest.mark.parametrize(
    "kind", ["multiclass", "binary", "regression", "weighted", "float32", "sparse"]
)
def test_validation_loss_curve_matches_oracle(kind):
    rng = np.random.RandomState(0)
    if kind == "regression":
        X, y = make_regression(n_samples=250, n_features=6, n_targets=2, noise=5,
                               random_state=0)
        y = y / 50
        est = MLPRegressor(hidden_layer_sizes=(7,), max_iter=6, random_state=0,
                           batch_size=64, alpha=0.3)
    else:
        X, y = make_classification(n_samples=250, n_features=6, n_informative=4,
                                   n_classes=2 if kind == "binary" else 3, random_state=0)
        est = MLPClassifier(hidden_layer_sizes=(7,), max_iter=6, random_state=0,
                            batch_size=64, alpha=0.3, activation="tanh")
    if kind == "float32":
        X = X.astype(np.float32)
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.4, random_state=0)
    sw_val = rng.uniform(0.2, 3.0, len(y_val)) if kind == "weighted" else None
    if kind == "sparse":
        import scipy.sparse as sp
        X_val = sp.csr_matrix(X_val)
    rec = _Recorder()
    est.set_callbacks(rec)
    vd = (X_val, y_val) if sw_val is None else (X_val, y_val, sw_val)
    est.fit(X_tr, y_tr, validation_data=vd)
    assert len(est.validation_loss_curve_) == est.n_iter_ == len(rec.params) == 6
    assert est.validation_scores_ is None and est.best_validation_loss_ is None
    if kind == "regression":
        Y = y_val.reshape(len(y_val), -1)
    elif kind == "binary":
        Y = (y_val == 1).astype(float).reshape(-1, 1)
    else:
        Y = np.eye(3)[y_val]
    Xd = X_val.toarray() if kind == "sparse" else X_val
    tol = 1e-5 if kind == "float32" else 1e-10
    for got, snapshot in zip(est.validation_loss_curve_, rec.params):
        want = _oracle_val_loss(snapshot, Xd, Y, sw_val, len(X_tr), 64)
        assert got == pytest.approx(want, rel=tol)
    # The last entry is the fitted model's.
    want = _oracle_val_loss(est, Xd, Y, sw_val, len(X_tr), 64)
    assert est.validation_loss_curve_[-1] == pytest.approx(want, rel=tol)


def test_validation_loss_equals_training_loss_on_training_data():
    # Full-batch sgd with lr -> the curve's L2 term is the training loss's: a validation
    # set equal to the training set after epoch k has the loss epoch k+1 reports.
    X, y = make_classification(n_samples=100, n_features=5, random_state=0)
    est = MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", batch_size=100,
                        shuffle=False, max_iter=5, alpha=0.5, random_state=0)
    est.fit(X, y, validation_data=(X, y))
    np.testing.assert_allclose(est.validation_loss_curve_[:-1], est.loss_curve_[1:], rtol=1e-12)


def test_validation_data_trains_on_all_of_X():
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    X_val, y_val = X[:40], y[:40]
    params = dict(hidden_layer_sizes=(6,), max_iter=8, random_state=0)
    with_val = MLPClassifier(**params).fit(X, y, validation_data=(X_val, y_val))
    plain = MLPClassifier(**params).fit(X, y)
    _same_model(with_val, plain)  # tracking the validation loss changes nothing
    assert with_val.t_ == 8 * 200
    es = MLPClassifier(early_stopping=True, n_iter_no_change=100, **params)
    es.fit(X, y, validation_data=(X_val, y_val))
    assert es.t_ == 8 * 200
    # The score of the given set (no split draws from the generator: plain's epochs).
    assert len(es.validation_scores_) == 8
    assert es.validation_scores_[-1] == plain.score(X_val, y_val)
    assert es.best_validation_score_ == max(es.validation_scores_)


def test_early_stopping_score_unchanged_vs_sklearn():
    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    params = dict(hidden_layer_sizes=(10,), max_iter=40, random_state=1, early_stopping=True,
                  n_iter_no_change=3, learning_rate_init=0.01)
    ours = MLPClassifier(**params).fit(X, y)
    theirs = sk.MLPClassifier(**params).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
    assert ours.best_validation_score_ == theirs.best_validation_score_
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
    # The split's validation loss is tracked, and nothing else changes.
    assert len(ours.validation_loss_curve_) == ours.n_iter_
    assert ours.best_validation_loss_ is None


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("given", [True, False])
def test_early_stopping_on_loss_restores_best_epoch(Est, given):
    if Est is MLPClassifier:
        X, y = make_classification(n_samples=300, n_features=8, flip_y=0.2, random_state=0)
    else:
        X, y = make_regression(n_samples=300, n_features=8, noise=30, random_state=0)
        y = y / 100
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.3, random_state=0)
    # Overfits: a wide net, no L2, a high learning rate.
    est = Est(hidden_layer_sizes=(64,), alpha=0.0, learning_rate_init=0.02, max_iter=300,
              early_stopping=True, early_stopping_metric="loss", n_iter_no_change=5,
              random_state=0)
    rec = _Recorder()
    est.set_callbacks(rec)
    if given:
        est.fit(X_tr, y_tr, validation_data=(X_val, y_val))
    else:
        est.fit(X_tr, y_tr)
    curve = est.validation_loss_curve_
    assert len(curve) == est.n_iter_ < 300
    best = int(np.argmin(curve))
    assert est.best_validation_loss_ == curve[best]
    assert est.n_iter_ > best + 5  # stopped after n_iter_no_change epochs past the best
    for W, W_best in zip(est.coefs_ + est.intercepts_,
                         rec.params[best].coefs_ + rec.params[best].intercepts_):
        np.testing.assert_array_equal(W, W_best)
    assert est.validation_scores_ is None and est.best_validation_score_ is None
    assert est.best_loss_ is None
    if given:
        want = _oracle_val_loss(est, X_val, (np.eye(2)[y_val][:, 1:] if Est is MLPClassifier
                                             else y_val.reshape(-1, 1)),
                                None, len(X_tr), 200)
        assert curve[best] == pytest.approx(want, rel=1e-9)


def test_metric_loss_without_early_stopping_only_tracks():
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    params = dict(hidden_layer_sizes=(6,), max_iter=12, random_state=0)
    a = MLPClassifier(early_stopping_metric="loss", **params).fit(X, y, validation_data=(X, y))
    b = MLPClassifier(**params).fit(X, y)
    _same_model(a, b)
    assert len(a.validation_loss_curve_) == 12 and a.best_validation_loss_ is None
    assert b.validation_loss_curve_ is None


def test_validation_data_with_class_weight(multiclass):
    X, X_val, y, y_val = multiclass
    sw_val = np.linspace(0.5, 2, len(y_val))
    params = dict(hidden_layer_sizes=(8,), max_iter=4, random_state=0)
    a = MLPClassifier(class_weight="balanced", **params).fit(
        X, y, validation_data=(X_val, y_val, sw_val))
    # The training set's balanced class weights weigh the validation set too.
    table = dict(zip(*np.unique(y, return_counts=True)))
    cw = {c: len(y) / (3 * n) for c, n in table.items()}
    b = MLPClassifier(**params).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y),
        validation_data=(X_val, y_val, sw_val * np.array([cw[c] for c in y_val])))
    np.testing.assert_allclose(a.validation_loss_curve_, b.validation_loss_curve_, rtol=1e-12)


def test_validation_data_errors_leave_model_intact(multiclass):
    X, X_val, y, y_val = multiclass
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    before = [w.copy() for w in clf.coefs_]
    proba = clf.predict_proba(X_val)
    bad = [
        ((X_val,), "must be a tuple"),
        ("oops", "must be a tuple"),
        ((X_val, y_val, None, None), "must be a tuple"),
        ((X_val[:, :3], y_val), "X has 3 features, but MLPClassifier is expecting 8"),
        ((X_val, y_val[:-1]), "inconsistent numbers of samples"),
        ((X_val, np.where(y_val == 2, 7, y_val)), r"labels not seen in training: \[7\]"),
        ((X_val, y_val, np.ones(3)), "sample_weight.shape"),
        ((X_val, y_val + 0.5), "Unknown label type|not seen in training"),
    ]
    for vd, msg in bad:
        with pytest.raises(ValueError, match=msg):
            clf.fit(X, y, validation_data=vd)
        for a, b in zip(clf.coefs_, before):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(clf.predict_proba(X_val), proba)
    with pytest.raises(ValueError, match="needs a stochastic solver"):
        MLPClassifier(solver="lbfgs").fit(X, y, validation_data=(X_val, y_val))
    reg = MLPRegressor(max_iter=2, random_state=0).fit(X, y.astype(float))
    with pytest.raises(ValueError, match=r"y_val has 2 output\(s\) but y has 1"):
        reg.fit(X, y.astype(float), validation_data=(X_val, np.c_[y_val, y_val]))
    assert not hasattr(MLPClassifier(solver="lbfgs", max_iter=5).fit(X, y),
                       "validation_loss_curve_")


def test_warm_start_accumulates_validation_curve(multiclass):
    X, X_val, y, y_val = multiclass
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, warm_start=True, random_state=0)
    clf.fit(X, y, validation_data=(X_val, y_val))
    clf.fit(X, y, validation_data=(X_val, y_val))
    assert len(clf.validation_loss_curve_) == len(clf.loss_curve_) == 6


def test_callbacks_see_validation_loss(multiclass):
    X, X_val, y, y_val = multiclass
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    clf.set_callbacks(monitor)
    clf.fit(X, y, validation_data=(X_val, y_val))
    assert len(clf.validation_loss_curve_) == 3


def test_autoencoder_validation_data():
    X = np.random.RandomState(0).rand(200, 6)
    ae = MLPAutoencoder(n_components=2, hidden_layer_sizes=(8,), max_iter=200,
                        early_stopping=True, early_stopping_metric="loss",
                        n_iter_no_change=3, random_state=0)
    ae.fit(X[:150], validation_data=X[150:])
    assert len(ae.validation_loss_curve_) == ae.n_iter_
    assert ae.regressor_.best_validation_loss_ == min(ae.validation_loss_curve_)
    assert MLPAutoencoder(max_iter=2).fit(X).validation_loss_curve_ is None


def test_verbose_prints_validation_loss(multiclass, capsys):
    X, X_val, y, y_val = multiclass
    MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, early_stopping=True,
                  early_stopping_metric="loss", n_iter_no_change=1, tol=10.0,
                  verbose=True, random_state=0).fit(X, y, validation_data=(X_val, y_val))
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("Validation loss: ")
    assert out[-1] == (
        "Validation loss did not improve more than tol=10.000000 for 1 consecutive "
        "epochs. Stopping."
    )
