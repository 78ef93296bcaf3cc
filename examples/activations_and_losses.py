"""The activations and losses beyond scikit-learn: each hidden activation on the 8x8
digits (held-out accuracy), and the robust regression losses against squared error on
data whose training targets carry gross outliers (held-out error against the clean
targets)."""

import time
import warnings

import numpy as np
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier, MLPRegressor

warnings.simplefilter("ignore", ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0)
print("activation   test accuracy   fit time")
for activation in ("relu", "leaky_relu", "gelu", "silu", "elu", "softplus", "tanh"):
    clf = MLPClassifier((64,), activation=activation, max_iter=100, random_state=0)
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    print(f"{activation:<12} {clf.score(X_test, y_test):13.4f} {time.perf_counter() - start:9.2f} s")

# 5% of the training targets replaced by gross outliers; the test targets stay clean.
X, y = make_regression(2000, 10, noise=0.1, random_state=0)
y = y / y.std()
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
rng = np.random.default_rng(0)
corrupt = rng.random(len(y_train)) < 0.05
y_noisy = np.where(corrupt, y_train + rng.choice([-20.0, 20.0], len(y_train)), y_train)
print("\nloss             test MAE (clean targets)")
for loss in ("squared_error", "absolute_error", "huber"):
    reg = MLPRegressor(loss=loss, hidden_layer_sizes=(32,), max_iter=200, random_state=0)
    reg.fit(X_train, y_noisy)
    print(f"{loss:<16} {mean_absolute_error(y_test, reg.predict(X_test)):.4f}")
