"""fastmlp's thread count (OpenMP's, so threadpoolctl limits it) and its effect on a fit.

    python examples/threads.py
"""

import time

from sklearn.datasets import load_digits
from threadpoolctl import threadpool_info, threadpool_limits

from fastmlp import MLPClassifier, _core

for lib in threadpool_info():
    if lib["user_api"] == "openmp":
        print(f"{lib['prefix']}: {lib['num_threads']} threads ({lib['filepath']})")

X, y = load_digits(return_X_y=True)
for threads in (1, _core.max_threads()):
    with threadpool_limits(limits=threads, user_api="openmp"):
        start = time.perf_counter()
        MLPClassifier(hidden_layer_sizes=(256,), max_iter=10, random_state=0).fit(X / 16, y)
        print(f"{_core.max_threads()} thread(s): {time.perf_counter() - start:.2f} s")
