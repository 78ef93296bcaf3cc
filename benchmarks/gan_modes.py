"""Mode coverage of fastmlp's GAN on the toy data of the PacGAN and VEEGAN papers.

Two mixtures of 2-D Gaussians, 100,000 training points each: 8 on the unit circle
(sigma 0.01) and 25 on the grid {-4, -2, 0, 2, 4}^2 (sigma 0.05). After training, 2,500
samples are drawn; a sample is of high quality when it lies within 3 sigma of its nearest
mode, and a mode is captured when some high-quality sample lands on it. Each figure is
the mean over the seeds. Targets (issue 15): ring 8 modes and >= 95% high quality, grid
>= 24 modes and >= 90%.

    python benchmarks/gan_modes.py                       # both, 5 seeds (~1 min a fit)
    python benchmarks/gan_modes.py --data ring --seeds 0,1 --threads 1
    python benchmarks/gan_modes.py --figure gan_modes.png    # samples of the first seed

Published (PacGAN, Lin et al. 2018, table 3, mean of 10 trials): plain GAN 6.3 modes /
98.2% on the ring and 17.3 / 94.8% on the grid; PacGAN4 7.8 / 95.9% and 24.8 / 93.6%.
"""

import argparse
import os
import time

import numpy as np

# GAN's defaults (latent_dim=8, pack=2, batches of 256, Adam at 5e-4 for both networks
# with a cosine decay, two hidden layers of 256 units each) for 60 epochs, in float32:
# the figures in benchmarks/RESULTS.md and examples/gan_ring_grid.py --full.
RECIPE = dict(max_iter=60, precision="float32")


def ring(n, rng):
    """8 Gaussians of sigma 0.01 on the unit circle: (X, centers, sigma)."""
    angles = 2 * np.pi * np.arange(8) / 8
    centers = np.c_[np.cos(angles), np.sin(angles)]
    return centers[rng.randint(8, size=n)] + 0.01 * rng.normal(size=(n, 2)), centers, 0.01


def grid(n, rng):
    """25 Gaussians of sigma 0.05 on {-4, -2, 0, 2, 4}^2: (X, centers, sigma)."""
    centers = np.array([(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)], float)
    return centers[rng.randint(25, size=n)] + 0.05 * rng.normal(size=(n, 2)), centers, 0.05


DATA = {"ring": ring, "grid": grid}


def coverage(samples, centers, sigma):
    """(modes captured, fraction of high-quality samples)."""
    dist = np.linalg.norm(samples[:, None, :] - centers[None], axis=2)
    nearest, good = dist.argmin(axis=1), dist.min(axis=1) < 3 * sigma
    return len(np.unique(nearest[good])), float(good.mean())


def run(name, seed, n_train=100_000, n_samples=2500, **params):
    """One fit: (modes, high quality, fit seconds, samples)."""
    from fastmlp import GAN

    X, centers, sigma = DATA[name](n_train, np.random.RandomState(seed))
    gan = GAN(random_state=seed, **{**RECIPE, **params})
    start = time.perf_counter()
    gan.fit(X.astype(np.float32))
    seconds = time.perf_counter() - start
    samples = gan.sample(n_samples, random_state=seed)
    modes, quality = coverage(samples, centers, sigma)
    return modes, quality, seconds, samples, X[:n_samples]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ring,grid")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--threads", type=int, default=None,
                        help="OpenMP threads (default: all; 1 is faster on a busy machine)")
    parser.add_argument("--max-iter", type=int, default=RECIPE["max_iter"])
    parser.add_argument("--figure", default=None, help="PNG of the first seed's samples")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from threadpoolctl import threadpool_limits

    import fastmlp

    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.data.split(",")
    print(f"fastmlp {fastmlp.__version__}, {RECIPE | {'max_iter': args.max_iter}}, threads="
          f"{args.threads or os.cpu_count()}")
    print("| data | seed | modes | high quality | fit time |")
    print("| --- | --- | --- | --- | --- |")
    summary, shown = {}, {}
    with threadpool_limits(args.threads or os.cpu_count(), user_api="openmp"):
        for name in names:
            for seed in seeds:
                modes, quality, seconds, samples, real = run(name, seed, max_iter=args.max_iter)
                summary.setdefault(name, []).append((modes, quality, seconds))
                shown.setdefault(name, (samples, real))
                print(f"| {name} | {seed} | {modes} | {quality:.1%} | {seconds:.0f} s |",
                      flush=True)
    for name, rows in summary.items():
        modes, quality, seconds = np.mean(rows, axis=0)
        print(f"| {name} | mean of {len(rows)} | {modes:.1f} | {quality:.1%} | "
              f"{seconds:.0f} s |")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.2))
        for ax, (name, (samples, real)) in zip(np.atleast_1d(axes), shown.items()):
            ax.scatter(real[:, 0], real[:, 1], s=2, c="0.75", label="data")
            ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:red", label="GAN")
            ax.set_title(name)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        fig.savefig(args.figure, dpi=80)
        print(f"saved {args.figure}")


if __name__ == "__main__":
    main()
