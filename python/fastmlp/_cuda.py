"""The GPU path of fit and predict (``device="cuda"`` or ``"auto"``).

Which device a call uses, and ``DeviceTrainer``: the C++ ``CudaNetwork32`` behind the
same ``train_epoch`` / ``predict`` signature as the CPU ``Network32``, so the training
loop in _base.py is the same for both. The data goes to the device on the first epoch,
the parameters and optimizer state stay there, and each epoch mirrors them into the
host arrays (the one synchronisation per epoch, with the loss). float32 only.

Tested by tests/test_cuda.py (GPU tests skip with a reason where no GPU is usable).
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning

from . import _core

# Rows per device chunk when predicting.
_PREDICT_ROWS = 16384


def cuda_available():
    """True when fastmlp was built with CUDA and a usable GPU is present; never raises."""
    try:
        return bool(_core.cuda_available())
    except Exception:  # noqa: BLE001 - availability must never raise
        return False


def fit_device(estimator, X):
    """'cpu' or 'cuda' for fitting `estimator` on X; raises when 'cuda' cannot be honoured."""
    device = estimator.device
    if device == "cpu":
        return "cpu"
    # Every activation, loss and training feature (dropout, max_grad_norm,
    # learning_rate='cosine') has its device kernel; lbfgs, sparse X and float64 have none.
    supported = (
        estimator.solver in ("sgd", "adam", "adamw")
        and not sp.issparse(X)
        and getattr(estimator, "precision", None) != "float64"
    )
    if device == "auto":
        return "cuda" if supported and cuda_available() else "cpu"
    if not _core.has_cuda:
        raise RuntimeError(
            "device='cuda' but this fastmlp was built without CUDA. Reinstall with "
            "`pip install . -Ccmake.define.FASTMLP_CUDA=ON`, or use device='cpu' or 'auto'."
        )
    if not cuda_available():
        raise RuntimeError(
            f"device='cuda' but no GPU is usable here ({_core.cuda_device()}). "
            "Use device='cpu' or device='auto'."
        )
    if not supported:
        raise ValueError(
            "device='cuda' trains in float32 or bfloat16 with solver='sgd', 'adam' or 'adamw' "
            f"on dense X; got solver={estimator.solver!r}, precision="
            f"{getattr(estimator, 'precision', None)!r}"
            f"{' and sparse X' if sp.issparse(X) else ''}. "
            "Use device='cpu' or device='auto'."
        )
    return "cuda"


def as_float32(X, what="X"):
    """X in float32 for the GPU, with a DataConversionWarning when that converts."""
    if X.dtype != np.float32:
        warnings.warn(
            f"device='cuda' trains in float32: {what} ({X.dtype}) is converted to float32.",
            DataConversionWarning,
        )
        X = X.astype(np.float32)
    return X


def predict_on_device(estimator, X, params):
    """True when this prediction runs on the GPU: a float32 model, dense X, a usable GPU.

    A model fitted with device='cuda' predicts on the CPU where no GPU is present.
    """
    return (
        estimator.device in ("cuda", "auto")
        and params.dtype == np.float32
        and not sp.issparse(X)
        and cuda_available()
    )


def predict(units, activation, out_activation, loss, params, X):
    """Output activations (n_samples, n_outputs) in float32, computed on the GPU."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    out = np.empty((X.shape[0], units[-1]), dtype=np.float32)
    if X.shape[0] == 0:
        return out
    net = _core.CudaNetwork32(
        list(units), activation, out_activation, loss, min(X.shape[0], _PREDICT_ROWS)
    )
    net.predict(params, X, out, units[0], units[-1])
    return out


class DeviceTrainer:
    """CudaNetwork32 with the CPU network's train_epoch / predict signatures.

    `dropout`: one rate per hidden layer, or empty (none), as the CPU network takes it.
    """

    def __init__(self, units, activation, out_activation, loss, batch_size, dropout=(),
                 precision="float32"):
        self._units = [int(u) for u in units]
        self._net = _core.CudaNetwork32(
            self._units, activation, out_activation, loss, int(batch_size), precision,
            dropout=list(dropout),
        )
        self._data = None
        self._params = None

    def train_epoch(self, params, state_a, state_b, t, solver, learning_rate, momentum,
                    nesterov, beta_1, beta_2, epsilon, X, Y, sample_weight, order,
                    batch_size, alpha, step=0, schedule="constant", warmup_steps=0,
                    total_steps=0, max_grad_norm=0.0, dropout_seed=0, commit=None):
        for copy_, a in zip(commit or (), (params, state_a, state_b)):
            np.copyto(copy_, a)
        if self._data is None or self._data[0] is not X:
            self._net.set_data(X, Y, sample_weight, self._units[0], self._units[-1])
            self._data = (X, Y, sample_weight)
        if self._params is None or self._params[0] is not params:
            self._net.set_params(params, state_a, state_b)
            self._params = (params, state_a, state_b)
        return self._net.train_epoch(
            t, solver, learning_rate, momentum, nesterov, beta_1, beta_2, epsilon, order,
            batch_size, alpha, step=step, schedule=schedule, warmup_steps=warmup_steps,
            total_steps=total_steps, max_grad_norm=max_grad_norm, dropout_seed=dropout_seed,
        )

    def predict(self, params, X, out):
        self._net.predict(params, X, out, self._units[0], self._units[-1])
