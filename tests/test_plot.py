"""fastmlp.plot.LossCurveDisplay draws headless (Agg) and saves a PNG."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp.plot import LossCurveDisplay

matplotlib = pytest.importorskip("matplotlib", reason="plots need matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:500] / 16, y[:500]


def test_from_estimator_with_validation_scores(digits, tmp_path):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=15, early_stopping=True,
                        random_state=0).fit(X, y)
    disp = LossCurveDisplay.from_estimator(clf)
    np.testing.assert_array_equal(disp.line_.get_ydata(), clf.loss_curve_)
    np.testing.assert_array_equal(disp.line_.get_xdata(), np.arange(1, clf.n_iter_ + 1))
    np.testing.assert_array_equal(disp.validation_line_.get_ydata(), clf.validation_scores_)
    assert disp.ax2_ is not None and disp.ax2_.get_ylabel() == "validation score"
    assert disp.ax_.get_xlabel() == "epoch"
    path = tmp_path / "loss.png"
    disp.figure_.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(disp.figure_)


def test_plot_on_given_axes_without_validation(digits, tmp_path):
    X, y = digits
    reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=8, random_state=0).fit(X, y)
    fig, (left, right) = plt.subplots(1, 2)
    disp = LossCurveDisplay.from_estimator(reg, ax=right, name="fast", color="k")
    assert disp.ax_ is right and disp.figure_ is fig
    assert disp.ax2_ is None and disp.validation_line_ is None
    assert disp.line_.get_label() == "fast training loss"
    assert disp.line_.get_color() == "k"
    # The constructor + plot() path, as scikit-learn's displays.
    again = LossCurveDisplay(loss_curve=reg.loss_curve_).plot(ax=left)
    assert len(again.line_.get_xdata()) == reg.n_iter_
    fig.savefig(tmp_path / "two.png")
    plt.close(fig)


def test_lbfgs_or_unfitted_is_a_clear_error(digits):
    X, y = digits
    clf = MLPClassifier(solver="lbfgs", max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="no loss_curve_"):
        LossCurveDisplay.from_estimator(clf)
    with pytest.raises(ValueError, match="no loss_curve_"):
        LossCurveDisplay.from_estimator(MLPClassifier())
