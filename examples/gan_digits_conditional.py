"""A conditional GAN on the 8x8 digits: GAN.fit(X, y) learns to draw digits of a given
class, GAN.sample(n, y=k) draws them. A classifier trained on the real digits then labels
the samples of each class; the script prints how often it finds the class asked for.

    python examples/gan_digits_conditional.py          # a short run (seconds)
    python examples/gan_digits_conditional.py --full   # the README's run (~1 min); saves
                                                       # gan_digits.png, a row per class
"""

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from fastmlp import GAN, MLPClassifier

warnings.simplefilter("ignore", ConvergenceWarning)
parser = argparse.ArgumentParser()
parser.add_argument("--full", action="store_true")
args = parser.parse_args()

X, y = load_digits(return_X_y=True)  # pixels 0..16; samples come back in these units
# GAN's defaults (packing 2, Adam at 5e-4 with a cosine decay) with 16 latent values and
# batches of 64: 28 steps per epoch.
gan = GAN(latent_dim=16, batch_size=64, max_iter=300 if args.full else 4,
          random_state=0).fit(X, y)

clf = MLPClassifier(max_iter=500, random_state=0).fit(X / 16, y)
samples = {k: np.clip(gan.sample(500, y=k, random_state=k), 0, 16) for k in range(10)}
recognised = [np.mean(clf.predict(samples[k] / 16) == k) for k in range(10)]
print("class:      " + " ".join(f"{k:>4d}" for k in range(10)))
print("recognised: " + " ".join(f"{r:4.0%}" for r in recognised))
print(f"lowest {min(recognised):.0%}, mean {np.mean(recognised):.0%} (of 500 samples per class)")

if args.full:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(10, 10, figsize=(3.5, 3.5))
    for k in range(10):
        for j in range(10):
            axes[k, j].imshow(samples[k][j].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16,
                              interpolation="nearest")
            axes[k, j].axis("off")
    fig.subplots_adjust(0.01, 0.01, 0.99, 0.99, 0.08, 0.08)
    fig.savefig("gan_digits.png", dpi=72)
    print("saved gan_digits.png")
