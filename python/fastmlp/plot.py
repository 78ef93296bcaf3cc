"""Plots of a fitted fastmlp estimator, in scikit-learn's Display style.

``LossCurveDisplay.from_estimator(est)`` draws the training loss per epoch and, when the
estimator was fitted with ``early_stopping=True``, the validation score per epoch on a
second y axis; for a GAN, whose ``loss_curve_`` has a column per network, one line per
network. matplotlib is an optional dependency (``pip install "fastmlp[plot]"``),
imported only when something is drawn.

Tested by tests/test_plot.py.
"""

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support

__all__ = ["LossCurveDisplay"]


class LossCurveDisplay:
    """Training loss (and validation score) per epoch of an MLP.

    Use :meth:`from_estimator` to make one from a fitted estimator; the constructor takes
    the curves themselves.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,) or (n_epochs, n_losses)
        The training loss after each epoch (``loss_curve_``); a 2-D array draws one line
        per column (a GAN's discriminator and generator losses).

    validation_scores : array-like of shape (n_epochs,), default=None
        The validation score after each epoch (``validation_scores_``), if any.

    estimator_name : str, default=None
        Name used in the legend.

    loss_names : list of str, default=None
        Names of the columns of a 2-D ``loss_curve``, for the legend ('loss 0', ...
        when None).

    Attributes
    ----------
    line_ : matplotlib Line2D
        The loss curve (the first one of a 2-D ``loss_curve``).

    lines_ : list of matplotlib Line2D
        Every loss curve.

    validation_line_ : matplotlib Line2D or None
        The validation score curve, on `ax2_`.

    ax_ : matplotlib Axes
        Axes of the loss curve.

    ax2_ : matplotlib Axes or None
        Twin axes (shared x) of the validation scores.

    figure_ : matplotlib Figure
        Figure containing the curves.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from fastmlp import MLPClassifier
    >>> from fastmlp.plot import LossCurveDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(max_iter=30, early_stopping=True, random_state=0).fit(X / 16, y)
    >>> disp = LossCurveDisplay.from_estimator(clf)
    >>> len(disp.line_.get_xdata()) == clf.n_iter_
    True
    """

    def __init__(self, *, loss_curve, validation_scores=None, estimator_name=None,
                 loss_names=None):
        self.loss_curve = loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name
        self.loss_names = loss_names

    def plot(self, ax=None, *, name=None, **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure and axes are created when None.

        name : str, default=None
            Name in the legend; `estimator_name` when None.

        **kwargs : dict
            Passed to matplotlib's ``plot`` for the loss curve.

        Returns
        -------
        display : LossCurveDisplay
            This object, with the matplotlib artists stored on it.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        name = self.estimator_name if name is None else name
        loss = np.asarray(self.loss_curve, dtype=float)
        epochs = np.arange(1, loss.shape[0] + 1)
        if loss.ndim == 1:
            label = "training loss" if name is None else f"{name} training loss"
            self.lines_ = ax.plot(epochs, loss, **{"label": label, **kwargs})
        else:
            names = self.loss_names or [f"loss {j}" for j in range(loss.shape[1])]
            self.lines_ = [
                ax.plot(epochs, loss[:, j], **{
                    "label": f"{names[j]} loss" if name is None else f"{name} {names[j]} loss",
                    **kwargs})[0]
                for j in range(loss.shape[1])
            ]
        self.line_ = self.lines_[0]
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        handles = list(self.lines_)

        self.ax2_ = self.validation_line_ = None
        if self.validation_scores is not None:
            scores = np.asarray(self.validation_scores, dtype=float)
            self.ax2_ = ax.twinx()
            (self.validation_line_,) = self.ax2_.plot(
                np.arange(1, scores.size + 1), scores, color="tab:orange",
                label="validation score",
            )
            self.ax2_.set_ylabel("validation score")
            handles.append(self.validation_line_)
        ax.legend(handles=handles, loc="best")

        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, name=None, **kwargs):
        """Plot the loss curve of a fitted MLPClassifier or MLPRegressor.

        Parameters
        ----------
        estimator : MLPClassifier, MLPRegressor, NeuralNet*, MLPAutoencoder or GAN
            Fitted with a stochastic solver (L-BFGS keeps no loss curve); a GAN's two
            losses are drawn as two lines.

        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure and axes are created when None.

        name : str, default=None
            Name in the legend; the estimator's class name when None.

        **kwargs : dict
            Passed to matplotlib's ``plot`` for the loss curve.

        Returns
        -------
        display : LossCurveDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        loss_curve = getattr(estimator, "loss_curve_", None)
        if loss_curve is None:
            raise ValueError(
                f"{type(estimator).__name__} has no loss_curve_: it must be fitted, with "
                "solver='sgd' or 'adam' (L-BFGS keeps no per-epoch loss)."
            )
        display = cls(
            loss_curve=np.asarray(loss_curve),
            validation_scores=getattr(estimator, "validation_scores_", None),
            estimator_name=type(estimator).__name__ if name is None else name,
            loss_names=getattr(estimator, "_loss_names", None),
        )
        return display.plot(ax=ax, **kwargs)
