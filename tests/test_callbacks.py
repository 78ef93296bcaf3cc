"""scikit-learn's callback framework (sklearn.callback) on fastmlp's estimators.

One root task per fit, one leaf task per epoch (sgd/adam) or L-BFGS iteration; ProgressBar
draws it, ScoringMonitor scores each epoch, a hook returning True stops training, and a fit
with no callbacks is exactly what it was before callbacks existed.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor

callback = pytest.importorskip("sklearn.callback", reason="needs scikit-learn's callbacks")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16, y[:400]


class Recorder:
    """A FitCallback that logs every hook call, and asks to stop after `stop_after` epochs."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.events = []

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name))

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name))

    def on_fit_task_begin(self, estimator, context, *, fitted_estimator=None):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, fitted_estimator=None):
        self.events.append(("end", context.task_name, context.task_id))
        if context.parent is not None and fitted_estimator is not None:
            # A ready-to-predict copy with the weights as of this task (the empty task
            # that ends L-BFGS has none).
            assert fitted_estimator.predict(X[:3]).shape == (3,)
            assert y.shape == (X.shape[0],)
        return self.stop_after is not None and context.task_id + 1 >= self.stop_after

    def count(self, kind, task_name):
        return sum(1 for e in self.events if e[0] == kind and e[1] == task_name)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_one_leaf_task_per_epoch(digits, solver):
    X, y = digits
    rec = Recorder()
    clf = MLPClassifier(hidden_layer_sizes=(20,), solver=solver, max_iter=7, random_state=0)
    clf.set_callbacks(rec).fit(X, y)
    leaf = "lbfgs-iter" if solver == "lbfgs" else "epoch"
    # L-BFGS, as LogisticRegression: one more task, begun after the last iteration.
    expected = clf.n_iter_ + (solver == "lbfgs")
    assert rec.count("begin", leaf) == rec.count("end", leaf) == expected
    assert rec.events[0] == ("setup", "fit") and rec.events[-1] == ("teardown", "fit")
    assert rec.count("begin", "fit") == rec.count("end", "fit") == 1
    assert "_callback_fit_ctx" not in clf.__dict__  # torn down, not pickled


def test_partial_fit_is_one_task_with_one_epoch(digits):
    X, y = digits
    rec = Recorder()
    clf = MLPClassifier(hidden_layer_sizes=(20,), random_state=0).set_callbacks(rec)
    for _ in range(3):
        clf.partial_fit(X, y, classes=np.arange(10))
    assert rec.count("begin", "partial_fit") == 3
    assert rec.count("end", "epoch") == 3


def test_callback_can_stop_training(digits):
    X, y = digits
    rec = Recorder(stop_after=3)
    clf = MLPClassifier(hidden_layer_sizes=(20,), max_iter=50, random_state=0)
    clf.set_callbacks(rec).fit(X, y)
    assert clf.n_iter_ == 3
    assert len(clf.loss_curve_) == 3


def test_failed_fit_tears_callbacks_down(digits):
    X, y = digits
    rec = Recorder()
    clf = MLPClassifier(max_iter=3).set_callbacks(rec)
    X_bad = X.copy()
    X_bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        clf.fit(X_bad, y)
    assert rec.count("setup", "fit") == rec.count("teardown", "fit") == 1
    assert "_callback_fit_ctx" not in clf.__dict__


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_no_callbacks_same_fit_and_output(digits, solver, capsys):
    X, y = digits
    params = dict(hidden_layer_sizes=(20,), solver=solver, max_iter=5, random_state=0,
                  verbose=True)
    plain = MLPClassifier(**params).fit(X, y)
    out_plain = capsys.readouterr().out
    hooked = MLPClassifier(**params).set_callbacks(Recorder()).fit(X, y)
    out_hooked = capsys.readouterr().out
    assert out_plain == out_hooked
    for a, b in zip(plain.coefs_ + plain.intercepts_, hooked.coefs_ + hooked.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert not any("callback" in k for k in plain.__dict__)
    # Callbacks travel with clone (as scikit-learn's), never into a pickle of a plain fit.
    assert len(clone(hooked)._skl_callbacks) == 1
    assert b"callback" not in pickle.dumps(plain)


def test_scoring_monitor_records_each_epoch(digits):
    X, y = digits
    monitor = callback.ScoringMonitor(scoring="accuracy")
    clf = MLPClassifier(hidden_layer_sizes=(20,), max_iter=6, random_state=0)
    clf.set_callbacks(monitor).fit(X, y)
    rows = [r for r in monitor.get_logs().data if r["task_name"] == "epoch"]
    assert [r["task_id"] for r in rows] == list(range(clf.n_iter_))
    scores = [r["accuracy"] for r in rows]
    assert all(0 <= s <= 1 for s in scores)
    assert scores[-1] == pytest.approx(clf.score(X, y))
    assert scores[-1] > scores[0]


def test_scoring_monitor_regressor_lbfgs():
    X, y = make_regression(n_samples=200, n_features=8, noise=1.0, random_state=0)
    monitor = callback.ScoringMonitor(scoring="r2")
    reg = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=15, random_state=0)
    reg.set_callbacks(monitor).fit(X, y / 100)
    rows = [r for r in monitor.get_logs().data if r["task_name"] == "lbfgs-iter"]
    assert len(rows) == reg.n_iter_  # the extra, empty, task has no score
    assert rows[-1]["r2"] == pytest.approx(reg.score(X, y / 100))


def test_progress_bar_shows_epochs(digits, capsys):
    pytest.importorskip("rich", reason="ProgressBar needs rich")
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(20,), max_iter=4, random_state=0)
    clf.set_callbacks(callback.ProgressBar()).fit(X, y)
    out = capsys.readouterr().out
    assert "MLPClassifier - fit" in out
    assert "100%" in out
