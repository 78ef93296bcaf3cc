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
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions

__all__ = [
    "Layer", "Dense", "Flatten", "Activation", "Dropout", "Conv1D", "Conv2D",
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "BatchNormalization", "GRU", "LSTM", "Bidirectional", "LastStep",
    "Embedding", "PositionEmbedding", "LayerNormalization", "MultiHeadAttention",
    "TransformerEncoder", "Cropping1D", "Sampling", "UpSampling1D", "UpSampling2D", "Reshape",
    "INITIALIZERS",
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

    def _draw_initial(self, slot, init, shape, fan_in, fan_out, rng):
        """Initial values of the slot named `slot` drawn with `init` (see draw_initial);
        layers whose initial values are more than one initializer override it."""
        return draw_initial(init, shape, fan_in, fan_out, rng)

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


# ---------------------------------------------------------------------- recurrent layers
# The activations a recurrent layer takes: its backward step reads the gates' outputs only.
_RECURRENT_ACTIVATIONS = StrOptions({"tanh", "sigmoid", "logistic", "relu", "linear", "identity",
                                     "leaky_relu", "elu", "softplus"})


class _Recurrent(Layer):
    _input_rank = 2
    _parameter_constraints: dict = {
        "units": [Interval(Integral, 1, None, closed="left")],
        "activation": [_RECURRENT_ACTIVATIONS, None],
        "recurrent_activation": [_RECURRENT_ACTIVATIONS, None],
        "use_bias": ["boolean"],
        "kernel_initializer": _initializer_constraint(),
        "recurrent_initializer": _initializer_constraint(),
        "bias_initializer": _initializer_constraint(),
        "return_sequences": ["boolean"],
        "go_backwards": ["boolean"],
    }

    def _core_args(self):
        return {"units": int(self.units), "activation": ACTIVATIONS[self.activation],
                "recurrent_activation": ACTIVATIONS[self.recurrent_activation],
                "use_bias": bool(self.use_bias), "return_sequences": bool(self.return_sequences),
                "go_backwards": bool(self.go_backwards)}

    def _initializers(self):
        return {"kernel": self.kernel_initializer, "recurrent_kernel": self.recurrent_initializer,
                "bias": self.bias_initializer}


class GRU(_Recurrent):
    """Gated recurrent unit over samples of shape (steps, features), as Keras's GRU.

    With ``z``, ``r`` the update and reset gates (``recurrent_activation``) and ``f`` the
    ``activation``, each step computes::

        z = sigmoid(x W_z + h U_z + b_z)        r = sigmoid(x W_r + h U_r + b_r)
        hh = f(x W_h + b_h + r * (h U_h + b'_h))      (reset_after=True)
        hh = f(x W_h + b_h + (r * h) U_h)             (reset_after=False)
        h = z * h + (1 - z) * hh

    from a zero initial state. The parameters have Keras's names and shapes: ``kernel``
    (features, 3 * units), ``recurrent_kernel`` (units, 3 * units) and ``bias``, of shape
    (2, 3 * units) with reset_after (the input bias b, then the recurrent bias b'), else
    (3 * units,); ``3 * units * (features + units + 2)`` parameters with reset_after, as
    PyTorch's ``nn.GRU``. Training runs backpropagation through time over every step, in
    C++: the input products of all steps as one product, then the steps. A (n, steps) X is
    read as one feature. Dropout inside the cell (Keras's ``dropout``,
    ``recurrent_dropout``), masking and stateful use are not available; put a Dropout
    layer between layers instead.

    Parameters
    ----------
    units : int
        Size of the state.
    activation : str or None, default='tanh'
        The candidate's activation: 'tanh', 'sigmoid', 'relu', 'leaky_relu', 'elu',
        'softplus' or 'linear' (None).
    recurrent_activation : str or None, default='sigmoid'
        The gates' activation, from the same list.
    use_bias : bool, default=True
    kernel_initializer : str, default='glorot_uniform'
    recurrent_initializer : str, default='orthogonal'
    bias_initializer : str, default='zeros'
    return_sequences : bool, default=False
        Output the state of every step, (steps, units), instead of the last (units,).
    go_backwards : bool, default=False
        Read the steps last to first; the states come out in that order.
    reset_after : bool, default=True
        Apply the reset gate after the recurrent product (Keras's default, PyTorch's and
        cuDNN's convention) or before it (the original GRU).

    Examples
    --------
    >>> from fastmlp.layers import GRU
    >>> GRU(6, return_sequences=True)
    GRU(return_sequences=True, units=6)
    """

    _parameter_constraints: dict = {**_Recurrent._parameter_constraints,
                                    "reset_after": ["boolean"]}

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", return_sequences=False, go_backwards=False,
                 reset_after=True):
        self.units = units
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.return_sequences = return_sequences
        self.go_backwards = go_backwards
        self.reset_after = reset_after

    def _core_args(self):
        return {**super()._core_args(), "reset_after": bool(self.reset_after)}


class LSTM(_Recurrent):
    """Long short-term memory over samples of shape (steps, features), as Keras's LSTM.

    With ``f_act`` the ``activation`` and the gates i, f, o through
    ``recurrent_activation``, each step computes::

        i = sigmoid(x W_i + h U_i + b_i)     f = sigmoid(x W_f + h U_f + b_f)
        g = f_act(x W_c + h U_c + b_c)       o = sigmoid(x W_o + h U_o + b_o)
        c = f * c + i * g                    h = o * f_act(c)

    from zero states. Parameters (Keras's names and shapes): ``kernel`` (features,
    4 * units), ``recurrent_kernel`` (units, 4 * units), ``bias`` (4 * units,), in the gate
    order i, f, c, o. Other parameters and limits as GRU's.

    Parameters
    ----------
    units : int
    activation : str or None, default='tanh'
    recurrent_activation : str or None, default='sigmoid'
    use_bias : bool, default=True
    kernel_initializer : str, default='glorot_uniform'
    recurrent_initializer : str, default='orthogonal'
    bias_initializer : str, default='zeros'
    unit_forget_bias : bool, default=True
        Start the forget gate's bias at 1 (Jozefowicz et al., 2015), as Keras does.
    return_sequences : bool, default=False
    go_backwards : bool, default=False

    Examples
    --------
    >>> from fastmlp.layers import LSTM
    >>> LSTM(32)
    LSTM(units=32)
    """

    _parameter_constraints: dict = {**_Recurrent._parameter_constraints,
                                    "unit_forget_bias": ["boolean"]}

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, return_sequences=False,
                 go_backwards=False):
        self.units = units
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.unit_forget_bias = unit_forget_bias
        self.return_sequences = return_sequences
        self.go_backwards = go_backwards

    def _draw_initial(self, slot, init, shape, fan_in, fan_out, rng):
        values = super()._draw_initial(slot, init, shape, fan_in, fan_out, rng)
        if slot == "bias" and self.unit_forget_bias:
            units = int(self.units)
            values[units : 2 * units] = 1.0
        return values


class Bidirectional(Layer):
    """A recurrent layer run over the sequence both ways, as Keras's Bidirectional.

    ``layer`` reads the steps first to last; a copy of it with ``go_backwards`` flipped
    (or ``backward_layer``) reads them last to first, with its own weights. Their outputs
    merge along the last axis; with ``return_sequences`` the backward states are put back
    in input order first, so step t of the output holds both directions' states at step
    t. The fitted layer's weights are the two layers' under the prefixes ``forward_`` and
    ``backward_`` ('forward_kernel', ..., 'backward_bias').

    Parameters
    ----------
    layer : GRU or LSTM
    merge_mode : {'concat', 'sum', 'mul', 'ave'}, default='concat'
    backward_layer : GRU or LSTM, default=None
        The backward layer, when it should differ from a copy of ``layer``; its
        ``go_backwards`` must differ from ``layer``'s and its ``return_sequences`` match.

    Examples
    --------
    >>> from fastmlp.layers import GRU, Bidirectional
    >>> Bidirectional(GRU(6, return_sequences=True))
    Bidirectional(layer=GRU(return_sequences=True, units=6))
    """

    _input_rank = 2
    _parameter_constraints: dict = {
        "layer": "no_validation",  # checked in _core_spec, with a message naming the layer
        "merge_mode": [StrOptions({"concat", "sum", "mul", "ave"})],
        "backward_layer": "no_validation",
    }

    def __init__(self, layer, merge_mode="concat", backward_layer=None):
        self.layer = layer
        self.merge_mode = merge_mode
        self.backward_layer = backward_layer

    def _core_spec(self):
        for name in ("layer", "backward_layer"):
            value = getattr(self, name)
            if not isinstance(value, _Recurrent) and (name == "layer" or value is not None):
                raise InvalidParameterError(
                    f"The {name!r} parameter of Bidirectional must be a GRU or an LSTM layer, "
                    f"got {value!r}."
                )
        return super()._core_spec()

    def _core_args(self):
        return {"merge_mode": self.merge_mode}

    def _children(self):
        return [self.layer] + ([] if self.backward_layer is None else [self.backward_layer])

    def _directions(self):
        backward = self.layer if self.backward_layer is None else self.backward_layer
        return {"forward_": self.layer, "backward_": backward}

    def _initializers(self):
        return {prefix + name: init for prefix, child in self._directions().items()
                for name, init in child._initializers().items()}

    def _draw_initial(self, slot, init, shape, fan_in, fan_out, rng):
        for prefix, child in self._directions().items():
            if slot.startswith(prefix):
                return child._draw_initial(slot[len(prefix):], init, shape, fan_in, fan_out, rng)
        return super()._draw_initial(slot, init, shape, fan_in, fan_out, rng)


class LastStep(Layer):
    """The last step of each sequence: (steps, features) -> (features,).

    The read-out of a model whose last sequence layer returns every step (a GRU with
    ``return_sequences=True``, a transformer block) for classification or regression.

    Examples
    --------
    >>> from fastmlp.layers import LastStep
    >>> LastStep()
    LastStep()
    """

    _input_rank = 2

    def __init__(self):
        pass


# ---------------------------------------------------------------- tokens and attention


class Embedding(Layer):
    """Token embedding, as Keras's Embedding: integer tokens ``(n, steps)`` become
    vectors ``(n, steps, output_dim)``, row ``t`` of the ``embeddings`` table for token t.

    It must be the first layer: it reads X itself, whose values must be integers in
    ``[0, input_dim)``, in an integer dtype or as integral floats (the estimators check
    this before training or predicting and name the first bad value and its position).
    The table gets the L2 penalty (and AdamW's decay) as kernels do.

    Parameters
    ----------
    input_dim : int
        Size of the vocabulary: tokens are 0 .. input_dim - 1.
    output_dim : int
        Size of each token's vector.
    embeddings_initializer : str, default='random_uniform'
        Keras's default, U(-0.05, 0.05). See ``fastmlp.layers.INITIALIZERS``.

    Examples
    --------
    >>> from fastmlp.layers import Embedding
    >>> Embedding(50, 64)
    Embedding(input_dim=50, output_dim=64)
    """

    _parameter_constraints: dict = {
        "input_dim": [Interval(Integral, 1, None, closed="left")],
        "output_dim": [Interval(Integral, 1, None, closed="left")],
        "embeddings_initializer": _initializer_constraint(),
    }

    def __init__(self, input_dim, output_dim, embeddings_initializer="random_uniform"):
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = embeddings_initializer

    def _core_args(self):
        return {"input_dim": int(self.input_dim), "output_dim": int(self.output_dim)}

    def _initializers(self):
        return {"embeddings": self.embeddings_initializer}


class PositionEmbedding(Layer):
    """A learned embedding of each position, added to the input:
    ``y[t] = x[t] + embeddings[t]`` over samples of shape (steps, features), as
    keras_hub's PositionEmbedding followed by the sum. A sequence longer than
    ``max_length`` is an error when the network is built.

    Parameters
    ----------
    max_length : int
        The longest sequence the table covers.
    initializer : str, default='glorot_uniform'

    Examples
    --------
    >>> from fastmlp.layers import PositionEmbedding
    >>> PositionEmbedding(41)
    PositionEmbedding(max_length=41)
    """

    _input_rank = 2
    _parameter_constraints: dict = {
        "max_length": [Interval(Integral, 1, None, closed="left")],
        "initializer": _initializer_constraint(),
    }

    def __init__(self, max_length, initializer="glorot_uniform"):
        self.max_length = max_length
        self.initializer = initializer

    def _core_args(self):
        return {"max_length": int(self.max_length)}

    def _initializers(self):
        return {"embeddings": self.initializer}


class LayerNormalization(Layer):
    """Layer normalization along the last axis, as Keras's:
    ``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the mean and variance of each
    position's features; the same in training and prediction.

    Parameters
    ----------
    epsilon : float, default=1e-3
        Keras's default (PyTorch's LayerNorm uses 1e-5).
    center : bool, default=True
        Learn the offset beta.
    scale : bool, default=True
        Learn the scale gamma.

    Examples
    --------
    >>> from fastmlp.layers import LayerNormalization
    >>> LayerNormalization(epsilon=1e-5)
    LayerNormalization(epsilon=1e-05)
    """

    _parameter_constraints: dict = {
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "center": ["boolean"],
        "scale": ["boolean"],
    }

    def __init__(self, epsilon=1e-3, center=True, scale=True):
        self.epsilon = epsilon
        self.center = center
        self.scale = scale

    def _core_args(self):
        return {"epsilon": float(self.epsilon), "center": bool(self.center),
                "scale": bool(self.scale)}


_ATTENTION_SLOTS = ("query", "key", "value", "attention_output")


class MultiHeadAttention(Layer):
    """Multi-head self-attention over samples of shape (steps, features), as Keras's
    MultiHeadAttention called with query = key = value = x.

    ``Q = x Wq + bq``, ``K``, ``V`` likewise per head; ``softmax(Q K^T / sqrt(key_dim))``
    weighs the values of every step (with ``causal``, of the steps up to the query's
    own); the heads' outputs are projected back to ``features``. Weights as Keras's:
    ``query/kernel`` (features, num_heads, key_dim), ``query/bias`` (num_heads, key_dim),
    ... ``attention_output/kernel`` (num_heads, value_dim, features).

    Parameters
    ----------
    num_heads : int
    key_dim : int
        Size of each head's queries and keys.
    value_dim : int or None, default=None
        Size of each head's values; None is key_dim.
    dropout : float, default=0.0
        Dropout rate of the attention weights in training.
    use_bias : bool, default=True
    causal : bool, default=False
        Each step attends to itself and the steps before it only (Keras's
        ``use_causal_mask=True``).
    kernel_initializer : str, default='glorot_uniform'
    bias_initializer : str, default='zeros'

    Examples
    --------
    >>> from fastmlp.layers import MultiHeadAttention
    >>> MultiHeadAttention(2, 32, causal=True)
    MultiHeadAttention(causal=True, key_dim=32, num_heads=2)
    """

    _input_rank = 2
    _parameter_constraints: dict = {
        "num_heads": [Interval(Integral, 1, None, closed="left")],
        "key_dim": [Interval(Integral, 1, None, closed="left")],
        "value_dim": [Interval(Integral, 1, None, closed="left"), None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "use_bias": ["boolean"],
        "causal": ["boolean"],
        "kernel_initializer": _initializer_constraint(),
        "bias_initializer": _initializer_constraint(),
    }

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 causal=False, kernel_initializer="glorot_uniform", bias_initializer="zeros"):
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self.causal = causal
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _core_args(self):
        args = {"num_heads": int(self.num_heads), "key_dim": int(self.key_dim),
                "dropout": float(self.dropout), "use_bias": bool(self.use_bias),
                "causal": bool(self.causal)}
        if self.value_dim is not None:
            args["value_dim"] = int(self.value_dim)
        return args

    def _initializers(self):
        out = {}
        for slot in _ATTENTION_SLOTS:
            out[f"{slot}/kernel"] = self.kernel_initializer
            out[f"{slot}/bias"] = self.bias_initializer
        return out

    def _uses_dropout(self):
        return self.dropout > 0


class TransformerEncoder(Layer):
    """One transformer encoder block over samples of shape (steps, features), as
    keras_hub's TransformerEncoder (and PyTorch's TransformerEncoderLayer):

    - ``norm_first=True`` (pre-norm): ``h = x + MHA(LN(x))``, ``y = h + FF(LN(h))``;
    - ``norm_first=False`` (post-norm): ``h = LN(x + MHA(x))``, ``y = LN(h + FF(h))``;

    with MHA a MultiHeadAttention(num_heads, key_dim) back to ``features``, FF two Dense
    layers (``ff_dim`` units with ``activation``, then ``features``), LN
    LayerNormalization(layer_norm_epsilon). ``dropout`` drops the attention weights, the
    attention's output, the feed-forward's hidden units and its output in training (the
    four places PyTorch drops). The block's weights are named "<part>/<weight>" with
    keras_hub's parts: ``self_attention_layer_norm``, ``self_attention`` (``query/kernel``,
    ...), ``feedforward_layer_norm``, ``feedforward_intermediate_dense``,
    ``feedforward_output_dense``.

    Parameters
    ----------
    num_heads : int
    key_dim : int
        Size of each head (``features / num_heads`` in the usual configuration).
    ff_dim : int
        Hidden units of the feed-forward part.
    dropout : float, default=0.0
    norm_first : bool, default=True
    activation : {'relu', 'gelu'}, default='relu'
        PyTorch's and keras_hub's default; 'gelu' is the tanh approximation.
    causal : bool, default=False
        Each step attends to the steps up to its own only.
    layer_norm_epsilon : float, default=1e-5
        keras_hub's and PyTorch's default.
    kernel_initializer : str, default='glorot_uniform'
    bias_initializer : str, default='zeros'

    Examples
    --------
    >>> from fastmlp.layers import TransformerEncoder
    >>> TransformerEncoder(2, 32, 128)
    TransformerEncoder(ff_dim=128, key_dim=32, num_heads=2)
    """

    _input_rank = 2
    _parts = {
        "self_attention": _ATTENTION_SLOTS,
        "feedforward_intermediate_dense": ("",),
        "feedforward_output_dense": ("",),
    }
    _parameter_constraints: dict = {
        "num_heads": [Interval(Integral, 1, None, closed="left")],
        "key_dim": [Interval(Integral, 1, None, closed="left")],
        "ff_dim": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "norm_first": ["boolean"],
        "activation": [StrOptions({"gelu", "relu"})],
        "causal": ["boolean"],
        "layer_norm_epsilon": [Interval(Real, 0, None, closed="neither")],
        "kernel_initializer": _initializer_constraint(),
        "bias_initializer": _initializer_constraint(),
    }

    def __init__(self, num_heads, key_dim, ff_dim, dropout=0.0, norm_first=True,
                 activation="relu", causal=False, layer_norm_epsilon=1e-5,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros"):
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.ff_dim = ff_dim
        self.dropout = dropout
        self.norm_first = norm_first
        self.activation = activation
        self.causal = causal
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _core_args(self):
        return {"num_heads": int(self.num_heads), "key_dim": int(self.key_dim),
                "ff_dim": int(self.ff_dim), "dropout": float(self.dropout),
                "norm_first": bool(self.norm_first), "activation": self.activation,
                "causal": bool(self.causal),
                "layer_norm_epsilon": float(self.layer_norm_epsilon)}

    def _initializers(self):
        out = {}
        for part, slots in self._parts.items():
            for slot in slots:
                prefix = f"{part}/{slot}/" if slot else f"{part}/"
                out[prefix + "kernel"] = self.kernel_initializer
                out[prefix + "bias"] = self.bias_initializer
        return out

    def _uses_dropout(self):
        return self.dropout > 0


class Cropping1D(Layer):
    """Drops steps at the start and the end of (steps, channels), as Keras's Cropping1D.
    ``Cropping1D((steps - 1, 0))`` then ``Flatten()`` reads out the last step.

    Parameters
    ----------
    cropping : int or tuple of 2 ints, default=(1, 1)
        Steps dropped at the start and at the end (an int: both).

    Examples
    --------
    >>> from fastmlp.layers import Cropping1D
    >>> Cropping1D((40, 0))
    Cropping1D(cropping=(40, 0))
    """

    _input_rank = 2
    _parameter_constraints: dict = {
        "cropping": [Interval(Integral, 0, None, closed="left"), tuple, list],
    }

    def __init__(self, cropping=(1, 1)):
        self.cropping = cropping

    def _core_args(self):
        c = self.cropping
        pair = (int(c), int(c)) if isinstance(c, Integral) else tuple(int(v) for v in c)
        return {"cropping": pair}


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
