"""Compress the 8x8 digits to 10 numbers with MLPAutoencoder and with PCA; print the
held-out reconstruction errors (mean squared error on pixels scaled to [0, 1]).

    python examples/autoencoder_digits.py           # PCA and the defaults (seconds)
    python examples/autoencoder_digits.py --full    # and the README's recipe (~30 s)
"""

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPAutoencoder

# tol=0 runs all max_iter epochs on purpose.
warnings.simplefilter("ignore", ConvergenceWarning)
parser = argparse.ArgumentParser()
parser.add_argument("--full", action="store_true")
args = parser.parse_args()

X = load_digits().data / 16.0
X_train, X_test = train_test_split(X, random_state=0)

pca = PCA(n_components=10).fit(X_train)
pca_mse = np.mean((X_test - pca.inverse_transform(pca.transform(X_test))) ** 2)
print(f"PCA(10)                      test MSE: {pca_mse:.4f}")

# The defaults: one hidden layer of 128 relu units each side of a linear bottleneck.
ae = MLPAutoencoder(n_components=10, random_state=0).fit(X_train)
ae_mse = -ae.score(X_test)
print(f"MLPAutoencoder(10) defaults  test MSE: {ae_mse:.4f}  ({ae_mse / pca_mse:.0%} of PCA's, "
      f"{ae.n_iter_} epochs)")

if args.full:
    ae = MLPAutoencoder(n_components=10, hidden_layer_sizes=(256,), activation="gelu",
                        max_iter=400, tol=0, random_state=0).fit(X_train)
    ae_mse = -ae.score(X_test)
    print(f"MLPAutoencoder(10) recipe    test MSE: {ae_mse:.4f}  ({ae_mse / pca_mse:.0%} of "
          "PCA's)")
