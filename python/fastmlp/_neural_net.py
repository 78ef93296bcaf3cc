"""The machinery of NeuralNetClassifier and NeuralNetRegressor: a stack of layers
(fastmlp.layers) on the C++ layer engine (``_core.Sequential32/64``), trained by the epoch
loop every fastmlp network shares (``_base.BaseNetwork``).

The estimator keeps one flat float vector: the trainable parameters in the engine's layout
(every decayed slot, then the others), followed by the non-trainable state (BatchNormalization's
moving averages). ``layers_[i].weights`` and ``.states`` are numpy views of it; a user who
replaces them (or unpickling, which copies views) gets them packed back before the next
training or prediction call.

Tested by tests/test_neural_net.py, tests/test_layers.py and tests/test_sklearn_checks.py.
"""

import re

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import _check_sample_weight, validate_data

from . import _callbacks, _core
from ._base import (
    _CHUNK_ROWS,
    _NON_FINITE_MSG,
    _PRECISION_DTYPE,
    BaseNetwork,
    _check_bf16_cpu,
    _physical_memory,
)
from ._output_bounds import outputs_surely_finite
from .layers import Dense, Embedding, Layer, draw_initial

# Prediction and validation passes walk X in chunks whose workspaces stay under this (a
# recurrent layer keeps every step of a pass, attention its score rows).
_CHUNK_BYTES = 256 * 2**20

# The Keras name of each output activation, for the output layer's spec in layers_.
_KERAS_OUTPUT = {"identity": "linear", "softmax": "softmax", "logistic": "sigmoid",
                 "exp": "exponential"}


def _samples_as_rows(X):
    """X with each sample flattened to one row, and the per-sample shape it had.

    Flattening first keeps ``n_features_in_`` the size of a sample whatever the rank X
    comes in, so a model fitted on images predicts on flattened rows and back.
    """
    shape = getattr(X, "shape", None)
    if shape is None:
        X = np.asarray(X)
        shape = X.shape
    if len(shape) > 2:
        return np.reshape(X, (shape[0], -1)), tuple(int(d) for d in shape[1:])
    return X, (tuple(int(d) for d in shape[1:]) if len(shape) == 2 else None)


def _shape_fits(sample, input_shape):
    """Whether samples of shape `sample` can be read as `input_shape`: the same shape,
    flattened, or without the trailing channel axis of 1."""
    size = int(np.prod(input_shape))
    return sample in (
        tuple(input_shape), (size,),
        tuple(input_shape[:-1]) if input_shape[-1] == 1 else None,
    )


def _snake(name):
    """Keras's layer names: Conv1D -> conv1d, BatchNormalization -> batch_normalization."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()


def _check_tokens(layer, X, name="X"):
    """ValueError naming the first value of X that is not a token of `layer` (the first
    layer, an Embedding): X must hold integers in [0, input_dim), in an integer dtype or as
    integral floats. Runs before the core sees X, whose tokens then travel exactly."""
    values = np.asarray(X)
    where = f"layers[0] (Embedding(input_dim={layer.input_dim}))"
    if values.dtype.kind not in "iuf":
        raise ValueError(
            f"{where} takes integer tokens, but {name} has dtype {values.dtype}: pass an "
            "integer array (or floats holding integers)."
        )
    if values.size == 0:
        return
    bad_value = ~((values >= 0) & (values < layer.input_dim))  # NaN is bad too
    if values.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad_value |= np.floor(values) != values
    if not bad_value.any():
        return
    at = np.unravel_index(int(np.argmax(bad_value)), values.shape)
    value = values[at].item()
    position = f"{name}[{', '.join(str(int(i)) for i in at)}]"
    if isinstance(value, float) and not (np.isfinite(value) and value == np.floor(value)):
        why = "is not an integer"
    else:
        why = f"is outside [0, {layer.input_dim})"
    raise ValueError(
        f"{where} takes integer tokens in [0, {layer.input_dim}): {position} = {value!r} {why}."
    )


def _point_views(layers, layout, n_params, flat):
    """Set each FittedLayer's weights and states to views of `flat` (parameters first,
    then the state from offset n_params), as `layout` places them."""
    for fitted, info in zip(layers, layout):
        fitted.weights = {
            name: flat[offset : offset + int(np.prod(shape))].reshape(shape)
            for name, shape, offset in info["params"]
        }
        fitted.states = {
            name: flat[n_params + offset : n_params + offset + int(np.prod(shape))].reshape(shape)
            for name, shape, offset in info["states"]
        }


def _layout_slots(layout):
    """The core's layout as [{'params': [(name, shape, offset)], 'states': [...]}]."""
    return [
        {"params": [(p["name"], tuple(p["shape"]), int(p["offset"])) for p in info["params"]],
         "states": [(s["name"], tuple(s["shape"]), int(s["offset"])) for s in info["states"]]}
        for info in layout
    ]


def _initial_flat(specs, layout, rng):
    """The parameters then the state of a network (float64), drawn layer by layer, slot
    by slot, from `rng`: each layer spec's chosen initializers, else the core's."""
    n_params = sum(int(np.prod(p["shape"])) for i in layout for p in i["params"])
    n_state = sum(int(np.prod(s["shape"])) for i in layout for s in i["states"])
    flat = np.zeros(n_params + n_state)
    for spec, info in zip(specs, layout):
        chosen = spec._initializers()
        for p in info["params"]:
            init = chosen.get(p["name"], p["init"])
            values = spec._draw_initial(p["name"], init, p["shape"], p["fan_in"],
                                        p["fan_out"], rng)
            flat[p["offset"] : p["offset"] + values.size] = values.ravel()
        for s in info["states"]:
            at = n_params + s["offset"]
            values = draw_initial(s["init"], s["shape"], 1, 1, rng)
            flat[at : at + values.size] = values.ravel()
    return flat


def _fitted_layers(specs, layout):
    """FittedLayers (Keras-style names, no weights yet) for the specs of a network."""
    counts, fitted = {}, []
    for spec, info in zip(specs, layout):
        base = _snake(info["kind"])
        k = counts.get(base, 0)
        counts[base] = k + 1
        fitted.append(FittedLayer(
            base if k == 0 else f"{base}_{k}", spec, tuple(info["input_shape"]),
            tuple(info["output_shape"]), {}, {},
        ))
    return fitted


class FittedLayer:
    """A layer of a fitted network (an entry of ``layers_``).

    Attributes
    ----------
    name : str
        Keras-style name: 'conv1d', 'dense_1', ...
    layer : Layer
        The layer's spec (the output layer's is a Dense the estimator added).
    input_shape, output_shape : tuple of int
        Per sample, without the batch axis.
    weights : dict of str to ndarray
        The trainable parameters ('kernel', 'bias', 'gamma', ...), views of the model's
        flat vector: writing into them changes the model.
    states : dict of str to ndarray
        Non-trainable state (BatchNormalization's 'moving_mean', 'moving_variance').
    """

    def __init__(self, name, layer, input_shape, output_shape, weights, states):
        self.name = name
        self.layer = layer
        self.input_shape = input_shape
        self.output_shape = output_shape
        self.weights = weights
        self.states = states

    @property
    def n_params(self):
        """Trainable parameters of the layer."""
        return int(sum(w.size for w in self.weights.values()))

    def get_weights(self):
        """The weights, then the states, as a list of arrays (Keras's order)."""
        return list(self.weights.values()) + list(self.states.values())

    def __repr__(self):
        return (f"FittedLayer({self.name!r}, {self.layer!r}, input_shape={self.input_shape}, "
                f"output_shape={self.output_shape})")


class BaseNeuralNet(BaseNetwork):
    """Base class of the layer-stack estimators.

    Warning: This class should not be used directly. Use derived classes instead.
    """

    _parameter_constraints: dict = {
        **BaseNetwork._parameter_constraints,
        "layers": [list, tuple, None],
        "input_shape": [tuple, list, None],
    }
    _input_checks = {"accept_sparse": False}
    _weights_attribute = "layers_"

    def __init__(
        self,
        layers=None,
        input_shape=None,
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        device="cpu",
        max_grad_norm=None,
        warmup_iters=0,
        early_stopping_metric="score",
        precision=None,
    ):
        self.layers = layers
        self.input_shape = input_shape
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.max_grad_norm = max_grad_norm
        self.warmup_iters = warmup_iters
        self.early_stopping_metric = early_stopping_metric
        self.precision = precision

    # ------------------------------------------------------------------ the stack
    def _user_layers(self):
        """The hidden layers (``layers``, or one Dense(100, 'relu')), checked."""
        layers = [Dense(100, activation="relu")] if self.layers is None else list(self.layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(
                    f"layers[{i}] must be a layer from fastmlp.layers (Dense, Conv1D, ...), "
                    f"got {layer!r}."
                )
            if i > 0 and isinstance(layer, Embedding):
                raise ValueError(
                    f"layers[{i}] (Embedding) reads the integer tokens of X, so it must be the "
                    "first layer."
                )
        return layers

    def _token_layer(self, layers=None):
        """The first layer when it is an Embedding (it reads X's tokens), else None."""
        if layers is None:
            layers = [f.layer for f in self.layers_]
        return layers[0] if layers and isinstance(layers[0], Embedding) else None

    def _core_specs(self, layers, n_outputs):
        """The core's specs of the stack with its output layer."""
        specs = []
        for i, layer in enumerate(layers):
            try:
                specs.append(layer._core_spec())
            except InvalidParameterError as e:
                raise ValueError(f"layers[{i}] ({layer.kind}): {e}") from e
        specs.append({"kind": "Dense", "args": {"units": int(n_outputs)}, "children": []})
        return specs

    def _core_network(self, dtype, rows, specs=None, input_shape=None, out_activation=None,
                      allow_slices=True):
        """The engine for this model (or for the given stack), for chunks of `rows` rows."""
        specs = self._core_layers if specs is None else specs
        input_shape = self.input_shape_ if input_shape is None else input_shape
        out_activation = self.out_activation_ if out_activation is None else out_activation
        cls = _core.Sequential32 if dtype == np.float32 else _core.Sequential64
        precision = "bfloat16" if getattr(self, "precision", None) == "bfloat16" else "native"
        loss = self._core_loss_for(out_activation)
        return cls(specs, list(input_shape), out_activation, loss, int(rows),
                   precision=precision, allow_slices=allow_slices)

    def _core_loss_for(self, out_activation):
        if out_activation == "identity" and getattr(self, "loss", None) in (
            "absolute_error", "huber"
        ):
            return self.loss
        return {"identity": "squared_error", "exp": "poisson", "softmax": "log_loss",
                "logistic": "binary_log_loss"}[out_activation]

    def _resolve_input_shape(self, sample, layers):
        """The per-sample input shape for training samples of shape `sample`."""
        if self.input_shape is not None:
            want = tuple(self.input_shape)
            if not want or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                for d in want
            ):
                raise ValueError(
                    f"input_shape must be a tuple of positive ints, got {self.input_shape!r}."
                )
            want = tuple(int(d) for d in want)
            if not _shape_fits(sample, want):
                raise ValueError(
                    f"X has samples of shape {sample}, but input_shape is {want}: pass X of "
                    f"shape (n_samples, {', '.join(map(str, want))}) or (n_samples, "
                    f"{int(np.prod(want))})."
                )
            return want
        # (n, steps) and (n, height, width) mean one channel for a layer that needs it.
        rank = layers[0]._input_rank if layers else None
        if rank is not None and len(sample) + 1 == rank:
            return sample + (1,)
        return sample

    def _check_sample_shape(self, sample):
        if sample is not None and not _shape_fits(sample, self.input_shape_):
            size = int(np.prod(self.input_shape_))
            raise ValueError(
                f"X has samples of shape {sample}, but the network takes samples of shape "
                f"{self.input_shape_}: pass X of shape (n_samples, "
                f"{', '.join(map(str, self.input_shape_))}) or (n_samples, {size})."
            )

    # ------------------------------------------------------------------ flat vector
    def _set_layer_views(self, flat):
        _point_views(self.layers_, self._layout, self._n_params_total, flat)
        self._flat_params = flat

    def _views_intact(self, flat):
        n_params = self._n_params_total
        base, item = flat.ctypes.data, flat.itemsize
        for fitted, info in zip(self.layers_, self._layout):
            for arrays, slots, shift in ((fitted.weights, info["params"], 0),
                                         (fitted.states, info["states"], n_params)):
                if list(arrays) != [name for name, _, _ in slots]:
                    return False
                for (name, shape, offset), arr in zip(slots, arrays.values()):
                    if not (isinstance(arr, np.ndarray) and arr.dtype == flat.dtype
                            and arr.shape == tuple(shape) and arr.flags.c_contiguous
                            and arr.ctypes.data == base + (shift + offset) * item):
                        return False
        return True

    def _packed_params(self):
        flat = self.__dict__.get("_flat_params")
        if flat is not None and self._views_intact(flat):
            return flat
        dtypes = [np.asarray(a).dtype for f in self.layers_ for a in f.get_weights()]
        dtype = np.float32 if dtypes and all(d == np.float32 for d in dtypes) else np.float64
        flat = np.empty(self._n_params_total + self._n_state_total, dtype=dtype)
        n_params = self._n_params_total
        for i, (fitted, info) in enumerate(zip(self.layers_, self._layout)):
            for arrays, slots, shift, what in ((fitted.weights, info["params"], 0, "weights"),
                                               (fitted.states, info["states"], n_params, "states")):
                for name, shape, offset in slots:
                    arr = np.asarray(arrays.get(name) if isinstance(arrays, dict) else None)
                    if arr.shape != tuple(shape):
                        raise ValueError(
                            f"layers_[{i}].{what}[{name!r}] has shape {arr.shape}; the "
                            f"network needs {tuple(shape)}."
                        )
                    size = int(np.prod(shape))
                    flat[shift + offset : shift + offset + size] = arr.ravel()
        self._set_layer_views(flat)
        return flat

    def _restore_views(self, flat):
        self._set_layer_views(flat)

    def _n_decayed(self):
        return self._n_decayed_total

    def _reconstruction_attributes(self, params=None):
        """What a copy of the estimator needs to predict as of now (or as of `params`),
        for the callbacks (sklearn.callback): copies of the layers and their weights."""
        flat = self._packed_params()
        flat = np.array(flat if params is None else params, dtype=flat.dtype)
        copies = [FittedLayer(f.name, f.layer, f.input_shape, f.output_shape, {}, {})
                  for f in self.layers_]
        _point_views(copies, self._layout, self._n_params_total, flat)
        return {"layers_": copies, "_flat_params": flat}

    # ------------------------------------------------------------------ training
    def _outputs_surely_finite(self, X):
        """True when a bound from the weights proves the outputs on X finite
        (fastmlp/_output_bounds.py)."""
        return outputs_surely_finite(self.layers_, X, self._packed_params().dtype,
                                     self.out_activation_)

    def _drops_units(self):
        return any(layer._uses_dropout() for layer in self._user_layers())

    def _training_network(self, dtype, batch_size, X):
        return self._core_network(dtype, batch_size), self._drops_units()

    def _evaluation_network(self, dtype, rows):
        return self._core_network(dtype, self._chunk_rows(rows, np.dtype(dtype).itemsize))

    def _chunk_rows(self, rows, itemsize):
        """At most `rows`, and few enough that a pass's workspace stays under _CHUNK_BYTES
        (attention keeps 0.6 MB per sequence of 41 tokens: 4,096 would take 2.4 GB)."""
        per_row = self.__dict__.get("_workspace_per_row", 0) * itemsize
        cap = _CHUNK_BYTES // per_row if per_row else rows
        return max(1, min(rows, cap))

    def _initialize(self, layout, dtype, rng, layers, out_activation, n_outputs):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        self.out_activation_ = out_activation
        output = Dense(n_outputs, activation=_KERAS_OUTPUT[out_activation])
        specs = list(layers) + [output]
        self._layout = _layout_slots(layout)
        self._n_params_total = sum(int(np.prod(p["shape"])) for i in layout for p in i["params"])
        self._n_state_total = sum(int(np.prod(s["shape"])) for i in layout for s in i["states"])
        self._n_decayed_total = sum(
            int(np.prod(p["shape"])) for i in layout for p in i["params"] if p["decayed"]
        )
        # Initial values drawn layer by layer, slot by slot, from random_state.
        flat = _initial_flat(specs, layout, rng)
        self.layers_ = _fitted_layers(specs, layout)
        self._set_layer_views(flat.astype(dtype))
        self.n_params_ = self._n_params_total
        self._init_training_state()

    def _check_device(self, layers):
        if self.device == "cuda":
            first = layers[0].kind if layers else "Dense"
            raise ValueError(
                f"device='cuda': the layer engine has no GPU kernels yet, so layer 0 "
                f"({first}) cannot run on the GPU. Use device='cpu', or device='auto' (which "
                "runs on the CPU when a layer has no GPU kernel)."
            )

    def _fit_checked(self, X, y, sample_weight, incremental, validation_data=None):
        self._check_schedule()
        layers = self._user_layers()
        self._check_device(layers)
        first_pass = not hasattr(self, "layers_") or (not self.warm_start and not incremental)
        tokens = self._token_layer(layers)
        if tokens is not None:
            _check_tokens(tokens, X)
        X, sample = _samples_as_rows(X)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        precision = self.precision
        if precision is not None:
            want = _PRECISION_DTYPE[precision]
            if X.dtype != want:
                X = X.astype(want)
            if not first_pass and self._packed_params().dtype != want:
                raise ValueError(
                    f"precision={precision!r} trains {np.dtype(want).name} models; this one "
                    f"is {self._packed_params().dtype}. Fit again without warm_start."
                )
        if precision == "bfloat16":
            _check_bf16_cpu()
        if first_pass:
            input_shape = self._resolve_input_shape(sample, layers)
        else:
            input_shape = self.input_shape_
            self._check_sample_shape(sample)
        n_samples = X.shape[0]
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        class_weights = self._class_weight_table(y, incremental)
        if class_weights is not None:
            cw = self._class_sample_weight(class_weights, y)
            sample_weight = cw if sample_weight is None else sample_weight * cw
        validation = None
        if validation_data is not None:
            validation_data = tuple(validation_data) if isinstance(
                validation_data, (tuple, list)) else validation_data
            if isinstance(validation_data, tuple) and validation_data:
                if tokens is not None:
                    _check_tokens(tokens, validation_data[0], "X_val")
                X_val, val_sample = _samples_as_rows(validation_data[0])
                if val_sample is not None and not _shape_fits(val_sample, input_shape):
                    raise ValueError(
                        f"Invalid validation_data: X_val has samples of shape {val_sample}, "
                        f"the network takes {input_shape}."
                    )
                validation_data = (X_val,) + validation_data[1:]
            X_val, y_val, sw_val = self._check_validation_data(validation_data, y.shape[1])
            if class_weights is not None:
                cw = self._class_sample_weight(class_weights, y_val)
                sw_val = cw if sw_val is None else sw_val * cw
            validation = (X_val, y_val, sw_val)
        rng = check_random_state(self.random_state)
        out_activation = self._output_activation()
        specs = self._core_specs(layers, y.shape[1])
        # One row first: the shapes are checked (ValueError naming the layer) and the
        # memory measured before any workspace or weight is allocated.
        dtype = _PRECISION_DTYPE.get(precision) or (
            X.dtype if first_pass else self._packed_params().dtype)
        probe = self._probe(dtype, specs, input_shape, out_activation, layers)
        layout = probe.layout()
        self._workspace_per_row = probe.workspace_per_row
        if first_pass:
            rows = min(n_samples, 200 if self.batch_size == "auto" else self.batch_size)
            self._check_memory(probe, rows, np.dtype(dtype).itemsize)
            self._initialize(layout, dtype, rng, layers, out_activation, y.shape[1])
            self.input_shape_ = tuple(input_shape)
        elif self._layout_signature(layout) != self._layout_signature_of_model():
            raise ValueError(
                "The fitted network's layers or output size differ from this call's "
                "(layers, input shape or number of outputs changed since the last fit). "
                "Fit again without warm_start."
            )
        self._core_layers = specs
        self.n_outputs_ = y.shape[1]
        dtype = self._packed_params().dtype
        if X.dtype != dtype:
            X = X.astype(dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)
        if validation is not None:
            X_val, y_val, sw_val = validation
            validation = (
                X_val.astype(dtype, copy=False), y_val,
                None if sw_val is None else np.ascontiguousarray(sw_val, dtype=dtype),
            )
        hooks = _callbacks.FitHooks(self, X, y, sample_weight)
        hooks.fit_begin()
        self._fit_stochastic(X, y, sample_weight, rng, incremental, hooks, validation)
        # As MLPClassifier: the weights (a non-finite loss already raised, except with early
        # stopping, where the weights are the best epoch's).
        if not np.isfinite(self._packed_params()).all():
            raise ValueError(_NON_FINITE_MSG)
        hooks.fit_end()
        return self

    def _probe(self, dtype, specs, input_shape, out_activation, layers):
        """The engine with chunks of one row: builds (checks) the stack cheaply."""
        try:
            probe = self._core_network(dtype, 1, specs, input_shape, out_activation,
                                       allow_slices=False)
        except ValueError as e:
            raise ValueError(
                f"The layers do not fit samples of shape {tuple(input_shape)}: {e}"
            ) from e
        last_in = probe.layout()[-1]["input_shape"]
        if len(last_in) != 1:
            last = layers[-1].kind if layers else "input"
            raise ValueError(
                f"The last layer ({last}, layer {len(layers) - 1}) outputs samples of shape "
                f"{tuple(last_in)}, but the output layer needs a flat vector: add Flatten() "
                "or a global pooling layer at the end of `layers`."
            )
        return probe

    @staticmethod
    def _layout_signature(layout):
        return [(info["kind"], tuple(info["output_shape"]),
                 [(p["name"], tuple(p["shape"]), int(p["offset"])) for p in info["params"]],
                 [(s["name"], tuple(s["shape"]), int(s["offset"])) for s in info["states"]])
                for info in layout]

    def _layout_signature_of_model(self):
        return [(f.layer.kind, tuple(f.output_shape), list(info["params"]), list(info["states"]))
                for f, info in zip(self.layers_, self._layout)]

    def _check_memory(self, probe, rows, itemsize):
        """MemoryError when the network cannot possibly fit in this machine's RAM (a lower
        bound: parameters, gradient and optimizer state, one batch of activations)."""
        n_total = probe.n_params + probe.n_state
        needed = (4 * n_total + probe.workspace_per_row * rows) * itemsize
        ram = _physical_memory()
        if ram is not None and needed > ram:
            raise MemoryError(
                f"This network ({probe.n_params} parameters) processing {rows} rows at a "
                f"time needs at least {needed / 2**30:.1f} GiB, more than this machine's "
                f"{ram / 2**30:.1f} GiB. Use smaller layers or batch_size."
            )

    # ------------------------------------------------------------------ predict
    def _forward_pass_fast(self, X, check_input=True):
        """The network's outputs for X (n_samples, n_outputs)."""
        if check_input:
            tokens = self._token_layer() if hasattr(self, "layers_") else None
            if tokens is not None:
                _check_tokens(tokens, X)
            X, sample = _samples_as_rows(X)
            X = validate_data(self, X, reset=False, **self._input_checks)
            self._check_sample_shape(sample)
        flat = self._packed_params()
        dtype = self._predict_dtype(X, flat)
        params = flat if flat.dtype == dtype else flat.astype(dtype)
        out = np.empty((X.shape[0], self.n_outputs_), dtype=dtype)
        if X.shape[0] == 0:
            return out
        if not hasattr(self, "_core_layers"):
            raise ValueError("This model's layers were not restored; fit it again.")
        rows = self._chunk_rows(min(X.shape[0], _CHUNK_ROWS), np.dtype(dtype).itemsize)
        net = self._core_network(dtype, rows, allow_slices=False)
        net.predict(params, np.ascontiguousarray(X, dtype=dtype), out)
        return out

    # ------------------------------------------------------------------ display
    def summary(self, print_fn=None):
        """Print the layers with their output shapes and parameter counts, as Keras's
        ``model.summary()`` does (``print_fn``: a function taking one line; print by
        default)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        print_fn = print if print_fn is None else print_fn
        rows = [(f"{f.name} ({f.layer.kind})", str((None,) + tuple(f.output_shape)),
                 f"{f.n_params + sum(s.size for s in f.states.values()):,}")
                for f in self.layers_]
        w0 = max(28, *(len(r[0]) + 2 for r in rows))
        w1 = max(26, *(len(r[1]) + 2 for r in rows))
        width = w0 + w1 + 12
        print_fn(f'Model: "{type(self).__name__}"')
        print_fn("_" * width)
        print_fn(f"{'Layer (type)':<{w0}}{'Output Shape':<{w1}}{'Param #':>10}")
        print_fn("=" * width)
        for i, (a, b, c) in enumerate(rows):
            print_fn(f"{a:<{w0}}{b:<{w1}}{c:>10}")
            if i + 1 < len(rows):
                print_fn("")
        print_fn("=" * width)
        trainable = self._n_params_total
        print_fn(f"Total params: {trainable + self._n_state_total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {self._n_state_total:,}")
        print_fn("_" * width)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

