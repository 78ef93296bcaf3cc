"""fastmlp against scikit-learn and PyTorch on the same machine, in one run.

Every fit runs in a fresh process; libraries alternate (A B C A B C ...) and each figure
is the median of --repeats runs. Prints a table of times and ratios (other / fastmlp).
All workloads but the slow ones (SLOW_WORKLOADS) run by default.

    python benchmarks/compare.py --repeats 3            # all workloads
    python benchmarks/compare.py --workloads digits,mnist784
    python benchmarks/compare.py --workloads mnist784_bf16 --threads 1 --repeats 5
    python benchmarks/compare.py --workloads indexing --repeats 3   # the transformer
    FASTMLP_RECALL_EPOCHS=60 python benchmarks/compare.py --workloads recall --repeats 1

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
    # issue 14, attention (benchmarks/sequence_tasks.py): time per epoch, test accuracy
    "indexing": (("fastmlp", "torch", "fastmlp-gru"),
                 "indexing task, 20,000 train / 1,000 test sequences of 41 tokens; Embedding + "
                 "PositionEmbedding + 2 pre-norm TransformerEncoder(2 heads, width 64, ff_dim "
                 "128, relu) + last step, float32, AdamW lr 1e-3, 2 warmup epochs then cosine, "
                 "batch 64, 5 epochs; fastmlp-gru: Embedding + GRU(128), Adam, where "
                 "fastmlp.layers has GRU"),
    "recall": (("fastmlp", "torch"),
               "associative recall, 50,000 train / 1,000 test, the indexing model (vocabulary "
               "30), FASTMLP_RECALL_EPOCHS epochs (default 60)"),
}


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
        if est is None:
            return {"skip": "fastmlp.layers has no GRU yet"}
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
                if "skip" in r:
                    print(f"[{rep + 1}/{args.repeats}] {w:14s} {lib:8s} skipped: {r['skip']}",
                          file=sys.stderr, flush=True)
                    continue
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
    for (w, lib), rs in results.items():
        if "curve" in rs[0]:  # the loss curve of the median-time run
            r = sorted(rs, key=lambda r: r["time"])[len(rs) // 2]
            print(f"loss curve {w} {lib}: " + ", ".join(f"{v:.4f}" for v in r["curve"]))
    if ("mnist784_bf16", "fastmlp-bf16") in results:
        f32 = results[("mnist784_bf16", "fastmlp")]
        bf16 = results[("mnist784_bf16", "fastmlp-bf16")]
        med = lambda rs, key: np.median([r[key] for r in rs])  # noqa: E731
        print(f"bfloat16 speed-up over float32: {med(f32, 'time') / med(bf16, 'time'):.2f}x "
              f"(wall), {med(f32, 'cpu') / med(bf16, 'cpu'):.2f}x (CPU time); training "
              f"accuracy {med(f32, 'score'):.4f} vs {med(bf16, 'score'):.4f}")


if __name__ == "__main__":
    main()
