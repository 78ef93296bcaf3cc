"""fastmlp's threads are OpenMP threads that threadpoolctl can see and limit.

The extension links the shared OpenMP runtime (libgomp with GCC, libomp with Clang, vcomp
with MSVC), so `threadpoolctl.threadpool_info()` lists it once `fastmlp._core` is loaded,
and `threadpool_limits(n, user_api="openmp")` changes the thread count the core reads at
each call (`fastmlp._core.max_threads()` is `omp_get_max_threads()` inside the module).
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
