"""Per-epoch progress (scikit-learn's callbacks) and the loss curve of an MLPClassifier.

    pip install "fastmlp[progress,plot]" && python examples/progress_and_plot.py

Writes loss_curve.png in the working directory.
"""

import matplotlib

matplotlib.use("Agg")  # headless: write a file, open no window

from sklearn.callback import ProgressBar, ScoringMonitor
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier
from fastmlp.plot import LossCurveDisplay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)

monitor = ScoringMonitor(scoring="accuracy")
callbacks = [monitor]
try:
    callbacks.append(ProgressBar())  # needs rich
except ImportError:
    print("(install rich for a progress bar)")

clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=40, early_stopping=True, random_state=0)
clf.set_callbacks(*callbacks).fit(X_train, y_train)

epochs = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
for row in epochs[:: max(1, len(epochs) // 5)]:
    print(f"epoch {row['task_id'] + 1:3d}: training accuracy {row['accuracy']:.3f}")
print(f"test accuracy: {clf.score(X_test, y_test):.3f} after {clf.n_iter_} epochs")

display = LossCurveDisplay.from_estimator(clf)
display.figure_.savefig("loss_curve.png", dpi=100)
print("wrote loss_curve.png")
