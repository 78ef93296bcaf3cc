"""Keras-style layers for NeuralNetClassifier and NeuralNetRegressor.

Each class is a plain value object describing one layer (Keras's names, arguments and
channels-last layout): ``get_params``/``set_params``, ``repr``, equality, ``clone`` and
pickling work as for scikit-learn estimators, so ``layers`` can be searched over with
GridSearchCV. A spec never holds fitted weights; the estimator's ``layers_`` does. The C++
core builds the layer from ``_core_spec()`` (its kind, arguments and sub-layers) and
reports its parameter slots; ``draw_initial`` draws their starting values with numpy.

Shapes are per sample, channels last: ``(features,)``, ``(steps, channels)``,
``(height, width, channels)``.

Tested by tests/test_layers.py and tests/test_neural_net.py.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

__all__ = [
    "Layer", "Dense", "Flatten", "Activation", "Dropout", "Conv1D", "Conv2D",
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "BatchNormalization", "INITIALIZERS",
    "Sampling", "UpSampling1D", "UpSampling2D", "Reshape",
]

# Keras's activation names and fastmlp's own, as the core spells them.
ACTIVATIONS = {
    None: "identity", "linear": "identity", "identity": "identity",
    "relu": "relu", "sigmoid": "logistic", "logistic": "logistic", "tanh": "tanh",
    "softmax": "softmax", "leaky_relu": "leaky_relu", "gelu": "gelu", "silu": "silu",
    "swish": "silu", "elu": "elu", "softplus": "softplus", "exponential": "exp", "exp": "exp",
}
_ACTIVATION_NAMES = StrOptions({name for name in ACTIVATIONS if name is not None})

INITIALIZERS = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
    "lecun_normal", "orthogonal", "zeros", "ones", "random_uniform", "random_normal",
    "torch_uniform",
)


def draw_initial(init, shape, fan_in, fan_out, rng):
    """Initial values of one parameter slot (float64), drawn from `rng` (a RandomState).

    Keras's initializers by name ("glorot_uniform": U(+-sqrt(6 / (fan_in + fan_out))),
    "he_normal", "orthogonal", "zeros", ...; the normal ones truncated at two standard
    deviations as Keras's), and "torch_uniform": U(+-1 / sqrt(fan_in)), PyTorch's default
    for the weights and biases of Linear and Conv layers.
    """
    shape = tuple(int(s) for s in shape)
    fan_in, fan_out = max(int(fan_in), 1), max(int(fan_out), 1)
    if init == "zeros":
        return np.zeros(shape)
    if init == "ones":
        return np.ones(shape)
    if init == "random_uniform":
        return rng.uniform(-0.05, 0.05, shape)
    if init == "random_normal":
        return rng.normal(0.0, 0.05, shape)
    if init == "torch_uniform":
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape)
    if init == "orthogonal":
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        cols = shape[-1]
        a = rng.normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return q.reshape(shape)
    family, dist = init.rsplit("_", 1)
    scale = {"glorot": 2.0 / (fan_in + fan_out), "he": 2.0 / fan_in, "lecun": 1.0 / fan_in}[family]
    if dist == "uniform":
        bound = np.sqrt(3.0 * scale)
        return rng.uniform(-bound, bound, shape)
    # Keras's truncated normal: redraw anything beyond 2 standard deviations.
    std = np.sqrt(scale) / 0.87962566103423978
    values = rng.normal(0.0, std, shape)
    bad = np.abs(values) > 2 * std
    while bad.any():
        values[bad] = rng.normal(0.0, std, int(bad.sum()))
        bad = np.abs(values) > 2 * std
    return values


class Layer(BaseEstimator):
    """Base class of the layer specs.

    A subclass declares its constructor arguments (stored as given), their
    ``_parameter_constraints``, its core ``_kind`` (Keras's class name) and, when it
    needs inputs of a given rank, ``_input_rank`` (per sample, channels included: 2 for
    Conv1D, 3 for Conv2D). ``_core_args`` maps the arguments to the core's; initializer
    arguments stay in Python (``_initializers``).
    """

    _kind = None
    _input_rank = None
    _parameter_constraints: dict = {}

    @property
    def kind(self):
        return self._kind or type(self).__name__

    def _core_args(self):
        """The arguments the C++ layer takes (ints, floats, strs, tuples of ints)."""
        return {}

    def _initializers(self):
        """{slot name: initializer} chosen by the user, overriding the core's defaults."""
        return {}

    def _children(self):
        """Sub-layers of a composite layer (Bidirectional, TransformerEncoder blocks)."""
        return []

    def _uses_dropout(self):
        """Whether training passes drop units (a dropout seed is drawn per epoch)."""
        return any(child._uses_dropout() for child in self._children())

    def _core_spec(self):
        """The layer as the core builds it; InvalidParameterError for bad arguments."""
        self._validate_params()
        return {
            "kind": self.kind,
            "args": self._core_args(),
            "children": [child._core_spec() for child in self._children()],
        }

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        return self.get_params(deep=False) == other.get_params(deep=False)

    def __hash__(self):
        return hash((type(self).__name__, repr(self)))


def _initializer_constraint():
    return [StrOptions(set(INITIALIZERS))]


class Dense(Layer):
    """Fully connected layer on the last axis: ``activation(x @ kernel + bias)``.

    As Keras's Dense, an input of shape ``(steps, features)`` gives ``(steps, units)``,
    the same kernel applied at every step; use Flatten (or a global pooling layer) first
    to connect a convolution to a classifier's head.

    Parameters
    ----------
    units : int
        Output size.
    activation : str or None, default=None
        Any activation by name: Keras's ('linear', 'relu', 'sigmoid', 'tanh', 'softmax',
        'gelu', 'swish', 'elu', 'softplus', 'exponential', 'leaky_relu') or fastmlp's
        ('identity', 'logistic', 'silu', 'exp'). None is linear. 'gelu' is the tanh
        approximation.
    use_bias : bool, default=True
    kernel_initializer : str, default='glorot_uniform'
        See ``fastmlp.layers.INITIALIZERS``.
    bias_initializer : str, default='zeros'

    Examples
    --------
    >>> from fastmlp.layers import Dense
    >>> Dense(64, activation="relu")
    Dense(activation='relu', units=64)
    """

    _parameter_constraints: dict = {
        "units": [Interval(Integral, 1, None, closed="left")],
        "activation": [_ACTIVATION_NAMES, None],
        "use_bias": ["boolean"],
        "kernel_initializer": _initializer_constraint(),
        "bias_initializer": _initializer_constraint(),
    }

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros"):
        self.units = units
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _core_args(self):
        return {"units": int(self.units), "activation": ACTIVATIONS[self.activation],
                "use_bias": bool(self.use_bias)}

    def _initializers(self):
        return {"kernel": self.kernel_initializer, "bias": self.bias_initializer}


class Flatten(Layer):
    """Flattens each sample: ``(n, *shape)`` to ``(n, prod(shape))``.

    Examples
    --------
    >>> from fastmlp.layers import Flatten
    >>> Flatten()
    Flatten()
    """

    def __init__(self):
        pass


class Activation(Layer):
    """An activation applied element by element (softmax: along the last axis).

    Parameters
    ----------
    activation : str
        Any name that Dense's ``activation`` takes.

    Examples
    --------
    >>> from fastmlp.layers import Activation
    >>> Activation("relu")
    Activation(activation='relu')
    """

    _parameter_constraints: dict = {"activation": [_ACTIVATION_NAMES]}

    def __init__(self, activation):
        self.activation = activation

    def _core_args(self):
        return {"activation": ACTIVATIONS[self.activation]}


class Dropout(Layer):
    """Inverted dropout in training: each value is zeroed with probability ``rate`` and
    the others scaled by ``1 / (1 - rate)``; prediction keeps every value.

    The masks are a function of (a seed drawn per epoch from ``random_state``, the layer,
    the sample's row in X, the unit), as the MLPs' ``dropout``: they depend on neither the
    batch boundaries nor the thread count.

    Parameters
    ----------
    rate : float
        In [0, 1).

    Examples
    --------
    >>> from fastmlp.layers import Dropout
    >>> Dropout(0.25)
    Dropout(rate=0.25)
    """

    _parameter_constraints: dict = {"rate": [Interval(Real, 0, 1, closed="left")]}

    def __init__(self, rate):
        self.rate = rate

    def _core_args(self):
        return {"rate": float(self.rate)}

    def _uses_dropout(self):
        return self.rate > 0


def _ints(value):
    """An int, or a tuple of ints, as the core takes it."""
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return int(value)


def _padding(value):
    return value if isinstance(value, str) else _ints(value)


_SIZE = [Interval(Integral, 1, None, closed="left"), tuple, list]


class _Conv(Layer):
    _dims = None
    _parameter_constraints: dict = {
        "filters": [Interval(Integral, 1, None, closed="left")],
        "kernel_size": _SIZE,
        "strides": _SIZE,
        "padding": [StrOptions({"valid", "same"}), Interval(Integral, 0, None, closed="left"),
                    tuple, list],
        "activation": [_ACTIVATION_NAMES, None],
        "use_bias": ["boolean"],
        "kernel_initializer": _initializer_constraint(),
        "bias_initializer": _initializer_constraint(),
    }

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros"):
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    @property
    def _input_rank(self):
        return self._dims + 1

    def _core_args(self):
        return {"filters": int(self.filters), "kernel_size": _ints(self.kernel_size),
                "strides": _ints(self.strides), "padding": _padding(self.padding),
                "activation": ACTIVATIONS[self.activation], "use_bias": bool(self.use_bias)}

    def _initializers(self):
        return {"kernel": self.kernel_initializer, "bias": self.bias_initializer}


class Conv1D(_Conv):
    """1-D convolution over samples of shape (steps, channels), as Keras's Conv1D.

    ``y[t, f] = activation(sum_{j, c} x[t * strides + j - pad, c] * kernel[j, c, f]
    + bias[f])``; the kernel has shape (kernel_size, channels, filters). Runs as an im2col
    product on fastmlp's GEMM. A (n, steps) X is read as one channel.

    Parameters
    ----------
    filters : int
        Output channels.
    kernel_size : int
        Window length.
    strides : int, default=1
    padding : {'valid', 'same'} or int, default='valid'
        'valid': no padding; 'same': ``ceil(steps / strides)`` outputs (zeros split as
        TensorFlow splits them); an int: that many zeros on both sides (PyTorch's
        ``padding=p``).
    activation : str or None, default=None
        Any activation name Dense takes.
    use_bias : bool, default=True
    kernel_initializer : str, default='glorot_uniform'
    bias_initializer : str, default='zeros'

    Examples
    --------
    >>> from fastmlp.layers import Conv1D
    >>> Conv1D(25, 5, strides=2, padding=1, activation="relu")
    Conv1D(activation='relu', filters=25, kernel_size=5, padding=1, strides=2)
    """

    _kind = "Conv1D"
    _dims = 1


class Conv2D(_Conv):
    """2-D convolution over samples of shape (height, width, channels), as Keras's Conv2D.

    The kernel has shape (kh, kw, channels, filters); ``kernel_size``, ``strides`` and an
    int ``padding`` take one int for both axes or a pair. A (n, height, width) X is read as
    one channel. Other parameters as Conv1D's.

    Examples
    --------
    >>> from fastmlp.layers import Conv2D
    >>> Conv2D(16, 3, activation="relu")
    Conv2D(activation='relu', filters=16, kernel_size=3)
    """

    _kind = "Conv2D"
    _dims = 2


class _Pool(Layer):
    _dims = None
    _parameter_constraints: dict = {
        "pool_size": _SIZE,
        "strides": _SIZE + [None],
        "padding": [StrOptions({"valid", "same"})],
    }

    def __init__(self, pool_size=2, strides=None, padding="valid"):
        self.pool_size = pool_size
        self.strides = strides
        self.padding = padding

    @property
    def _input_rank(self):
        return self._dims + 1

    def _core_args(self):
        args = {"pool_size": _ints(self.pool_size), "padding": self.padding}
        if self.strides is not None:
            args["strides"] = _ints(self.strides)
        return args


class MaxPooling1D(_Pool):
    """The maximum of each window of ``pool_size`` steps, per channel (Keras's MaxPooling1D;
    ``strides`` defaults to ``pool_size``; padding 'valid' or 'same').

    Examples
    --------
    >>> from fastmlp.layers import MaxPooling1D
    >>> MaxPooling1D(2)
    MaxPooling1D()
    """

    _kind = "MaxPooling1D"
    _dims = 1


class MaxPooling2D(_Pool):
    """The maximum of each ``pool_size`` window of (height, width), per channel.

    Examples
    --------
    >>> from fastmlp.layers import MaxPooling2D
    >>> MaxPooling2D((2, 2))
    MaxPooling2D(pool_size=(2, 2))
    """

    _kind = "MaxPooling2D"
    _dims = 2


class AveragePooling1D(_Pool):
    """The mean of each window of ``pool_size`` steps, per channel; with padding 'same' the
    mean of the values inside the input, as Keras's.

    Examples
    --------
    >>> from fastmlp.layers import AveragePooling1D
    >>> AveragePooling1D(3, strides=1, padding="same")
    AveragePooling1D(padding='same', pool_size=3, strides=1)
    """

    _kind = "AveragePooling1D"
    _dims = 1


class AveragePooling2D(_Pool):
    """The mean of each ``pool_size`` window of (height, width), per channel.

    Examples
    --------
    >>> from fastmlp.layers import AveragePooling2D
    >>> AveragePooling2D()
    AveragePooling2D()
    """

    _kind = "AveragePooling2D"
    _dims = 2


class _GlobalPool(Layer):
    _dims = None

    def __init__(self):
        pass

    @property
    def _input_rank(self):
        return self._dims + 1


class GlobalMaxPooling1D(_GlobalPool):
    """The maximum over all steps, per channel: (steps, channels) -> (channels,).

    Examples
    --------
    >>> from fastmlp.layers import GlobalMaxPooling1D
    >>> GlobalMaxPooling1D()
    GlobalMaxPooling1D()
    """

    _kind = "GlobalMaxPooling1D"
    _dims = 1


class GlobalMaxPooling2D(_GlobalPool):
    """The maximum over all positions, per channel: (h, w, channels) -> (channels,).

    Examples
    --------
    >>> from fastmlp.layers import GlobalMaxPooling2D
    >>> GlobalMaxPooling2D()
    GlobalMaxPooling2D()
    """

    _kind = "GlobalMaxPooling2D"
    _dims = 2


class GlobalAveragePooling1D(_GlobalPool):
    """The mean over all steps, per channel: (steps, channels) -> (channels,).

    Examples
    --------
    >>> from fastmlp.layers import GlobalAveragePooling1D
    >>> GlobalAveragePooling1D()
    GlobalAveragePooling1D()
    """

    _kind = "GlobalAveragePooling1D"
    _dims = 1


class GlobalAveragePooling2D(_GlobalPool):
    """The mean over all positions, per channel: (h, w, channels) -> (channels,).

    Examples
    --------
    >>> from fastmlp.layers import GlobalAveragePooling2D
    >>> GlobalAveragePooling2D()
    GlobalAveragePooling2D()
    """

    _kind = "GlobalAveragePooling2D"
    _dims = 2


class BatchNormalization(Layer):
    """Batch normalization over the last axis (channels), as Keras's.

    Training normalises each channel with the batch's mean and variance (over the samples
    and every other axis) and moves the moving averages,
    ``moving = momentum * moving + (1 - momentum) * batch statistic``; prediction uses the
    moving averages: ``gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) +
    beta``. gamma and beta are trained (without L2 penalty); moving_mean and
    moving_variance are the layer's ``states``. Batches are never split across threads
    (the statistics couple the samples); the results still do not depend on the thread
    count.

    Parameters
    ----------
    momentum : float, default=0.99
    epsilon : float, default=1e-3
    center : bool, default=True
        Learn the offset beta.
    scale : bool, default=True
        Learn the scale gamma.

    Examples
    --------
    >>> from fastmlp.layers import BatchNormalization
    >>> BatchNormalization(momentum=0.9)
    BatchNormalization(momentum=0.9)
    """

    _parameter_constraints: dict = {
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "center": ["boolean"],
        "scale": ["boolean"],
    }

    def __init__(self, momentum=0.99, epsilon=1e-3, center=True, scale=True):
        self.momentum = momentum
        self.epsilon = epsilon
        self.center = center
        self.scale = scale

    def _core_args(self):
        return {"momentum": float(self.momentum), "epsilon": float(self.epsilon),
                "center": bool(self.center), "scale": bool(self.scale)}


# ---------------------------------------------------------------- generative models
class Sampling(Layer):
    """A variational autoencoder's reparameterisation (Kingma & Welling, 2014).

    Takes flat samples ``[mean, log_variance]`` of size ``2 k`` (one ``Dense(2 * k)``
    before it) and outputs ``k`` values: in training ``mean + exp(log_variance / 2) *
    eps``, ``eps ~ N(0, 1)`` drawn from (a seed per epoch, the layer, the sample's row,
    the unit), so the noise depends on neither batches nor threads; in prediction the
    mean. It adds ``kl_weight * KL(N(mean, exp(log_variance)) || N(0, 1))`` per sample to
    the network's loss (reported, like the squared error, divided by the number of
    outputs). Sample weights do not weight this term.

    Parameters
    ----------
    kl_weight : float, default=1.0
        Weight of the KL divergence, relative to the per-sample loss whose gradient the
        network follows (for the squared error, ``0.5 * ||y - prediction||^2``): a
        Gaussian decoder of variance ``sigma^2`` and ``beta``-VAE weight ``beta`` is
        ``kl_weight = beta * sigma^2``.

    Examples
    --------
    >>> from fastmlp.layers import Dense, Sampling
    >>> [Dense(2 * 8), Sampling(kl_weight=0.01)]
    [Dense(units=16), Sampling(kl_weight=0.01)]
    """

    _parameter_constraints: dict = {"kl_weight": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, kl_weight=1.0):
        self.kl_weight = kl_weight

    def _core_args(self):
        return {"kl_weight": float(self.kl_weight)}

    def _uses_dropout(self):
        return True  # it needs a noise seed per epoch, as dropout masks do


class _UpSampling(Layer):
    _dims = None
    _parameter_constraints: dict = {"size": _SIZE}

    def __init__(self, size=2):
        self.size = size

    @property
    def _input_rank(self):
        return self._dims + 1

    def _core_args(self):
        return {"size": _ints(self.size)}


class UpSampling1D(_UpSampling):
    """Repeats each step ``size`` times: (steps, channels) -> (steps * size, channels),
    as Keras's UpSampling1D.

    Examples
    --------
    >>> from fastmlp.layers import UpSampling1D
    >>> UpSampling1D(2)
    UpSampling1D()
    """

    _kind = "UpSampling1D"
    _dims = 1


class UpSampling2D(_UpSampling):
    """Repeats each position over a ``size`` block (nearest neighbour):
    (h, w, channels) -> (h * size_h, w * size_w, channels), as Keras's UpSampling2D.

    Examples
    --------
    >>> from fastmlp.layers import UpSampling2D
    >>> UpSampling2D((2, 2))
    UpSampling2D(size=(2, 2))
    """

    _kind = "UpSampling2D"
    _dims = 2


class Reshape(Layer):
    """Gives each sample the shape ``target_shape`` (the same number of values, in the
    same order), as Keras's Reshape.

    Parameters
    ----------
    target_shape : tuple of int

    Examples
    --------
    >>> from fastmlp.layers import Reshape
    >>> Reshape((4, 4, 8))
    Reshape(target_shape=(4, 4, 8))
    """

    _parameter_constraints: dict = {"target_shape": [tuple, list]}

    def __init__(self, target_shape):
        self.target_shape = target_shape

    def _core_args(self):
        return {"target_shape": tuple(int(d) for d in self.target_shape)}
