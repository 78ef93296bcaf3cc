"""fastmlp against scikit-learn and PyTorch on the same machine, in one run.

Every fit runs in a fresh process; libraries alternate (A B C A B C ...) and each figure
is the median of --repeats runs. Prints a table of times and ratios (other / fastmlp).
All workloads but the slow ones (SLOW_WORKLOADS) run by default.

For the small networks (digits*, regression) it also prints the FLOP floor of an epoch:
the epoch's multiply-adds x 2 (forward, both halves of backward, padding excluded) over
the best GEMM rate measured on this machine in that dtype with the same threads
(fastmlp's or numpy's, square products of 512-2048, in a child process), and fastmlp's
epoch against it. For lbfgs an "epoch" is one iteration (n_iter_), i.e. at least one
evaluation of the loss and gradient over all rows. The GEMM rate is probed after every
round of fits: "epoch / floor" takes the best rate of all rounds (the lowest floor), and
"paired" is the median over rounds of each round's epoch against that round's floor, the
figure a shared machine's drifting speed disturbs least.

    python benchmarks/compare.py --repeats 3            # all workloads
    python benchmarks/compare.py --workloads digits,mnist784
    python benchmarks/compare.py --workloads mnist784_bf16 --threads 1 --repeats 5
    python benchmarks/compare.py --workloads mnist20k_bf16 --bf16-kernels avx512,amx
    python benchmarks/compare.py --workloads mnist1d_cnn,digits_cnn,lenet28 --repeats 5
    python benchmarks/compare.py --workloads mnist1d_gru,lstm_sine --threads 2 --repeats 3
    python benchmarks/compare.py --workloads indexing --repeats 3   # the transformer
    FASTMLP_RECALL_EPOCHS=60 python benchmarks/compare.py --workloads recall --repeats 1
    python benchmarks/compare.py --workloads gan_ring --threads 1 --repeats 5

--wait-idle runs each fit only once no other process has been runnable for 2 s (Linux):
on a machine shared with other jobs, multi-thread figures otherwise measure the collapse
of a thread team whose thread lost its core.

fastmlp-bf16 is precision='bfloat16' with the kernel fastmlp measures fastest here
(fastmlp.bf16_kernel()); --bf16-kernels adds fastmlp-bf16-<kernel> runs that force one
(FASTMLP_BF16_KERNEL) to the *_bf16 workloads.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the children's environment so that
numpy (scikit-learn) runs its best kernel. PyTorch is optional (`pip install torch`);
mnist1d_cnn and mnist1d_gru need `pip install mnist1d` (the data is built by its
make_dataset, never downloaded). Repeat r of the recurrent workloads trains with seed r.
"""

import argparse
import importlib.util
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
    "mnist20k_bf16": (("fastmlp", "fastmlp-bf16"),
                      "mnist784's first 20000 rows, hidden (256,128), adam, batch 200, 3 "
                      "epochs (whole fit): float32 against precision='bfloat16'"),
    "digits": (("fastmlp", "sklearn"), "load_digits X/16 (float64), default MLPClassifier"),
    "digits_sgd": (("fastmlp", "sklearn"), "load_digits X/16, MLPClassifier(solver='sgd')"),
    "digits_lbfgs": (("fastmlp", "sklearn"), "load_digits X/16, MLPClassifier(solver='lbfgs')"),
    "digits_tanh": (("fastmlp", "sklearn"), "load_digits X/16, MLPClassifier(activation='tanh')"),
    "digits_logistic": (("fastmlp", "sklearn"),
                        "load_digits X/16, MLPClassifier(activation='logistic')"),
    "regression": (("fastmlp", "sklearn"),
                   "make_regression(20000, 100, noise=1) float32, hidden (64,64), adam, 20 epochs"),
    "predict_proba": (("fastmlp", "sklearn"),
                      "predict_proba on 100,000 rows with a mnist784-shaped model"),
    "mnist1d_cnn": (("fastmlp", "torch"),
                    "MNIST-1D (4000 train / 1000 test, length 40), the paper's CNN (5,210 "
                    "parameters), Adam, batch 100, 6000 steps (fastmlp: the README's recipe; "
                    "PyTorch: the paper's, lr 1e-2); score: test accuracy"),
    "digits_cnn": (("fastmlp", "torch"),
                   "load_digits as 8x8 images, Conv2D(16,3)-MaxPooling2D(2)-Dense(64), adam, "
                   "batch 200, 50 epochs"),
    "lenet28": (("fastmlp", "torch"),
                "LeNet-5 (61,706 parameters) on 12,000 random 28x28 images, Adam, batch 128; "
                "time per epoch (median of 3 epochs after one warm-up epoch)"),
    # Recurrent layers (layer engine). Repeat r trains with seed r.
    "mnist1d_gru": (("fastmlp", "torch"),
                    "MNIST-1D (mnist1d's make_dataset(get_dataset_args()): 4000 train, 1000 "
                    "test, 40 steps), the paper's GRU: Bidirectional(GRU(6, return_sequences="
                    "True)) - Flatten - Dropout(0.3) - Dense(10), 5,134 parameters, Adam lr "
                    "1e-2, batch 100, 6000 steps (150 epochs), float32; score: test accuracy"),
    "lstm_sine": (("fastmlp", "torch"),
                  "next value of a noisy sine from the last 50 values (8000 train, 2000 test "
                  "windows): LSTM(32) - Dense(1), Adam lr 3e-3, batch 64, 10 epochs (1250 "
                  "steps), float32; score: test R^2"),
    # issue 14, attention (benchmarks/sequence_tasks.py): time per epoch, test accuracy
    "indexing": (("fastmlp", "torch", "fastmlp-gru"),
                 "indexing task, 20,000 train / 1,000 test sequences of 41 tokens; Embedding + "
                 "PositionEmbedding + 2 pre-norm TransformerEncoder(2 heads, width 64, ff_dim "
                 "128, relu) + last step, float32, AdamW lr 1e-3, 2 warmup epochs then cosine, "
                 "batch 64, 5 epochs; fastmlp-gru: Embedding + GRU(128), Adam, beside it"),
    "recall": (("fastmlp", "torch"),
               "associative recall, 50,000 train / 1,000 test, the indexing model (vocabulary "
               "30), FASTMLP_RECALL_EPOCHS epochs (default 60)"),
    "gan_ring": (("fastmlp", "torch"),
                 "GAN on 100,000 ring points (8 Gaussians) float32: generator 8-256-256-2 "
                 "relu, discriminator 4-256-256-1 leaky_relu (pack 2), batch 128, adam, "
                 "non-saturating loss, 2 epochs (1562 steps); score: high-quality fraction"),
}

# Workloads that need a data set's package (PyTorch is needed only for its side).
NEEDS = {"mnist1d_cnn": "mnist1d", "mnist1d_gru": "mnist1d"}


# Left out of the default run: associative recall trains for an hour (60 epochs of 50,000).
SLOW_WORKLOADS = ("recall",)


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


def _epoch_macs(shape, est):
    """Multiply-adds of one pass over the rows: forward, weight gradients, and the input
    gradients of every layer but the first."""
    sizes = [shape[1]] + [c.shape[1] for c in est.coefs_]
    pairs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return shape[0] * (2 * sum(pairs) + sum(pairs[1:]))


# The floor's GEMM rate: the best of fastmlp and numpy on square products, per dtype, run
# in a child process with the benchmark's thread settings.
_GEMM_PROBE = """
import json, sys, time
import numpy as np
from fastmlp import _core
out = {}
for dtype in ("float32", "float64"):
    best = 0.0
    for n in (512, 1024, 2048):
        a = np.random.default_rng(0).random((n, n)).astype(dtype)
        o = np.empty_like(a)
        for fn in (lambda: np.matmul(a, a, out=o), lambda: _core.gemm(a, a, out=o)):
            time.sleep(0.3)  # both libraries' threads spin for a while after a call
            fn()
            ts = []
            for _ in range(5 if n < 2048 else 3):
                s = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - s)
            best = max(best, 2.0 * n ** 3 / np.median(ts) / 1e9)
    out[dtype] = best
print(json.dumps(out))
"""


# ---------------------------------------------------------------- convolutional networks
# The same models, data, optimizer, batches and steps in fastmlp and in PyTorch
# (channels-last in fastmlp, channels-first in PyTorch).
def _mnist1d(cache):
    """MNIST-1D built by the mnist1d package's make_dataset (never downloaded)."""
    path = Path(cache) / "mnist1d.npz"
    if not path.exists():
        from mnist1d.data import get_dataset_args, make_dataset

        d = make_dataset(get_dataset_args())
        np.savez(path, x=d["x"], y=d["y"], x_test=d["x_test"], y_test=d["y_test"])
    d = np.load(path)
    f = np.float32
    return d["x"].astype(f), d["y"], d["x_test"].astype(f), d["y_test"]


def _fastmlp_cnn(workload, X, y, X_test, y_test):
    """(fit seconds, test accuracy or loss) of fastmlp's NeuralNetClassifier."""
    from fastmlp import NeuralNetClassifier
    from fastmlp.layers import Conv1D, Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    if workload == "mnist1d_cnn":  # the README's recipe (examples/cnn_mnist1d.py)
        conv = dict(strides=2, padding=1, activation="relu")
        layers = [Conv1D(25, 5, **conv), Conv1D(25, 3, **conv), Conv1D(25, 3, **conv), Flatten(),
                  Dropout(0.2)]
        est = NeuralNetClassifier(layers, input_shape=(40, 1), learning_rate_init=2e-2,
                                  learning_rate="cosine", warmup_iters=5, batch_size=100,
                                  max_iter=150, alpha=0.0, shuffle=False,
                                  n_iter_no_change=np.inf, random_state=0)
    elif workload == "digits_cnn":
        layers = [Conv2D(16, 3, activation="relu"), MaxPooling2D(2), Flatten(),
                  Dense(64, activation="relu")]
        est = NeuralNetClassifier(layers, input_shape=(8, 8, 1), batch_size=200, max_iter=50,
                                  alpha=0.0, n_iter_no_change=np.inf, random_state=0)
    else:  # lenet28: one warm-up epoch, then three timed ones
        layers = [Conv2D(6, 5, padding="same", activation="relu"), MaxPooling2D(2),
                  Conv2D(16, 5, activation="relu"), MaxPooling2D(2), Flatten(),
                  Dense(120, activation="relu"), Dense(84, activation="relu")]
        est = NeuralNetClassifier(layers, input_shape=(28, 28, 1), batch_size=128, alpha=0.0,
                                  random_state=0)
        est.partial_fit(X, y, classes=np.arange(10))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            est.partial_fit(X, y)
            times.append(time.perf_counter() - start)
        return float(np.median(times)), est.loss_
    start = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - start, est.score(X_test, y_test)


def _torch_cnn(workload, X, y, X_test, y_test, threads):
    """The same as _fastmlp_cnn in PyTorch (its default initialisation)."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if workload == "mnist1d_cnn":
        shape, batch, epochs, lr, shuffle = (1, 40), 100, 150, 1e-2, False
        conv = dict(stride=2, padding=1)
        model = nn.Sequential(
            nn.Conv1d(1, 25, 5, **conv), nn.ReLU(), nn.Conv1d(25, 25, 3, **conv), nn.ReLU(),
            nn.Conv1d(25, 25, 3, **conv), nn.ReLU(), nn.Flatten(), nn.Linear(125, 10))
    elif workload == "digits_cnn":
        shape, batch, epochs, lr, shuffle = (1, 8, 8), 200, 50, 1e-3, True
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(144, 64), nn.ReLU(), nn.Linear(64, 10))
    else:
        shape, batch, epochs, lr, shuffle = (1, 28, 28), 128, 4, 1e-3, True
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    Xt = torch.from_numpy(np.ascontiguousarray(X.reshape((-1,) + shape)))
    yt = torch.from_numpy(y.astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(Xt)) if shuffle else torch.arange(len(Xt))
        for i in range(0, len(Xt), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    if workload == "lenet28":
        return float(np.median(times[1:])), loss.item()
    with torch.no_grad():
        pred = model(torch.from_numpy(X_test.reshape((-1,) + shape))).argmax(1).numpy()
    return sum(times), float((pred == y_test).mean())


def _cnn_workload(lib, workload, cache, threads):
    if workload == "mnist1d_cnn":
        X, y, X_test, y_test = _mnist1d(cache)
    elif workload == "digits_cnn":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = (X / 16).astype(np.float32)
        X_test, y_test = X, y
    else:
        rng = np.random.RandomState(0)
        X = rng.uniform(0, 1, (12000, 28 * 28)).astype(np.float32)
        y = rng.randint(0, 10, 12000)
        X_test = y_test = None
    if lib == "torch":
        fit, score = _torch_cnn(workload, X, y, X_test, y_test, threads)
    else:
        fit, score = _fastmlp_cnn(workload, X, y, X_test, y_test)
    return {"time": fit, "score": score, "unit": "s/epoch" if workload == "lenet28" else "s"}
def _noisy_sine():
    """The README's LSTM case: its data comes from examples/lstm_sine.py."""
    path = Path(__file__).resolve().parents[1] / "examples" / "lstm_sine.py"
    spec = importlib.util.spec_from_file_location("lstm_sine", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.noisy_sine()


def _torch_sequence_fit(model, loss_fn, X, y, lr, batch, steps, threads, seed):
    """PyTorch's loop for the recurrent workloads: Adam, shuffled epochs, `steps` steps."""
    import torch

    torch.set_num_threads(threads)
    Xt, yt = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    done = 0
    while done < steps:
        perm = torch.randperm(len(Xt), generator=gen)
        for i in range(0, len(Xt), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            opt.step()
            done += 1
            if done == steps:
                break
    return time.perf_counter() - start


def _torch_gru_mnist1d(X, y, X_test, y_test, threads, seed):
    import torch

    torch.manual_seed(seed)

    class PaperGRU(torch.nn.Module):  # mnist1d's models.GRU, dropout before the output
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(1, 6, batch_first=True, bidirectional=True)
            self.dropout = torch.nn.Dropout(0.3)
            self.linear = torch.nn.Linear(2 * 6 * 40, 10)

        def forward(self, x):
            h, _ = self.rnn(x.view(*x.shape[:2], 1))
            return self.linear(self.dropout(h.reshape(x.shape[0], -1)))

    model = PaperGRU()
    fit = _torch_sequence_fit(model, torch.nn.CrossEntropyLoss(), X, y.astype(np.int64), 1e-2,
                              100, 6000, threads, seed)
    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(X_test)).argmax(1).numpy() == y_test).mean()
    return fit, float(acc)


def _torch_lstm_sine(X, y, X_test, y_test, threads, seed):
    import torch

    torch.manual_seed(seed)

    class LastState(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(1, 32, batch_first=True)
            self.linear = torch.nn.Linear(32, 1)

        def forward(self, x):
            _, (h, _) = self.rnn(x)
            return self.linear(h[-1])[:, 0]

    model = LastState()
    fit = _torch_sequence_fit(model, torch.nn.MSELoss(), X, y, 3e-3, 64, 1250, threads, seed)
    with torch.no_grad():
        pred = model(torch.from_numpy(X_test)).numpy()
    return fit, float(1 - ((pred - y_test) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum())


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


def run_one(lib, workload, cache, threads, seed=0):
    """One measurement in this (fresh) process; returns a dict."""
    warnings.simplefilter("ignore")
    from sklearn.datasets import load_digits, make_regression

    if workload in ("mnist1d_cnn", "digits_cnn", "lenet28"):
        return _cnn_workload(lib, workload, cache, threads)
    if workload in ("mnist1d_gru", "lstm_sine"):
        X, y, X_test, y_test = _mnist1d(cache) if workload == "mnist1d_gru" else _noisy_sine()
        if lib == "torch":
            run = _torch_gru_mnist1d if workload == "mnist1d_gru" else _torch_lstm_sine
            fit, score = run(X, y, X_test, y_test, threads, seed)
            return {"time": fit, "score": score, "unit": "s"}
        from fastmlp import NeuralNetClassifier, NeuralNetRegressor
        from fastmlp.layers import GRU, LSTM, Bidirectional, Dropout, Flatten

        common = dict(solver="adam", alpha=0.0, tol=0.0, n_iter_no_change=10**6,
                      random_state=seed)
        if workload == "mnist1d_gru":
            est = NeuralNetClassifier(
                [Bidirectional(GRU(6, return_sequences=True)), Flatten(), Dropout(0.3)],
                learning_rate_init=1e-2, batch_size=100, max_iter=150, **common)
        else:
            est = NeuralNetRegressor([LSTM(32)], learning_rate_init=3e-3, batch_size=64,
                                     max_iter=10, **common)
        start = time.perf_counter()
        est.fit(X, y)
        return {"time": time.perf_counter() - start, "score": est.score(X_test, y_test),
                "unit": "s"}

    if workload in ("mnist784", "mnist784_bf16", "mnist20k_bf16"):
        X, y = _mnist784(cache)
        # mnist20k: per fit, as the shared-machine issue quotes it; mnist784: per epoch.
        rows, epochs, per = (20000, 3, 1) if workload == "mnist20k_bf16" else (len(X), 5, 5)
        X, y = X[:rows], y[:rows]
        _reset_peak_rss()
        if lib == "torch":
            fit, score = _torch_mnist(X, y, threads)
        else:
            if lib.startswith("fastmlp-bf16-"):  # a forced kernel, before fastmlp is imported
                os.environ["FASTMLP_BF16_KERNEL"] = lib[len("fastmlp-bf16-"):]
            extra = {"precision": "bfloat16"} if lib.startswith("fastmlp-bf16") else {}
            est = _estimator(lib, "MLPClassifier", hidden_layer_sizes=(256, 128),
                             batch_size=200, max_iter=epochs, random_state=0, **extra)
            start, cpu_start = time.perf_counter(), time.process_time()
            est.fit(X, y)
            fit = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            score = est.score(X, y)
        peak = _peak_rss_mb()
        out = {"time": fit / per, "score": score, "peak_mb": peak,
               "unit": "s/epoch" if per > 1 else "s"}
        if lib != "torch":
            out["cpu"] = cpu / per  # all threads: steadier than wall time on a busy machine
        return out
    if workload.startswith("digits"):
        X, y = load_digits(return_X_y=True)
        X = X / 16
        params = {
            "digits": {}, "digits_sgd": {"solver": "sgd"}, "digits_lbfgs": {"solver": "lbfgs"},
            "digits_tanh": {"activation": "tanh"}, "digits_logistic": {"activation": "logistic"},
        }[workload]
        est = _estimator(lib, "MLPClassifier", random_state=0, **params)
        start = time.perf_counter()
        est.fit(X, y)
        return {"time": time.perf_counter() - start, "score": est.score(X, y), "unit": "s",
                "epochs": est.n_iter_, "macs": _epoch_macs(X.shape, est)}
    if workload == "regression":
        X, y = make_regression(n_samples=20000, n_features=100, noise=1.0, random_state=0)
        X, y = X.astype(np.float32), (y / y.std()).astype(np.float32)
        est = _estimator(lib, "MLPRegressor", hidden_layer_sizes=(64, 64), max_iter=20,
                         random_state=0)
        start = time.perf_counter()
        est.fit(X, y)
        return {"time": time.perf_counter() - start, "score": est.score(X, y), "unit": "s",
                "epochs": est.n_iter_, "macs": _epoch_macs(X.shape, est)}
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
    if workload in ("indexing", "recall"):
        return _run_sequence_task(lib, workload, threads)
    raise ValueError(workload)


def _wait_idle(limit_s=600.0):
    """Until /proc/stat has shown no runnable process but this one for 2 s (10 looks, 0.2 s
    apart), at most limit_s; False if it never did (the fit then runs anyway)."""
    def running():
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("procs_running"):
                    return int(line.split()[1])
        return 1
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        quiet = 0
        while quiet < 10 and running() <= 1:
            quiet += 1
            time.sleep(0.2)
        if quiet == 10:
            return True
        time.sleep(0.2)
    return False


def _run_sequence_task(lib, workload, threads):
    """One fit of the attention workloads (benchmarks/sequence_tasks.py): seconds per epoch
    and test accuracy."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sequence_tasks as st

    if workload == "indexing":
        epochs, (X, y, X_test, y_test) = 5, st.split("indexing", 20000, 1000)
    else:
        epochs = int(os.environ.get("FASTMLP_RECALL_EPOCHS", "60"))
        X, y, X_test, y_test = st.split("recall", 50000, 1000)
    vocabulary, steps = int(X.max()) + 1, X.shape[1]
    if lib == "torch":
        per_epoch, acc, curve = st.torch_fit(X, y, X_test, y_test, epochs, threads)
        return {"time": per_epoch, "score": acc, "unit": "s/epoch", "curve": curve}
    if lib == "fastmlp-gru":
        est = st.fastmlp_gru(vocabulary, steps, epochs)
    else:
        est = st.fastmlp_transformer(vocabulary, steps, epochs)
    est.set_params(precision="float32")
    start = time.perf_counter()
    est.fit(X, y)
    per_epoch = (time.perf_counter() - start) / epochs
    return {"time": per_epoch, "score": est.score(X_test, y_test), "unit": "s/epoch",
            "curve": list(est.loss_curve_)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads",
                        default=",".join(w for w in WORKLOADS if w not in SLOW_WORKLOADS))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "fastmlp-bench"))
    parser.add_argument("--wait-idle", action="store_true",
                        help="start each fit only when no other process is runnable (Linux)")
    parser.add_argument("--bf16-kernels", default="",
                        help="comma-separated bf16 kernels (avx512, amx) to force in extra runs")
    parser.add_argument("--run", nargs=2, metavar=("LIB", "WORKLOAD"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    if args.run:
        print(json.dumps(run_one(*args.run, args.cache, args.threads, args.seed)))
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
    for w, module in NEEDS.items():
        if w in workloads and importlib.util.find_spec(module) is None:
            print(f"skipping {w}: it needs `pip install {module}`", file=sys.stderr)
            workloads.remove(w)
    if {"mnist784", "mnist784_bf16", "mnist20k_bf16", "predict_proba"} & set(workloads):
        _mnist784(args.cache)  # generate once here, so no child's peak memory includes it
    forced = [f"fastmlp-bf16-{k}" for k in args.bf16_kernels.split(",") if k]
    libs = {w: WORKLOADS[w][0] + (tuple(forced) if w.endswith("_bf16") else ())
            for w in workloads}
    if {"mnist1d_cnn", "mnist1d_gru"} & set(workloads):
        _mnist1d(args.cache)
    results = {}
    probes = []  # the GEMM rates after each round with a small network
    for rep in range(args.repeats):
        for w in workloads:
            for lib in libs[w]:
                if (lib == "torch" and not have_torch) or (
                    lib.startswith("fastmlp-bf16") and not have_bf16
                ):
                    continue
                if args.wait_idle and not _wait_idle():
                    print("(no idle moment in 600 s: measured under load)", file=sys.stderr)
                out = subprocess.run(
                    [sys.executable, __file__, "--run", lib, w, "--cache", args.cache,
                     "--threads", str(args.threads), "--seed", str(rep)],
                    env=env, capture_output=True, text=True, check=True,
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
                results.setdefault((w, lib), []).append(r)
                print(f"[{rep + 1}/{args.repeats}] {w:14s} {lib:8s} {r['time']:.4f} {r['unit']}",
                      file=sys.stderr, flush=True)
        if any("macs" in rs[-1] for rs in results.values()):
            probe = subprocess.run([sys.executable, "-c", _GEMM_PROBE], env=env,
                                   capture_output=True, text=True, check=True)
            probes.append(json.loads(probe.stdout.strip().splitlines()[-1]))

    gflops = {d: max(p[d] for p in probes) for d in ("float32", "float64")} if probes else {}
    bf16 = f", bf16 kernel {fastmlp.bf16_kernel()}" if have_bf16 else ""
    print(f"fastmlp {fastmlp.__version__}, threads={args.threads}, repeats={args.repeats}, "
          f"GEMM kernel {fastmlp._core.gemm_kernel()}{bf16}")
    if gflops:
        print(f"best GEMM rate here (floor): float32 {gflops['float32']:.0f} GFLOPS, "
              f"float64 {gflops['float64']:.0f} GFLOPS; per round: float32 "
              + ", ".join(f"{p['float32']:.0f}" for p in probes) + "; float64 "
              + ", ".join(f"{p['float64']:.0f}" for p in probes))
    print("| workload | library | median time | score | peak MB | time / fastmlp "
          "| per epoch | floor per epoch | epoch / floor | paired |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for w in workloads:
        base = np.median([r["time"] for r in results[(w, "fastmlp")]])
        for lib in libs[w]:
            if (w, lib) not in results:
                continue
            rs = results[(w, lib)]
            t = np.median([r["time"] for r in rs])
            score = np.median([r["score"] for r in rs])
            peak = np.median([r.get("peak_mb", np.nan) for r in rs])
            floor = ""
            if "macs" in rs[0]:
                epoch = np.median([r["time"] / r["epochs"] for r in rs])
                dtype = "float32" if w == "regression" else "float64"
                low = 2.0 * rs[0]["macs"] / (gflops[dtype] * 1e9)
                paired = np.median([r["time"] / r["epochs"] * p[dtype] * 1e9 / (2.0 * r["macs"])
                                    for r, p in zip(rs, probes)])
                floor = (f" | {epoch * 1e3:.3f} ms | {low * 1e3:.3f} ms | {epoch / low:.2f}x"
                         f" | {paired:.2f}x")
            else:
                floor = " | | | |"
            print(f"| {w} | {lib} | {t:.4f} {rs[0]['unit']} | {score:.4f} | {peak:.0f} | "
                  f"{t / base:.2f}x{floor} |")
    for w in workloads:
        print(f"- {w}: {WORKLOADS[w][1]}")
    med = lambda rs, key: np.median([r[key] for r in rs])  # noqa: E731
    for w in workloads:
        for lib in libs[w]:
            if not lib.startswith("fastmlp-bf16") or (w, lib) not in results:
                continue
            f32, bf16 = results[(w, "fastmlp")], results[(w, lib)]
            print(f"{w} {lib} speed-up over float32: "
                  f"{med(f32, 'time') / med(bf16, 'time'):.2f}x (wall), "
                  f"{med(f32, 'cpu') / med(bf16, 'cpu'):.2f}x (CPU time); training accuracy "
                  f"{med(f32, 'score'):.4f} vs {med(bf16, 'score'):.4f}")
    for w in ("mnist1d_gru", "lstm_sine"):
        for lib in WORKLOADS[w][0]:
            if (w, lib) in results:
                scores = [r["score"] for r in results[(w, lib)]]
                print(f"{w} {lib}: mean score of seeds 0..{len(scores) - 1}: "
                      f"{np.mean(scores):.4f} ({', '.join(f'{x:.4f}' for x in scores)})")
    for (w, lib), rs in results.items():
        if "curve" in rs[0]:  # the loss curve of the median-time run
            r = sorted(rs, key=lambda r: r["time"])[len(rs) // 2]
            print(f"loss curve {w} {lib}: " + ", ".join(f"{v:.4f}" for v in r["curve"]))


if __name__ == "__main__":
    main()
