"""A variational autoencoder on the 8x8 digits: MLPAutoencoder(variational=True) encodes
each digit as a Gaussian in 8 dimensions and decodes codes drawn from N(0, I) into new
digits. Prints the held-out reconstruction error of its means next to a plain
autoencoder's and PCA's, and how often a classifier trained on real digits recognises the
new samples as confidently as real ones.

    python examples/vae_digits.py            # a short run (seconds)
    python examples/vae_digits.py --full     # longer training; saves vae_digits.png
"""

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPAutoencoder, MLPClassifier

warnings.simplefilter("ignore", ConvergenceWarning)
parser = argparse.ArgumentParser()
parser.add_argument("--full", action="store_true")
args = parser.parse_args()
epochs = 400 if args.full else 15

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test = train_test_split(X, random_state=0)

pca = PCA(n_components=8).fit(X_train)
vae = MLPAutoencoder(n_components=8, hidden_layer_sizes=(256,), variational=True,
                     max_iter=epochs, tol=0, random_state=0).fit(X_train)
ae = MLPAutoencoder(n_components=8, hidden_layer_sizes=(256,), max_iter=epochs, tol=0,
                    random_state=0).fit(X_train)
pca_mse = np.mean((X_test - pca.inverse_transform(pca.transform(X_test))) ** 2)
print(f"held-out MSE at 8 components: PCA {pca_mse:.4f}, autoencoder {-ae.score(X_test):.4f}, "
      f"VAE (means) {-vae.score(X_test):.4f}")
print(f"the VAE's decoder variance (probabilistic PCA's): {vae.noise_variance_:.4f}")

samples = np.clip(vae.sample(1000, random_state=0), 0, 1)
clf = MLPClassifier(random_state=0, max_iter=300).fit(X, y)
confident = lambda Z: np.mean(clf.predict_proba(Z).max(axis=1) > 0.9)  # noqa: E731
print(f"classifier confidence > 0.9: real digits {confident(X_test):.0%}, VAE samples "
      f"{confident(samples):.0%}; samples per predicted class "
      f"{np.bincount(clf.predict(samples), minlength=10).tolist()}")

if args.full:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 10, figsize=(5, 2.1))
    for ax, image in zip(axes.ravel(), samples):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
    fig.subplots_adjust(0.01, 0.01, 0.99, 0.99, 0.05, 0.05)
    fig.savefig("vae_digits.png", dpi=72)
    print("saved vae_digits.png")
