"""The MNIST-1D paper's CNN (Greydanus 2020) with fastmlp's layers, reproducing the
accuracy figure of the README: the mean test accuracy of seeds 0, 1 and 2.

The model is the paper's (three Conv1D layers of 25 filters with strides 2 and one zero of
padding, ReLU, a Dense output: 5,210 parameters), trained for its 6000 steps of batch 100
with Adam; the recipe adds a linear warmup and cosine decay of the learning rate (peak
2e-2) and dropout of 0.2 before the output layer. The data is built by the mnist1d
package's make_dataset (4000 train and 1000 test series of length 40), never downloaded.

    pip install mnist1d
    python examples/cnn_mnist1d.py
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastmlp import NeuralNetClassifier
from fastmlp.layers import Conv1D, Dropout, Flatten

try:
    from mnist1d.data import get_dataset_args, make_dataset
except ImportError:
    raise SystemExit("this example needs the mnist1d package: pip install mnist1d")

warnings.simplefilter("ignore", ConvergenceWarning)
data = make_dataset(get_dataset_args())
X, y = data["x"].astype(np.float32), data["y"]
X_test, y_test = data["x_test"].astype(np.float32), data["y_test"]


def paper_cnn(seed):
    conv = dict(strides=2, padding=1, activation="relu")
    layers = [Conv1D(25, 5, **conv), Conv1D(25, 3, **conv), Conv1D(25, 3, **conv), Flatten(),
              Dropout(0.2)]
    return NeuralNetClassifier(
        layers, input_shape=(40, 1), learning_rate_init=2e-2, learning_rate="cosine",
        warmup_iters=5, batch_size=100, max_iter=150, alpha=0.0, shuffle=False,
        n_iter_no_change=np.inf, random_state=seed,
    )


accuracies = []
for seed in (0, 1, 2):
    clf = paper_cnn(seed)
    start = time.perf_counter()
    clf.fit(X, y)
    elapsed = time.perf_counter() - start
    accuracies.append(clf.score(X_test, y_test))
    print(f"seed {seed}: test accuracy {accuracies[-1]:.4f}, {clf.n_iter_ * 40} steps "
          f"in {elapsed:.2f} s")
print(f"mean test accuracy: {np.mean(accuracies):.4f} (the paper's CNN: 94%)")
clf.summary()
