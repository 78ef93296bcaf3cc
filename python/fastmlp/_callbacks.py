"""scikit-learn's callback framework (`sklearn.callback`) for fastmlp's estimators.

The estimators are `CallbackSupportMixin`s, so
``MLPClassifier().set_callbacks(ProgressBar(), ScoringMonitor(scoring="accuracy"))``
shows a progress bar and records a score per epoch. The task tree is the one scikit-learn's
own estimators build: the call to ``fit`` (or ``partial_fit``) is the root task, and each
epoch of ``sgd``/``adam`` (or each L-BFGS iteration, through SciPy's ``callback``) is one
leaf subtask. The C++ core runs a whole epoch per call, so the hooks run between calls,
never inside one. With no callbacks set nothing here runs, and a fit is exactly what it is
without this module. A callback's ``on_fit_task_end`` returning True stops training after
that epoch.

Tested by tests/test_callbacks.py.
"""

import numpy as np
from sklearn.base import is_classifier


def max_subtasks(est, incremental):
    """How many leaf tasks a fit may have (the root context needs it up front)."""
    if incremental:
        return 1
    if est.solver == "lbfgs":
        # As LogisticRegression: SciPy's callback logic leaves one extra, empty, task.
        return max(est.max_iter, 1) + 1
    return est.max_iter


def unflatten(flat, units):
    """Copies of coefs_ and intercepts_ from a flat vector in the estimator's packing."""
    coefs, intercepts, start = [], [], 0
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        coefs.append(flat[start : start + fan_in * fan_out].reshape(fan_in, fan_out).copy())
        start += fan_in * fan_out
    for fan_out in units[1:]:
        intercepts.append(flat[start : start + fan_out].copy())
        start += fan_out
    return coefs, intercepts


class FitHooks:
    """Calls the callback hooks of one fit; every method is a no-op without callbacks.

    Parameters
    ----------
    est : BaseMultilayerPerceptron
        The estimator being fitted, with its callback context already initialized.
    X : ndarray or sparse matrix
        The validated training data.
    Y : ndarray of shape (n_samples, n_outputs) or None
        The targets as the network sees them (binarized labels for classifiers); the
        callbacks get them back as the user gave them, computed only if a hook asks.
        None for an unsupervised fit.
    sample_weight : ndarray or None
        Passed to the callbacks as ``metadata={"sample_weight": ...}``.
    """

    def __init__(self, est, X, Y, sample_weight):
        self.active = bool(getattr(est, "_skl_callbacks", None)) and hasattr(
            est, "_callback_fit_ctx"
        )
        self._est = est
        self._X = X
        self._Y = Y
        self._metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self._task = None

    def _targets(self):
        est = self._est
        if self._Y is None:  # an unsupervised fit (GAN.fit(X))
            return None
        if is_classifier(est):
            return est._inverse_binarize(self._Y)
        return self._Y.ravel() if self._Y.shape[1] == 1 else self._Y

    def _state(self, params=None):
        """What a copy of the estimator needs to predict as of now (or as of `params`)."""
        return self._est._reconstruction_attributes(params)

    def _call(self, ctx, hook, params=None):
        kwargs = dict(
            estimator=self._est,
            X=self._X,
            y=self._targets,
            metadata=self._metadata,
            reconstruction_attributes=lambda: self._state(params),
        )
        if hook == "begin":
            ctx.call_on_fit_task_begin(**kwargs)
            return False
        return ctx.call_on_fit_task_end(**kwargs)

    def fit_begin(self):
        if self.active:
            self._call(self._est._callback_fit_ctx, "begin")

    def fit_end(self):
        if self.active:
            self._call(self._est._callback_fit_ctx, "end")

    def epoch_begin(self):
        if self.active:
            self._task = self._est._callback_fit_ctx.subcontext(task_name="epoch")
            self._call(self._task, "begin")

    def epoch_end(self):
        """Ends the epoch's task; True when a callback asks to stop training."""
        if not self.active:
            return False
        return self._call(self._task, "end")

    # ------------------------------------------------------------------ L-BFGS
    def lbfgs_callback(self, x0):
        """SciPy's ``callback(xk)`` for L-BFGS-B, or None without callbacks.

        SciPy calls it at the end of each iteration: it ends that iteration's task and
        begins the next one; `lbfgs_close` ends the last, which never ran.
        """
        if not self.active:
            return None
        self._lbfgs_begin(x0)
        return self._lbfgs_step

    def _lbfgs_begin(self, params):
        self._task = self._est._callback_fit_ctx.subcontext(task_name="lbfgs-iter")
        self._call(self._task, "begin", params)

    def _lbfgs_step(self, xk):
        # A stop request is not honoured here: SciPy < 1.11 (still supported) has no way.
        self._call(self._task, "end", np.array(xk))
        self._lbfgs_begin(np.array(xk))

    def lbfgs_close(self):
        if self.active and self._task is not None:
            self._task.call_on_fit_task_end(estimator=self._est)


NO_HOOKS = FitHooks.__new__(FitHooks)
NO_HOOKS.active = False
