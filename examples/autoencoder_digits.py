"""Compress the 8x8 digits to 10 numbers with MLPAutoencoder and with PCA; print both
held-out reconstruction errors (mean squared error on pixels scaled to [0, 1])."""

import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPAutoencoder

# tol=0 runs all max_iter epochs on purpose.
warnings.simplefilter("ignore", ConvergenceWarning)

X = load_digits().data / 16.0
X_train, X_test = train_test_split(X, random_state=0)

pca = PCA(n_components=10).fit(X_train)
pca_mse = np.mean((X_test - pca.inverse_transform(pca.transform(X_test))) ** 2)

ae = MLPAutoencoder(
    n_components=10, hidden_layer_sizes=(128,), activation="tanh", max_iter=400, tol=0,
    learning_rate_init=0.003, random_state=0,
).fit(X_train)
ae_mse = -ae.score(X_test)

print(f"PCA(10)            test MSE: {pca_mse:.4f}")
print(f"MLPAutoencoder(10) test MSE: {ae_mse:.4f}  ({ae_mse / pca_mse:.0%} of PCA's)")
