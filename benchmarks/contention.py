"""fastmlp and scikit-learn on a shared machine: one fit alone, beside copies of itself,
and beside a busy loop on every core.

    python benchmarks/contention.py --repeats 5

The workload (issue 12): MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=3,
batch_size=200) on 20,000 x 784 float32 rows, default threads. Each fit runs in a fresh
process that loads its data and imports its library first, then waits; the fits of one
scenario start together. Scenarios: alone; 2 and 4 identical fits at once (each one's own
time is reported, the median over the fits and the repeats); alone while one busy-loop
process per core runs. Libraries and scenarios alternate within each repeat. Prints a
table of median times and their ratio to the same library's time alone.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the children's environment, as in
compare.py, so that scikit-learn runs numpy's best kernel.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

CHILD = r"""
import sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
lib = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.standard_normal((20000, 784)).astype(np.float32)
y = rng.integers(0, 10, 20000)
if lib == "fastmlp":
    from fastmlp import MLPClassifier
else:
    from sklearn.neural_network import MLPClassifier
clf = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=3, batch_size=200, random_state=0)
print("ready", flush=True)
sys.stdin.readline()
start = time.perf_counter()
clf.fit(X, y)
print(time.perf_counter() - start, flush=True)
"""

BUSY = "while True:\n    pass\n"


def child_env():
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    return env


def run_fits(lib, copies, busy):
    """Starts `copies` fits of `lib` together (beside `busy` busy loops); their times."""
    env = child_env()
    loops = [subprocess.Popen([sys.executable, "-c", BUSY], env=env) for _ in range(busy)]
    try:
        fits = [subprocess.Popen([sys.executable, "-c", CHILD, lib], env=env, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                for _ in range(copies)]
        for p in fits:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a {lib} child failed to start")
        if busy:
            time.sleep(0.5)  # the loops are surely spinning by now
        for p in fits:
            p.stdin.write("go\n")
            p.stdin.flush()
        times = []
        for p in fits:
            out, _ = p.communicate(timeout=600)
            times.append(float(out.strip().splitlines()[-1]))
            if p.returncode:
                raise RuntimeError(f"a {lib} child exited with {p.returncode}")
        return times
    finally:
        for p in loops:
            p.kill()
            p.wait()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--libraries", default="fastmlp,sklearn")
    parser.add_argument("--scenarios", default="alone,2 at once,4 at once,busy cores")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    scenarios = {"alone": (1, 0), "2 at once": (2, 0), "4 at once": (4, 0),
                 "busy cores": (1, cores)}
    chosen = [s.strip() for s in args.scenarios.split(",")]
    libs = [lib.strip() for lib in args.libraries.split(",")]
    times = {(lib, s): [] for lib in libs for s in chosen}
    for rep in range(args.repeats):
        for lib in libs:
            for s in chosen:
                copies, busy = scenarios[s]
                t = run_fits(lib, copies, busy)
                times[lib, s] += t
                print(f"# repeat {rep + 1}: {lib:8s} {s:11s} " +
                      " ".join(f"{x:.3f}" for x in t), file=sys.stderr, flush=True)
    print(f"CPU: {cpu_model()}, {cores} cores; Python {platform.python_version()}; "
          f"{time.strftime('%Y-%m-%d')}; medians of {args.repeats} repeats (every fit of a "
          f"scenario counted)")
    print("| library | scenario | median fit (s) | / alone |")
    print("| --- | --- | --- | --- |")
    for lib in libs:
        alone = statistics.median(times[lib, "alone"]) if "alone" in chosen else float("nan")
        for s in chosen:
            med = statistics.median(times[lib, s])
            print(f"| {lib} | {s} | {med:.3f} | {med / alone:.2f}x |")
    if "fastmlp" in libs and "sklearn" in libs:
        print()
        print("| scenario | sklearn / fastmlp |")
        print("| --- | --- |")
        for s in chosen:
            ratio = statistics.median(times["sklearn", s]) / statistics.median(times["fastmlp", s])
            print(f"| {s} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
