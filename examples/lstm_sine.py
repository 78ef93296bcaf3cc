"""An LSTM predicting the next value of a noisy signal from its last 50 values, the README's
LSTM case (and benchmarks/compare.py's lstm_sine workload, which takes its data from here).

The signal is sin(t) + 0.5 sin(0.31 t) plus Gaussian noise of standard deviation 0.1,
sampled every 0.1; windows of 50 values predict the value that follows. LSTM(32) reads the
window and a Dense output reads its last state (4,385 parameters); Adam, learning rate
3e-3, batches of 64. The noise bounds what any model can reach: an RMSE of 0.1.

    python examples/lstm_sine.py          # a short run: 3 epochs
    python examples/lstm_sine.py --full   # the figures: 10 epochs (1250 steps)
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastmlp import NeuralNetRegressor
from fastmlp.layers import LSTM


def noisy_sine(n_train=8000, n_test=2000, window=50, seed=0):
    """(X, y, X_test, y_test): windows (n, window, 1) of the signal and the values after them."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_train + n_test + window) * 0.1
    s = (np.sin(t) + 0.5 * np.sin(0.31 * t) + 0.1 * rng.normal(size=t.size)).astype(np.float32)
    X = np.lib.stride_tricks.sliding_window_view(s[:-1], window)[:, :, None]
    y = s[window:]
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="10 epochs, as the figures")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, y, X_test, y_test = noisy_sine()
    reg = NeuralNetRegressor([LSTM(32)], learning_rate_init=3e-3, batch_size=64,
                             max_iter=10 if args.full else 3, alpha=0.0,
                             n_iter_no_change=np.inf, random_state=0)
    start = time.perf_counter()
    reg.fit(X, y)
    elapsed = time.perf_counter() - start
    steps = reg.n_iter_ * -(-len(X) // 64)
    rmse = np.sqrt(np.mean((reg.predict(X_test) - y_test) ** 2))
    last = np.sqrt(np.mean((X_test[:, -1, 0] - y_test) ** 2))
    print(f"{steps} steps in {elapsed:.2f} s ({1e3 * elapsed / steps:.2f} ms per step)")
    print(f"test R^2 {reg.score(X_test, y_test):.4f}, RMSE {rmse:.4f} (repeating the last "
          f"value: {last:.4f}; the noise alone: 0.1)")
    reg.summary()
