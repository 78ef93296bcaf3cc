"""Training with bfloat16 matrix products (precision='bfloat16') next to float32.

    python examples/bf16_training.py

Needs a CPU with AVX-512 BF16 (Intel Cooper Lake / Sapphire Rapids and later, AMD Zen 4
and later); elsewhere it says so and exits. Prints which products bfloat16 runs on this CPU
(AMX tiles, vdpbf16ps, or float32 where neither is faster: then fit also warns once).
"""

import time

from sklearn.datasets import make_classification

import fastmlp
from fastmlp import MLPClassifier

if not fastmlp.bf16_available():
    print("This CPU has no AVX-512 BF16: precision='bfloat16' would raise ValueError here.")
    raise SystemExit(0)

X, y = make_classification(n_samples=20000, n_features=784, n_informative=60, n_classes=10,
                           n_clusters_per_class=2, random_state=0)
X = X.astype("float32")
print(f"bfloat16 products on this CPU: {fastmlp.bf16_kernel()}")
for precision in ("float32", "bfloat16"):
    clf = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=3, random_state=0,
                        precision=precision)
    start = time.perf_counter()
    clf.fit(X, y)
    print(f"{precision:8s}: {time.perf_counter() - start:.2f} s, training accuracy "
          f"{clf.score(X, y):.4f}, coefs_ {clf.coefs_[0].dtype}")
