"""Export a fitted MLPClassifier to ONNX and run it with onnxruntime.

    pip install "fastmlp[onnx]" && python examples/onnx_export.py

Writes mlp.onnx in the working directory.
"""

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits

import fastmlp

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
clf = fastmlp.MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0).fit(X, y)

onx = fastmlp.to_onnx(clf, X[:1])  # float32 input named "X"
with open("mlp.onnx", "wb") as f:
    f.write(onx.SerializeToString())

session = ort.InferenceSession("mlp.onnx", providers=["CPUExecutionProvider"])
labels, proba = session.run(None, {"X": X})
error = float(np.abs(proba - clf.predict_proba(X)).max())
print(f"max |onnxruntime - fastmlp| probability: {error:.2e}")
print("same labels:", bool((labels == clf.predict(X)).all()))
