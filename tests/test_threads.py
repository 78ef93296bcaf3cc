"""fastmlp's thread pool: its thread count is OpenMP's, which threadpoolctl sees and limits;
the model does not depend on it; concurrent callers and children of fork work.

The extension links the shared OpenMP runtime (libgomp with GCC, libomp with Clang, vcomp
with MSVC) for its thread count only, so `threadpoolctl.threadpool_info()` lists it once
`fastmlp._core` is loaded, and `threadpool_limits(n, user_api="openmp")` changes the thread
count the core reads at each call (`fastmlp._core.max_threads()` is
`omp_get_max_threads()` inside the module). The parallel loops run on fastmlp's own pool
(csrc/common/thread_pool.cpp).
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

from fastmlp import MLPClassifier, _core  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not _core.has_openmp, reason="built without OpenMP"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

# Load fastmlp._core alone in a fresh interpreter (not the fastmlp package, which imports
# scikit-learn and its own vendored libgomp), and report the OpenMP libraries that
# threadpoolctl finds before and after.
_PROBE = textwrap.dedent(
    """
    import glob, importlib.util, json, os, sys
    from threadpoolctl import threadpool_info

    def openmp():
        return sorted(i["filepath"] for i in threadpool_info() if i["user_api"] == "openmp")

    before = openmp()
    package_dir = importlib.util.find_spec("fastmlp").submodule_search_locations[0]
    path = [p for p in glob.glob(os.path.join(package_dir, "_core*"))
            if p.endswith((".so", ".pyd"))][0]
    spec = importlib.util.spec_from_file_location("fastmlp._core", path)
    core = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(core)
    after = [i for i in threadpool_info() if i["user_api"] == "openmp"]
    print(json.dumps({"before": before, "after": after, "max_threads": core.max_threads()}))
    """
)


def test_threadpoolctl_lists_fastmlp_openmp_runtime():
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True,
        timeout=60,
    ).stdout
    report = json.loads(out.strip().splitlines()[-1])
    new = [i for i in report["after"] if i["filepath"] not in report["before"]]
    assert len(new) == 1, report
    assert new[0]["prefix"] in {"libgomp", "libomp", "libiomp", "vcomp"}
    assert new[0]["num_threads"] == report["max_threads"]


def test_threadpool_limits_openmp_sets_core_threads():
    names = {i["prefix"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "openmp"}
    assert names & {"libgomp", "libomp", "libiomp", "vcomp"}
    default = _core.max_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _core.max_threads() == 1
    assert _core.max_threads() == default
    with threadpoolctl.threadpool_limits(limits=3, user_api="openmp"):
        assert _core.max_threads() == 3  # read at call time, never pinned
    assert _core.max_threads() == default


def test_thread_count_does_not_change_the_model():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((300, 20))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    params = dict(hidden_layer_sizes=(64,), max_iter=5, random_state=0)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        one = MLPClassifier(**params).fit(X, y)
    with threadpoolctl.threadpool_limits(limits=2, user_api="openmp"):
        two = MLPClassifier(**params).fit(X, y)
    np.testing.assert_allclose(one.loss_curve_, two.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(one.predict_proba(X), two.predict_proba(X), rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_batch_gradient_on_row_slices(dtype):
    # L-BFGS's network walks the rows in chunks its row slices split across the cores
    # (sliced_chunk_rows): the same loss and gradient as one unsplit pass up to the order
    # of the sums, and the same bits on one or two threads. 1,200 rows (512-row chunks)
    # with sample weights and a last, short chunk; 1,000 rows with L-BFGS end to end.
    sizes, n = [64, 100, 10], 1200
    macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    chunk = _core.sliced_chunk_rows(macs)
    assert 64 <= chunk < n and _core.sliced_chunk_rows(1 << 22) == 0
    cls = _core.Network32 if dtype == np.float32 else _core.Network64
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], n)]
    sw = rng.uniform(0.5, 2.0, n).astype(dtype)
    whole = cls(sizes, "relu", "softmax", "log_loss", n)
    params = rng.normal(scale=0.3, size=whole.n_params).astype(dtype)
    ref = np.empty_like(params)
    ref_loss = whole.loss_grad(params, ref, X, Y, sw, 1e-3)
    sliced = cls(sizes, "relu", "softmax", "log_loss", chunk)
    runs = []
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="openmp"):
            g = np.empty_like(params)
            runs.append((sliced.loss_grad(params, g, X, Y, sw, 1e-3), g))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert runs[0][0] == pytest.approx(ref_loss, rel=tol)
    np.testing.assert_allclose(runs[0][1], ref, rtol=tol * 10, atol=tol * np.abs(ref).max())

    X = rng.standard_normal((1000, 20))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    fits = []
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="openmp"):
            fits.append(MLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=30,
                                      random_state=0).fit(X, y))
    assert fits[0].n_iter_ == fits[1].n_iter_ and fits[0].loss_ == fits[1].loss_
    for a, b in zip(fits[0].coefs_, fits[1].coefs_):
        np.testing.assert_array_equal(a, b)


# The fork scenarios run in a fresh interpreter with a timeout, so that a hang fails the
# test instead of hanging the suite. Each fits in the parent first, so the child inherits a
# process whose worker threads existed (they are not copied by fork).
_FORK_COMMON = textwrap.dedent(
    """
    import os, sys, warnings
    import numpy as np
    warnings.filterwarnings("ignore")
    from fastmlp import MLPClassifier, _core
    rng = np.random.RandomState(0)
    X = rng.standard_normal((3000, 40)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    # (256, 128) on 1000-row batches: products and elementwise loops large enough to run
    # on every thread.
    def fit(seed):
        clf = MLPClassifier(hidden_layer_sizes=(256, 128), batch_size=1000, max_iter=3,
                            random_state=seed).fit(X, y)
        return float(clf.score(X, y)), clf.predict_proba(X[:5]).tolist()
    parent = fit(0)
    """
)

_FORK_POOL = _FORK_COMMON + textwrap.dedent(
    """
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(2) as pool:
        children = pool.map(fit, [0, 1, 0])
    assert children[0] == parent and children[2] == parent, (children, parent)
    print("ok")
    """
)

_OS_FORK = _FORK_COMMON + textwrap.dedent(
    """
    pid = os.fork()
    if pid == 0:
        code = 0 if fit(0) == parent and _core.max_threads() == {threads} else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert fit(0) == parent  # and the parent's threads still work
    print("ok")
    """
)


def _run_script(script, threads):
    env = dict(__import__("os").environ, OMP_NUM_THREADS=str(threads))
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("the forked child hung")
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr


@pytest.mark.parametrize("threads", [2, 3])
def test_fork_pool_after_fit_in_parent(threads):
    _run_script(_FORK_POOL, threads)


@pytest.mark.parametrize("threads", [2, 3])
def test_os_fork_fit_in_child(threads):
    _run_script(_OS_FORK.replace("{threads}", str(threads)), threads)


def test_fits_in_concurrent_python_threads_match_serial_fits():
    # fit releases the GIL: two fits at once share the thread pool (the second runs its
    # parallel steps on its own thread while the first holds the pool) and still give the
    # models a fit alone gives.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.RandomState(0)
    X = rng.standard_normal((2000, 30))
    y = (X[:, 0] > 0).astype(int)

    def fit(seed):
        return MLPClassifier(hidden_layer_sizes=(256,), batch_size=500, max_iter=3,
                             random_state=seed).fit(X, y)

    alone = [fit(s) for s in range(4)]
    with ThreadPoolExecutor(4) as ex:
        together = list(ex.map(fit, range(4)))
    for a, b in zip(alone, together):
        for ca, cb in zip(a.coefs_, b.coefs_):
            np.testing.assert_array_equal(ca, cb)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_same_bits_for_any_thread_count(dtype):
    rng = np.random.RandomState(1)
    for m, n, k, ta, tb in [(257, 300, 513, False, False), (200, 784, 256, False, True),
                            (784, 256, 200, True, False), (1000, 2, 300, True, False)]:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        outs = []
        for threads in (1, 2, 3, 5):
            with threadpoolctl.threadpool_limits(limits=threads, user_api="openmp"):
                outs.append(_core.gemm(a, b, ta, tb))
        for out in outs[1:]:
            np.testing.assert_array_equal(out, outs[0])


def test_more_threads_than_cores_give_the_same_model():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((1500, 50))
    y = (X[:, 0] > 0).astype(int)
    params = dict(hidden_layer_sizes=(300, 200), batch_size=500, max_iter=2, random_state=0)
    models = []
    for threads in (1, 4, 7):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="openmp"):
            models.append(MLPClassifier(**params).fit(X, y))
    for other in models[1:]:
        np.testing.assert_array_equal(other.loss_curve_, models[0].loss_curve_)
        for ca, cb in zip(other.coefs_, models[0].coefs_):
            np.testing.assert_array_equal(ca, cb)
