"""Our GEMM (fastmlp._core.gemm) against numpy's BLAS in the same process: GFLOPS, medians
of alternating blocks of runs, float32 and float64, square and mini-batch shapes.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/gemm_numpy.py --repeats 7

The ratio column is the median over rounds of each round's ratio (one block of numpy
calls, then one of ours): on a shared VM the cores' speed drifts over seconds, and a
ratio of two blocks run side by side cancels most of that drift, where a ratio of
two medians taken over the whole run does not.

(Unset those two variables only here: some OpenBLAS builds need them for correctness
on some CPUs, but they select a slower kernel on this one.)
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_info

from fastmlp import _core

SHAPES = [  # m, n, k, trans_a, trans_b
    (256, 256, 256, False, False),
    (512, 512, 512, False, False),
    (1024, 1024, 1024, False, False),
    (2048, 2048, 2048, False, False),
    (200, 256, 784, False, False),   # mnist784 forward, first layer
    (784, 256, 200, True, False),    # its weight gradient
    (200, 784, 256, False, True),    # an input gradient of that shape
    (200, 128, 256, False, False),   # forward, second layer
    (256, 128, 200, True, False),    # its weight gradient
    (200, 256, 128, False, True),    # its input gradient
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=9,
                        help="alternations of the two libraries per shape")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--shapes", default="all",
                        help="comma-separated indices into SHAPES (default: all)")
    args = parser.parse_args()
    shapes = SHAPES if args.shapes == "all" else [SHAPES[int(i)] for i in args.shapes.split(",")]
    blas = [f"{i['internal_api']} {i.get('version')} {i.get('architecture')} threads={i['num_threads']}"
            for i in threadpool_info() if i["user_api"] == "blas"]
    print(f"numpy BLAS: {'; '.join(blas)}; fastmlp kernel {_core.gemm_kernel()}, "
          f"threads={_core.max_threads()}")
    print("| dtype | shape | numpy GFLOPS | fastmlp GFLOPS | fastmlp / numpy | rounds' ratios (min-max) |")
    print("| --- | --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    for dtype in [np.dtype(d).type for d in args.dtypes.split(",")]:
        for m, n, k, ta, tb in shapes:
            a = rng.random((k, m) if ta else (m, k)).astype(dtype)
            b = rng.random((n, k) if tb else (k, n)).astype(dtype)
            A, B = (a.T if ta else a), (b.T if tb else b)
            out_np, out_ours = np.empty((m, n), dtype), np.empty((m, n), dtype)
            # At least ~0.1 s of calls per block: after the pause the first few ms of calls
            # run slower on this VM (the idle vCPU waking up), and 11 calls of 512^3 float32
            # (3e9 flops a block) measured 150 GFLOPS where 100 calls ran at 270.
            reps = max(args.repeats, int(3e10 / (2 * m * n * k)))
            t_np, t_ours, ratios = [], [], []
            # Blocks of calls, alternating between the libraries with a pause between
            # blocks: both keep worker threads spinning for a while after a call, and
            # interleaving single calls would time each against the other's spinners.
            # OpenBLAS's spin lasts 2^28 cycles (THREAD_TIMEOUT, ~0.1 s here): 50 ms
            # pauses were too short, and timed our 2-thread products against a spinning
            # OpenBLAS thread (512^3 float64: 51 GFLOPS measured, 205 alone).
            for _ in range(args.rounds):
                block = []
                for fn, times in ((lambda: np.matmul(A, B, out=out_np), t_np),
                                  (lambda: _core.gemm(a, b, ta, tb, out=out_ours), t_ours)):
                    time.sleep(0.3)
                    fn()
                    calls = []
                    for _ in range(reps):
                        s = time.perf_counter()
                        fn()
                        calls.append(time.perf_counter() - s)
                    times.extend(calls)
                    block.append(np.median(calls))
                ratios.append(block[0] / block[1])
            flops = 2.0 * m * n * k
            g_np, g_ours = flops / np.median(t_np) / 1e9, flops / np.median(t_ours) / 1e9
            label = f"{m}x{k} @ {k}x{n}" + (" (A^T)" if ta else "") + (" (B^T)" if tb else "")
            print(f"| {np.dtype(dtype).name} | {label} | {g_np:.0f} | {g_ours:.0f} | "
                  f"{np.median(ratios):.2f} | {min(ratios):.2f}-{max(ratios):.2f} |")


if __name__ == "__main__":
    main()
