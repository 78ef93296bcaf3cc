"""fastmlp under dask: dask-ml's Incremental over a chunked array, and GridSearchCV on
joblib's dask backend, on an in-process LocalCluster (threads: no fork after OpenMP)."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from fastmlp import MLPClassifier, MLPRegressor

da = pytest.importorskip("dask.array", reason="needs dask")
distributed = pytest.importorskip("distributed", reason="needs dask's distributed")
wrappers = pytest.importorskip("dask_ml.wrappers", reason="needs dask-ml")
joblib = pytest.importorskip("joblib")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
        host="127.0.0.1", dashboard_address=None,
    ) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def test_partial_fit_takes_classes_on_every_call(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    for start in range(0, 600, 200):
        # dask-ml passes the same fit arguments to every block; order may differ.
        rows = slice(start, start + 200)
        clf.partial_fit(X[rows], y[rows], classes=np.arange(10)[::-1])
    assert clf.n_iter_ == 1 and clf.t_ == 600
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    with pytest.raises(ValueError):
        clf.partial_fit(X[:10], y[:10], classes=np.arange(11))


def test_one_row_float32_predict_and_small_pickles(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0).fit(X, y)
    row = X[:1].astype(np.float32)
    assert clf.predict(row).shape == (1,)
    assert clf.predict_proba(row).dtype == np.float32
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=5, random_state=0).fit(X, y * 1.0)
    assert reg.predict(row).shape == (1,)
    # A pickle holds the weights and Adam's two moment vectors, nothing per sample.
    n_params = sum(c.size for c in clf.coefs_) + sum(b.size for b in clf.intercepts_)
    assert len(pickle.dumps(clf)) < 3 * n_params * 4 + 8192
    assert len(pickle.dumps(MLPClassifier())) < 2048


def test_incremental_over_chunks(client, digits):
    X, y = digits
    Xd = da.from_array(X, chunks=(300, X.shape[1]))
    yd = da.from_array(y, chunks=300)
    inc = wrappers.Incremental(
        MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0),
        scoring="accuracy",
    )
    for _ in range(5):  # one pass over the chunks per call, partial_fit once per chunk
        inc.partial_fit(Xd, yd, classes=np.arange(10))
    est = inc.estimator_
    assert est.t_ == 5 * X.shape[0]
    assert inc.score(Xd, yd) > 0.8
    assert inc.predict(Xd[:1]).compute().shape == (1,)


def test_grid_search_on_dask_joblib_backend(client, digits):
    X, y = digits
    grid = GridSearchCV(
        MLPClassifier(max_iter=20, random_state=0),
        {"hidden_layer_sizes": [(16,), (32,)], "alpha": [1e-4, 1e-2]}, cv=2, n_jobs=-1,
    )
    with joblib.parallel_backend("dask"):
        grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_score_ > 0.6
    # The dask backend ran the fits: the scheduler saw joblib's _fit_and_score batches.
    prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert any("_fit_and_score" in p for p in prefixes), prefixes
