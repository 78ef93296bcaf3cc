"""A GAN on the toy data of the PacGAN and VEEGAN papers: 8 Gaussians on a ring (sigma
0.01) and 25 on a grid (sigma 0.05). Prints, for 2,500 samples, the modes captured and the
fraction of high-quality samples (within 3 sigma of a mode).

    python examples/gan_ring_grid.py            # a short run (seconds): a few epochs
    python examples/gan_ring_grid.py --full     # benchmarks/gan_modes.py's recipe on
                                                # 100,000 points (~2 min per dataset),
                                                # saves gan_ring_grid.png
"""

import argparse

import numpy as np

from fastmlp import GAN


def mixture(name, n, rng):
    if name == "ring":
        angles = 2 * np.pi * np.arange(8) / 8
        centers, sigma = np.c_[np.cos(angles), np.sin(angles)], 0.01
    else:
        centers = np.array([(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)], float)
        sigma = 0.05
    X = centers[rng.randint(len(centers), size=n)] + sigma * rng.normal(size=(n, 2))
    return X, centers, sigma


parser = argparse.ArgumentParser()
parser.add_argument("--full", action="store_true")
args = parser.parse_args()
n, epochs = (100_000, 60) if args.full else (5_000, 2)

results = {}
for name in ("ring", "grid"):
    X, centers, sigma = mixture(name, n, np.random.RandomState(0))
    # The defaults: PacGAN's packing (2 samples per discriminator input), Adam at 5e-4
    # decayed to 0 by a cosine schedule, batches of 256.
    gan = GAN(max_iter=epochs, precision="float32", random_state=0).fit(X)
    samples = gan.sample(2500, random_state=0)
    dist = np.linalg.norm(samples[:, None] - centers[None], axis=2)
    good = dist.min(axis=1) < 3 * sigma
    modes = len(np.unique(dist.argmin(axis=1)[good]))
    print(f"{name}: {modes} of {len(centers)} modes, {good.mean():.1%} high-quality samples "
          f"(discriminator / generator loss {gan.loss_curve_[-1].round(3)})")
    results[name] = (X[:2500], samples)

if args.full:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.2))
    for ax, (name, (real, samples)) in zip(axes, results.items()):
        ax.scatter(real[:, 0], real[:, 1], s=1, c="0.7", label="data")
        ax.scatter(samples[:, 0], samples[:, 1], s=1, c="tab:red", label="GAN samples")
        ax.set_title(name)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(loc="center", fontsize=7, markerscale=4)
    fig.tight_layout()
    fig.savefig("gan_ring_grid.png", dpi=72)
    print("saved gan_ring_grid.png")
