"""fastmlp against scikit-learn and PyTorch on the same machine, in one run.

Every fit runs in a fresh process; libraries alternate (A B C A B C ...) and each figure
is the median of --repeats runs. Prints a table of times and ratios (other / fastmlp).

    python benchmarks/compare.py --repeats 3            # all workloads
    python benchmarks/compare.py --workloads digits,mnist784
    python benchmarks/compare.py --workloads mnist784_bf16 --threads 1 --repeats 5
    python benchmarks/compare.py --workloads gan_ring --threads 1 --repeats 5

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the children's environment so that
numpy (scikit-learn) runs its best kernel. PyTorch is optional (`pip install torch`).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

WORKLOADS = {
    # name: (libraries, description)
    "mnist784": (("fastmlp", "sklearn", "torch"),
                 "60000x784 float32, 10 classes, hidden (256,128), adam, batch 200, 5 epochs"),
    "mnist784_bf16": (("fastmlp", "fastmlp-bf16"),
                      "mnist784 in float32 against precision='bfloat16' (needs AVX-512 BF16)"),
    "digits": (("fastmlp", "sklearn"), "load_digits, default MLPClassifier"),
    "digits_sgd": (("fastmlp", "sklearn"), "load_digits, MLPClassifier(solver='sgd')"),
    "digits_lbfgs": (("fastmlp", "sklearn"), "load_digits, MLPClassifier(solver='lbfgs')"),
    "digits_tanh": (("fastmlp", "sklearn"), "load_digits, MLPClassifier(activation='tanh')"),
    "digits_logistic": (("fastmlp", "sklearn"),
                        "load_digits, MLPClassifier(activation='logistic')"),
    "regression": (("fastmlp", "sklearn"),
                   "make_regression(20000, 100, noise=1) float32, hidden (64,64), adam, 20 epochs"),
    "predict_proba": (("fastmlp", "sklearn"),
                      "predict_proba on 100,000 rows with a mnist784-shaped model"),
    "gan_ring": (("fastmlp", "torch"),
                 "GAN on 100,000 ring points (8 Gaussians) float32: generator 8-256-256-2 "
                 "relu, discriminator 4-256-256-1 leaky_relu (pack 2), batch 128, adam, "
                 "non-saturating loss, 2 epochs (1562 steps); score: high-quality fraction"),
}


def _mnist784(cache):
    path = Path(cache) / "mnist784.npz"
    if not path.exists():
        from sklearn.datasets import make_classification

        X, y = make_classification(n_samples=60000, n_features=784, n_informative=60,
                                   n_classes=10, n_clusters_per_class=2, random_state=0)
        np.savez(path, X=X.astype(np.float32), y=y)
    data = np.load(path)
    return data["X"], data["y"]


def _estimator(lib, kind, **params):
    if lib.startswith("fastmlp"):
        import fastmlp as mod
    else:
        import sklearn.neural_network as mod
    return getattr(mod, kind)(**params)


def _torch_mnist(X, y, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(5):
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt), 200):
            idx = perm[i : i + 200]
            opt.zero_grad()
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            opt.step()
    fit = time.perf_counter() - start
    with torch.no_grad():
        acc = (model(Xt).argmax(1) == yt).float().mean().item()
    return fit, acc


def _ring(n=100_000, seed=0):
    rng = np.random.RandomState(seed)
    angles = 2 * np.pi * np.arange(8) / 8
    centers = np.c_[np.cos(angles), np.sin(angles)]
    X = centers[rng.randint(8, size=n)] + 0.01 * rng.normal(size=(n, 2))
    return X.astype(np.float32), centers


def _high_quality(samples, centers, sigma=0.01):
    d = np.linalg.norm(samples[:, None, :] - centers[None], axis=2).min(axis=1)
    return float(np.mean(d < 3 * sigma))


# The networks, batch and steps of the gan_ring workload, for both libraries.
_GAN = dict(latent=8, hidden=256, pack=2, batch=128, epochs=2, lr=2e-4)


def _torch_gan(X, threads):
    """The same GAN step by step in PyTorch: D on [real; fake] packs, then G through D."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    c = _GAN
    d = X.shape[1]
    mean, std = X.mean(axis=0), X.std(axis=0)
    Xt = torch.from_numpy((X - mean) / std)
    G = torch.nn.Sequential(
        torch.nn.Linear(c["latent"], c["hidden"]), torch.nn.ReLU(),
        torch.nn.Linear(c["hidden"], c["hidden"]), torch.nn.ReLU(),
        torch.nn.Linear(c["hidden"], d))
    D = torch.nn.Sequential(
        torch.nn.Linear(c["pack"] * d, c["hidden"]), torch.nn.LeakyReLU(0.01),
        torch.nn.Linear(c["hidden"], c["hidden"]), torch.nn.LeakyReLU(0.01),
        torch.nn.Linear(c["hidden"], 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=c["lr"], betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=c["lr"], betas=(0.5, 0.999))
    batch, rows = c["batch"], c["batch"] // c["pack"]
    start = time.perf_counter()
    for _ in range(c["epochs"]):
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt) - batch + 1, batch):
            real = Xt[perm[i : i + batch]].reshape(rows, -1)
            fake = G(torch.randn(batch, c["latent"])).reshape(rows, -1)
            logits = D(torch.cat([real, fake.detach()]))
            loss_d = F.softplus(-logits[:rows]).mean() + F.softplus(logits[rows:]).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = F.softplus(-D(fake)).mean()
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
    fit = time.perf_counter() - start
    with torch.no_grad():
        samples = G(torch.randn(2500, c["latent"])).numpy() * std + mean
    return fit, samples


def _reset_peak_rss():
    """Start the peak-RSS count afresh (Linux), so it covers the fit, not the data load."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss_mb():
    """The process's peak RSS in MB since _reset_peak_rss (VmHWM), else since start."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(lib, workload, cache, threads):
    """One measurement in this (fresh) process; returns a dict."""
    warnings.simplefilter("ignore")
    from sklearn.datasets import load_digits, make_regression

    if workload in ("mnist784", "mnist784_bf16"):
        X, y = _mnist784(cache)
        _reset_peak_rss()
        if lib == "torch":
            fit, score = _torch_mnist(X, y, threads)
        else:
            extra = {"precision": "bfloat16"} if lib == "fastmlp-bf16" else {}
            est = _estimator(lib, "MLPClassifier", hidden_layer_sizes=(256, 128),
                             batch_size=200, max_iter=5, random_state=0, **extra)
            start, cpu_start = time.perf_counter(), time.process_time()
            est.fit(X, y)
            fit = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            score = est.score(X, y)
        peak = _peak_rss_mb()
        out = {"time": fit / 5, "score": score, "peak_mb": peak, "unit": "s/epoch"}
        if lib != "torch":
            out["cpu"] = cpu / 5  # all threads: steadier than wall time on a busy machine
        return out
    if workload.startswith("digits"):
        X, y = load_digits(return_X_y=True)
        params = {
            "digits": {}, "digits_sgd": {"solver": "sgd"}, "digits_lbfgs": {"solver": "lbfgs"},
            "digits_tanh": {"activation": "tanh"}, "digits_logistic": {"activation": "logistic"},
        }[workload]
        est = _estimator(lib, "MLPClassifier", random_state=0, **params)
        start = time.perf_counter()
        est.fit(X, y)
        return {"time": time.perf_counter() - start, "score": est.score(X, y), "unit": "s"}
    if workload == "regression":
        X, y = make_regression(n_samples=20000, n_features=100, noise=1.0, random_state=0)
        X, y = X.astype(np.float32), (y / y.std()).astype(np.float32)
        est = _estimator(lib, "MLPRegressor", hidden_layer_sizes=(64, 64), max_iter=20,
                         random_state=0)
        start = time.perf_counter()
        est.fit(X, y)
        return {"time": time.perf_counter() - start, "score": est.score(X, y), "unit": "s"}
    if workload == "gan_ring":
        X, centers = _ring()
        if lib == "torch":
            fit, samples = _torch_gan(X, threads)
        else:
            from fastmlp import GAN
            from fastmlp.layers import Dense

            c = _GAN
            gan = GAN(latent_dim=c["latent"], pack=c["pack"], batch_size=c["batch"],
                      generator_learning_rate=c["lr"], discriminator_learning_rate=c["lr"],
                      learning_rate="constant", max_iter=c["epochs"], random_state=0,
                      generator_layers=[Dense(c["hidden"], activation="relu")] * 2,
                      discriminator_layers=[Dense(c["hidden"], activation="leaky_relu")] * 2)
            start = time.perf_counter()
            gan.fit(X)
            fit = time.perf_counter() - start
            samples = gan.sample(2500, random_state=0)
        return {"time": fit, "score": _high_quality(samples, centers), "unit": "s"}
    if workload == "predict_proba":
        X, y = _mnist784(cache)
        est = _estimator(lib, "MLPClassifier", hidden_layer_sizes=(256, 128), max_iter=1,
                         random_state=0).fit(X[:2000], y[:2000])
        X_big = np.concatenate([X, X[:40000]])
        est.predict_proba(X_big[:1000])
        start = time.perf_counter()
        est.predict_proba(X_big)
        return {"time": time.perf_counter() - start, "score": float("nan"), "unit": "s"}
    raise ValueError(workload)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "fastmlp-bench"))
    parser.add_argument("--run", nargs=2, metavar=("LIB", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    if args.run:
        print(json.dumps(run_one(*args.run, args.cache, args.threads)))
        return

    env = dict(os.environ)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(var, None)
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    import fastmlp

    have_bf16 = fastmlp._core.bf16_available()
    workloads = args.workloads.split(",")
    if {"mnist784", "mnist784_bf16", "predict_proba"} & set(workloads):
        _mnist784(args.cache)  # generate once here, so no child's peak memory includes it
    results = {}
    for rep in range(args.repeats):
        for w in workloads:
            for lib in WORKLOADS[w][0]:
                if (lib == "torch" and not have_torch) or (
                    lib == "fastmlp-bf16" and not have_bf16
                ):
                    continue
                out = subprocess.run(
                    [sys.executable, __file__, "--run", lib, w, "--cache", args.cache,
                     "--threads", str(args.threads)],
                    env=env, capture_output=True, text=True, check=True,
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
                results.setdefault((w, lib), []).append(r)
                print(f"[{rep + 1}/{args.repeats}] {w:14s} {lib:8s} {r['time']:.4f} {r['unit']}",
                      file=sys.stderr, flush=True)

    print(f"fastmlp {fastmlp.__version__}, threads={args.threads}, repeats={args.repeats}, "
          f"GEMM kernel {fastmlp._core.gemm_kernel()}")
    print("| workload | library | median time | score | peak MB | time / fastmlp |")
    print("| --- | --- | --- | --- | --- | --- |")
    for w in workloads:
        base = np.median([r["time"] for r in results[(w, "fastmlp")]])
        for lib in WORKLOADS[w][0]:
            if (w, lib) not in results:
                continue
            rs = results[(w, lib)]
            t = np.median([r["time"] for r in rs])
            score = np.median([r["score"] for r in rs])
            peak = np.median([r.get("peak_mb", np.nan) for r in rs])
            print(f"| {w} | {lib} | {t:.4f} {rs[0]['unit']} | {score:.4f} | {peak:.0f} | "
                  f"{t / base:.2f}x |")
    for w in workloads:
        print(f"- {w}: {WORKLOADS[w][1]}")
    if ("mnist784_bf16", "fastmlp-bf16") in results:
        f32 = results[("mnist784_bf16", "fastmlp")]
        bf16 = results[("mnist784_bf16", "fastmlp-bf16")]
        med = lambda rs, key: np.median([r[key] for r in rs])  # noqa: E731
        print(f"bfloat16 speed-up over float32: {med(f32, 'time') / med(bf16, 'time'):.2f}x "
              f"(wall), {med(f32, 'cpu') / med(bf16, 'cpu'):.2f}x (CPU time); training "
              f"accuracy {med(f32, 'score'):.4f} vs {med(bf16, 'score'):.4f}")


if __name__ == "__main__":
    main()
