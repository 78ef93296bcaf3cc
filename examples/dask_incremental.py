"""Train on a chunked dask array with dask-ml's Incremental, then search hyper-parameters
with GridSearchCV on joblib's dask backend.

    pip install "fastmlp[dask]" && python examples/dask_incremental.py

The cluster runs in this process (threads). Worker processes work too
(LocalCluster(processes=True), any start method: a forked child that fits starts threads
of its own); give each one thread when several share a machine.
"""

import joblib
import numpy as np
import dask.array as da
from dask_ml.wrappers import Incremental
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from fastmlp import MLPClassifier

if __name__ == "__main__":
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster):
        Xd = da.from_array(X, chunks=(300, X.shape[1]))  # stands for data too big for RAM
        yd = da.from_array(y, chunks=300)
        inc = Incremental(MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01,
                                        random_state=0), scoring="accuracy")
        for epoch in range(5):  # each call: partial_fit once per chunk, in order
            inc.partial_fit(Xd, yd, classes=np.arange(10))
            print(f"pass {epoch + 1}: accuracy {inc.score(Xd, yd):.3f}")
        print("one float32 row ->", inc.predict(Xd[:1]).compute())

        grid = GridSearchCV(MLPClassifier(max_iter=30, random_state=0),
                            {"hidden_layer_sizes": [(32,), (64,)], "alpha": [1e-4, 1e-2]},
                            cv=3, n_jobs=-1)
        with joblib.parallel_backend("dask"):
            grid.fit(X, y)
        print("best:", grid.best_params_, f"cv accuracy {grid.best_score_:.3f}")
