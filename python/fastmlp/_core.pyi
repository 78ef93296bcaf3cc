"""Type stubs for fastmlp._core, the C++ core (csrc/bindings.cpp). Keep in step with it."""

from typing import Optional, Union

import numpy as np

__version__: str
has_openmp: bool
has_cuda: bool

# X for the network methods: a C-contiguous 2-D array of the network's dtype, or a CSR
# matrix as (data, indices int64, indptr int64, n_features).
InputX = Union[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, int]]

def max_threads() -> int: ...
def available_gemm_kernels() -> list[str]: ...
def gemm_kernel(kernel: str = "auto") -> str: ...
def gemm(
    a: np.ndarray,
    b: np.ndarray,
    trans_a: bool = False,
    trans_b: bool = False,
    kernel: str = "auto",
    alpha: float = 1.0,
    beta: float = 0.0,
    out: Optional[np.ndarray] = None,
) -> np.ndarray: ...

class _Kernels:
    def activation_forward(self, name: str, a: np.ndarray) -> None: ...
    def activation_backward(self, name: str, delta: np.ndarray, a: np.ndarray) -> None: ...
    def loss_forward(self, name: str, p: np.ndarray, y: np.ndarray, sw: Optional[np.ndarray]) -> float: ...
    def loss_backward(self, delta: np.ndarray, p: np.ndarray, y: np.ndarray, sw: Optional[np.ndarray]) -> None: ...
    def sgd_update(self, w: np.ndarray, velocity: np.ndarray, grad: np.ndarray, lr: float, momentum: float, nesterov: bool) -> None: ...
    def adam_update(self, w: np.ndarray, m: np.ndarray, v: np.ndarray, grad: np.ndarray, t: int, lr: float, beta_1: float, beta_2: float, epsilon: float) -> None: ...

f32: _Kernels
f64: _Kernels

class _Network:
    n_params: int
    def __init__(self, sizes: list[int], hidden_activation: str, output_activation: str, loss: str, chunk_rows: int) -> None: ...
    def loss_grad(self, params: np.ndarray, grad: np.ndarray, X: InputX, Y: np.ndarray, sample_weight: Optional[np.ndarray], alpha: float) -> float: ...
    def train_epoch(
        self, params: np.ndarray, state_a: np.ndarray, state_b: np.ndarray, adam_t: int,
        solver: str, learning_rate: float, momentum: float, nesterov: bool, beta_1: float,
        beta_2: float, epsilon: float, X: InputX, Y: np.ndarray,
        sample_weight: Optional[np.ndarray], order: Optional[np.ndarray], batch_size: int,
        alpha: float,
    ) -> tuple[float, int]: ...
    def predict(self, params: np.ndarray, X: InputX, out: np.ndarray) -> None: ...

class Network32(_Network): ...
class Network64(_Network): ...
