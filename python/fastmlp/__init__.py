"""fastmlp: scikit-learn-compatible multi-layer perceptrons trained by a C++ core.

``from fastmlp import MLPClassifier`` is a drop-in replacement for
``from sklearn.neural_network import MLPClassifier`` (and likewise MLPRegressor).
NeuralNetClassifier and NeuralNetRegressor train any stack of Keras-style layers
(``fastmlp.layers``: Dense, Conv1D, Conv2D, pooling, BatchNormalization, ...). GAN and
MLPAutoencoder(variational=True) generate new samples.
"""

from ._core import __version__, bf16_available, bf16_kernel, has_cuda, has_openmp
from ._cuda import cuda_available
from ._classifier import MLPClassifier, NeuralNetClassifier
from ._regressor import MLPRegressor, NeuralNetRegressor
from ._autoencoder import MLPAutoencoder
from ._gan import GAN
from ._onnx import to_onnx
from . import layers, plot  # matplotlib is imported only when something is drawn

__all__ = [
    "MLPClassifier", "MLPRegressor", "MLPAutoencoder", "NeuralNetClassifier",
    "NeuralNetRegressor", "GAN", "layers", "to_onnx", "plot",
    "__version__", "has_openmp", "has_cuda", "cuda_available", "bf16_available",
    "bf16_kernel",
]
