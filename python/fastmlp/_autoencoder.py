"""MLPAutoencoder: a scikit-learn transformer that compresses X through a bottleneck, and
with ``variational=True`` a variational autoencoder that also samples.

The network is one stack of the layer engine, trained on X -> X by NeuralNetRegressor's
epoch loop (``regressor_``, a private subclass adding L-BFGS and leaving out the output
layer it would add, since the decoder ends in its own): the encoder
(``hidden_layer_sizes`` Dense layers, or ``layers``), the bottleneck (``Dense(k)``, or for
a VAE ``Dense(2k)`` and a ``Sampling`` layer), and the decoder, the encoder mirrored
(fastmlp/_mirror.py). ``transform`` runs the layers up to the codes, ``inverse_transform``
the rest, each on the C++ engine with the fitted weights.

Tested in tests/test_autoencoder.py (shapes, pipelines, pickling, oracles, mirroring, the
VAE's loss gradient and samples, beats PCA on digits, scikit-learn's estimator checks).
"""

from numbers import Integral, Real

import numpy as np
import scipy.optimize
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from . import _core
from ._base import _CHUNK_ROWS, _PRECISION_DTYPE, BaseMultilayerPerceptron
from ._mirror import mirror
from ._neural_net import _samples_as_rows, _shape_fits
from ._regressor import NeuralNetRegressor
from .layers import Dense, Dropout, Flatten, Layer, Sampling

# Parameters handed unchanged to the network (regressor_).
_FORWARDED = (
    "solver", "alpha", "batch_size", "learning_rate", "learning_rate_init", "power_t",
    "max_iter", "shuffle", "random_state", "tol", "verbose", "momentum",
    "nesterovs_momentum", "early_stopping", "validation_fraction", "beta_1", "beta_2",
    "epsilon", "n_iter_no_change", "max_grad_norm", "warmup_iters", "early_stopping_metric",
    "precision",
)


class _ReconstructionNet(NeuralNetRegressor):
    """NeuralNetRegressor for X -> X whose layers end in the reconstruction (no output
    layer is added), with solver='lbfgs' as MLPRegressor's (SciPy's L-BFGS-B on the
    engine's full-batch loss and gradient)."""

    _parameter_constraints: dict = {
        **NeuralNetRegressor._parameter_constraints,
        "solver": [StrOptions({"lbfgs", "sgd", "adam", "adamw"})],
    }
    _max_fun = 15000  # MLPAutoencoder sets its max_fun on the instance

    def _core_specs(self, layers, n_outputs):
        return super()._core_specs(layers, n_outputs)[:-1]

    def _probe(self, dtype, specs, input_shape, out_activation, layers):
        try:
            probe = self._core_network(dtype, 1, specs, input_shape, out_activation,
                                       allow_slices=False)
        except ValueError as e:
            raise ValueError(
                f"The layers do not fit samples of shape {tuple(input_shape)}: {e}") from e
        return probe

    def _fit_stochastic(self, X, y, sample_weight, rng, incremental, hooks, validation=None):
        if self.solver != "lbfgs":
            return super()._fit_stochastic(X, y, sample_weight, rng, incremental, hooks,
                                           validation)
        if validation is not None:
            raise ValueError(
                "validation_data needs a stochastic solver ('sgd', 'adam' or 'adamw'): it "
                "is evaluated after every epoch; got solver='lbfgs'.")
        if self._drops_units() or any(f.states for f in self.layers_):
            raise ValueError(
                "solver='lbfgs' needs a deterministic network: no Dropout, "
                "BatchNormalization or variational (Sampling) layers.")
        flat = self._packed_params()
        dtype = flat.dtype
        n_params = self._n_params_total
        net = self._core_network(dtype, min(X.shape[0], _CHUNK_ROWS))
        Xc = np.ascontiguousarray(X, dtype=dtype)
        Y = np.ascontiguousarray(y, dtype=dtype)
        grad = np.empty(n_params, dtype=dtype)

        def loss_grad(w):
            flat[:n_params] = w
            loss = net.loss_grad(flat, grad, Xc, Y, sample_weight, float(self.alpha),
                                 training=False)
            return loss, grad.astype(np.float64)

        with threadpool_limits(limits=1, user_api="blas"):
            result = scipy.optimize.minimize(
                loss_grad, flat[:n_params].astype(np.float64), method="L-BFGS-B", jac=True,
                options={"maxfun": self._max_fun, "maxiter": self.max_iter, "gtol": self.tol},
            )
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = float(result.fun)
        flat[:n_params] = result.x


def _is_variational(est):
    return est.variational


class MLPAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Autoencoder: a network trained to reproduce X through a narrow bottleneck; with
    ``variational=True`` a variational autoencoder (VAE) that also draws new samples.

    The network is ``encoder -> bottleneck (n_components) -> decoder``, trained on the
    squared reconstruction error by fastmlp's C++ layer engine. The encoder is
    ``hidden_layer_sizes`` Dense layers with ``activation`` (or the given ``layers``, for
    instance convolutions); the bottleneck a Dense layer of ``n_components`` units with
    ``bottleneck_activation`` (linear by default); the decoder mirrors the encoder (a Dense
    layer per hidden layer in reverse order, then a linear output layer; see ``layers``
    for the other kinds). ``transform`` returns the codes, ``inverse_transform`` decodes
    them. A non-linear counterpart of :class:`sklearn.decomposition.PCA`; scale the
    features first (for example with ``MinMaxScaler`` or ``StandardScaler``).

    With ``variational=True`` (Kingma & Welling, 2014) the encoder outputs a Gaussian,
    mean and log-variance (``Dense(2 * n_components)``), a ``Sampling`` layer draws the
    code ``mean + exp(log_variance / 2) * eps`` in training, and the loss adds ``beta *
    noise_variance_ * KL(N(mean, variance) || N(0, I))`` per sample to half the squared
    error: the evidence lower bound of a Gaussian decoder of variance
    ``noise_variance_`` (probabilistic PCA's estimate at ``n_components``, from X at fit),
    times ``beta`` on the KL term (a beta-VAE). ``transform`` returns the means and
    ``sample(n)`` decodes codes drawn from N(0, I).

    Parameters
    ----------
    n_components : int, default=2
        Number of units in the bottleneck, i.e. of output features of ``transform``.

    hidden_layer_sizes : array-like of shape (n_encoder_layers,), default=(128,)
        Sizes of the encoder's hidden layers, from the input towards the bottleneck.
        The decoder mirrors them. An empty tuple gives a single bottleneck layer.
        Unused when ``layers`` is given.

    activation : str, default='relu'
        Activation of the hidden layers of the encoder and the decoder ('identity',
        'logistic', 'tanh', 'relu', and fastmlp's extra ones); with ``layers``, of the
        decoder's first layer only. The output layer is linear.

    solver : {'lbfgs', 'sgd', 'adam', 'adamw'}, default='adam'
        The solver for weight optimization (see MLPRegressor). 'lbfgs' needs a
        network without Dropout, BatchNormalization or ``variational``.

    alpha : float, default=0.0001
        Strength of the L2 regularization term.

    batch_size : int or 'auto', default='auto'
        Size of minibatches for stochastic optimizers; 'auto' is ``min(200, n_samples)``.

    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine'}, default='constant'
        Learning rate schedule: 'constant', 'invscaling' and 'adaptive' for
        solver='sgd'; 'cosine' (with ``warmup_iters``) for every stochastic solver
        (see MLPRegressor).

    learning_rate_init : float, default=0.002
        Initial learning rate for solver='sgd' or 'adam'.

    power_t : float, default=0.5
        Exponent for the 'invscaling' learning rate.

    max_iter : int, default=300
        Maximum number of epochs (stochastic solvers) or iterations (lbfgs).

    shuffle : bool, default=True
        Whether to shuffle samples in each epoch (stochastic solvers).

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, batch sampling, the early-stopping split, dropout
        and the VAE's noise.

    tol : float, default=1e-4
        Tolerance for the optimization.

    verbose : bool, default=False
        Whether to print progress messages to stdout.

    momentum : float, default=0.9
        Momentum for solver='sgd'.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum (solver='sgd').

    early_stopping : bool, default=False
        Whether to stop when the reconstruction R2 on a held-out
        ``validation_fraction`` of the data stops improving (stochastic solvers).

    validation_fraction : float, default=0.1
        Proportion of the data set aside for early stopping.

    beta_1 : float, default=0.9
        Adam's first-moment decay rate.

    beta_2 : float, default=0.999
        Adam's second-moment decay rate.

    epsilon : float, default=1e-8
        Adam's numerical-stability constant.

    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement before stopping (stochastic solvers).

    max_fun : int, default=15000
        Maximum number of loss evaluations (solver='lbfgs').

    dropout : float or array-like, default=0.0
        Dropout rate after each hidden layer during training: a Dropout layer after each
        encoder layer, the bottleneck and each decoder layer. A sequence gives one rate
        per such layer, ``2 * len(hidden_layer_sizes) + 1``. With ``layers``, put
        Dropout layers in ``layers`` instead (they are mirrored).

    max_grad_norm : float or None, default=None
        Clip each mini-batch gradient to this global L2 norm (see MLPRegressor).

    warmup_iters : int, default=0
        Epochs of linear warmup for learning_rate='cosine' (see MLPRegressor).

    early_stopping_metric : {'score', 'loss'}, default='score'
        What early stopping watches: the validation R2 of the reconstruction, or the
        validation loss (see :class:`MLPRegressor`).

    precision : {None, 'float32', 'float64', 'bfloat16'}, default=None
        The dtype the network trains and transforms in (see :class:`MLPRegressor`):
        None follows X; 'bfloat16' trains float32 weights with bf16 products (CPUs
        with AVX-512 BF16) and transforms in float32.

    bottleneck_activation : str, default='identity'
        Activation of the bottleneck (the codes). Linear codes train best: a non-linear
        bottleneck (the activation of the hidden layers, as fastmlp before 0.2 used)
        limits the codes' range. Ignored by ``variational=True`` (Gaussian codes).

    layers : list of fastmlp.layers.Layer, default=None
        The encoder's layers, replacing ``hidden_layer_sizes``: Dense, Conv1D, Conv2D,
        pooling, Flatten, Dropout, BatchNormalization, Activation. A flat bottleneck
        follows them (after a Flatten when their output is not flat), and the decoder
        mirrors them: Dense -> Dense back to its input size; a convolution of strides s
        -> UpSampling(s) (when s > 1) and a stride-1 convolution back to its input's
        channels, padded so that the size comes back; pooling -> UpSampling(strides);
        Flatten -> Reshape; Dropout, BatchNormalization, Activation -> themselves. The
        mirror of the first Dense or convolution outputs the reconstruction (linear).
        Global pooling and kinds with no mirror raise a ValueError naming the layer, as
        does a 'valid' convolution or pooling whose size cannot come back.

    input_shape : tuple of int, default=None
        The shape of one sample, channels last (for ``layers`` with convolutions, e.g.
        ``(8, 8, 1)``); X may then be flat. None takes it from X at fit, as
        NeuralNetRegressor does. ``inverse_transform`` returns flat samples.

    variational : bool, default=False
        Train a variational autoencoder (see above), which adds ``sample``.

    beta : float, default=1.0
        Weight of the KL term of ``variational=True`` relative to the evidence lower
        bound's (beta-VAE); larger values give smoother codes and blurrier
        reconstructions.

    Attributes
    ----------
    regressor_ : NeuralNetRegressor
        The fitted network, trained on ``X -> X`` (its ``layers_`` hold every layer with
        its weights: encoder, bottleneck, decoder).

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X` has feature names
        that are all strings.

    n_iter_ : int
        Number of iterations the solver ran.

    loss_ : float
        Final training loss: half the mean squared error over features plus the L2
        penalty, plus for a VAE its KL term divided by the number of features.

    loss_curve_ : list of float
        The loss of every epoch (stochastic solvers).

    validation_loss_curve_ : list or None
        The reconstruction loss of the validation set after each epoch (the
        regressor's ``validation_loss_curve_``): the ``validation_data`` given to
        ``fit``, or the early-stopping split; None without a validation set or with
        solver='lbfgs'.

    noise_variance_ : float
        ``variational=True`` only: the decoder's variance, probabilistic PCA's maximum
        likelihood noise variance of X at ``n_components`` (the mean variance PCA
        leaves unexplained).

    kl_weight_ : float
        ``variational=True`` only: ``beta * noise_variance_``, the KL term's weight.

    See Also
    --------
    sklearn.decomposition.PCA : Linear dimensionality reduction.
    NeuralNetRegressor : The engine's regressor the autoencoder is trained with.
    GAN : Another generative model with ``sample``.

    Examples
    --------
    >>> from fastmlp import MLPAutoencoder
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data / 16.0
    >>> ae = MLPAutoencoder(n_components=8, hidden_layer_sizes=(32,), max_iter=50,
    ...                     random_state=0)
    >>> codes = ae.fit_transform(X)
    >>> codes.shape
    (1797, 8)
    >>> ae.inverse_transform(codes).shape
    (1797, 64)
    >>> ae.score(X) > -0.1
    True
    >>> vae = MLPAutoencoder(n_components=4, variational=True, max_iter=20,
    ...                      random_state=0).fit(X)
    >>> vae.sample(5, random_state=0).shape
    (5, 64)
    """

    _parameter_constraints: dict = {
        **{k: BaseMultilayerPerceptron._parameter_constraints[k] for k in _FORWARDED},
        "activation": BaseMultilayerPerceptron._parameter_constraints["activation"],
        "max_fun": BaseMultilayerPerceptron._parameter_constraints["max_fun"],
        "dropout": BaseMultilayerPerceptron._parameter_constraints["dropout"],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "bottleneck_activation": BaseMultilayerPerceptron._parameter_constraints["activation"],
        "layers": [list, tuple, None],
        "input_shape": [tuple, list, None],
        "variational": ["boolean"],
        "beta": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        hidden_layer_sizes=(128,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.002,
        power_t=0.5,
        max_iter=300,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        max_grad_norm=None,
        warmup_iters=0,
        early_stopping_metric="score",
        precision=None,
        bottleneck_activation="identity",
        layers=None,
        input_shape=None,
        variational=False,
        beta=1.0,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
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
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.max_grad_norm = max_grad_norm
        self.warmup_iters = warmup_iters
        self.early_stopping_metric = early_stopping_metric
        self.precision = precision
        self.bottleneck_activation = bottleneck_activation
        self.layers = layers
        self.input_shape = input_shape
        self.variational = variational
        self.beta = beta

    # ------------------------------------------------------------------ the network
    def _dropout_rates(self, n_rates):
        if isinstance(self.dropout, Real):
            return [float(self.dropout)] * n_rates
        rates = np.asarray(self.dropout, dtype=np.float64)
        if rates.ndim != 1 or rates.size != n_rates:
            raise ValueError(
                f"dropout must be a float or a sequence of one rate per hidden layer "
                f"({n_rates}: the encoder's, the bottleneck and the decoder's), got "
                f"{self.dropout!r}.")
        if not np.all((rates >= 0) & (rates < 1)):
            raise ValueError(f"dropout rates must be in [0, 1), got {self.dropout!r}.")
        return [float(r) for r in rates]

    def _encoder(self):
        """The encoder's layers and, per hidden layer, a dropout rate (None: none)."""
        if self.layers is not None:
            layers = list(self.layers)
            for i, layer in enumerate(layers):
                if not isinstance(layer, Layer):
                    raise ValueError(
                        f"layers[{i}] must be a layer from fastmlp.layers (Dense, Conv2D, "
                        f"...), got {layer!r}.")
            if not isinstance(self.dropout, Real) or self.dropout != 0:
                raise ValueError(
                    "dropout applies to the hidden_layer_sizes network; with layers, put "
                    "Dropout layers in layers (the decoder mirrors them).")
            return layers, None
        sizes = [int(h) for h in np.atleast_1d(np.asarray(self.hidden_layer_sizes))]
        if any(h < 1 for h in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {self.hidden_layer_sizes}.")
        rates = self._dropout_rates(2 * len(sizes) + 1)
        return [Dense(h, activation=self.activation) for h in sizes], rates

    def _stack(self, input_shape, dtype, kl_weight=None):
        """(every layer of the network, index of the layer that outputs the codes)."""
        encoder, rates = self._encoder()
        shapes = [tuple(input_shape)]
        if encoder:
            cls = _core.Sequential32 if dtype == np.float32 else _core.Sequential64
            try:
                probe = cls([layer._core_spec() for layer in encoder], list(input_shape),
                            "identity", "squared_error", 1, allow_slices=False)
            except ValueError as e:
                raise ValueError(
                    f"The layers do not fit samples of shape {tuple(input_shape)}: {e}") from e
            shapes += [tuple(info["output_shape"]) for info in probe.layout()]
        if len(shapes[-1]) > 1:
            encoder = encoder + [Flatten()]
            shapes.append((int(np.prod(shapes[-1])),))
        decoder = mirror(encoder, shapes, self.activation)
        k = int(self.n_components)
        if self.variational:
            bottleneck = [Dense(2 * k), Sampling(kl_weight=kl_weight)]
        else:
            bottleneck = [Dense(k, activation=self.bottleneck_activation)]
        if rates is None:
            return encoder + bottleneck + decoder, len(encoder) + len(bottleneck) - 1
        # The hidden_layer_sizes network: a Dropout after each hidden layer (the encoder's,
        # the bottleneck, the decoder's but its output layer) with a rate > 0.
        def drop(rate):
            return [Dropout(rate)] if rate > 0 else []

        n = len(encoder)
        stack = []
        for layer, rate in zip(encoder, rates):
            stack += [layer] + drop(rate)
        stack += bottleneck
        code = len(stack) - 1
        stack += drop(rates[n])
        for layer, rate in zip(decoder[:-1], rates[n + 1:]):
            stack += [layer] + drop(rate)
        return stack + decoder[-1:], code

    def _noise_variance(self, X):
        """Probabilistic PCA's noise variance of X at n_components (Tipping & Bishop)."""
        k = min(int(self.n_components), min(X.shape) - 1)
        if k < 1:
            return float(max(np.var(X, axis=0).mean(), 1e-12))
        var = PCA(n_components=k, random_state=0).fit(X).noise_variance_
        # Where PCA explains everything, a small floor keeps the KL term (and sampling) alive.
        return float(max(var, 1e-3 * np.var(X, axis=0).mean(), 1e-12))

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, validation_data=None):
        """Train the autoencoder to reconstruct X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Training data.

        y : None
            Ignored.

        validation_data : array-like of shape (n_val, n_features), default=None
            Held-out data (stochastic solvers): its reconstruction loss after each
            epoch goes to ``validation_loss_curve_``, and with ``early_stopping=True``
            it replaces the ``validation_fraction`` split.

        Returns
        -------
        self : object
            The fitted autoencoder.
        """
        # All or nothing: a fit that raises leaves the previous model as it was.
        saved = dict(self.__dict__)
        try:
            return self._fit(X, validation_data)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit(self, X, validation_data):
        X, sample = _samples_as_rows(X)
        X = validate_data(self, X, dtype=(np.float64, np.float32))
        if self.solver == "lbfgs":
            self._check_lbfgs()
        dtype = _PRECISION_DTYPE.get(self.precision) or X.dtype
        input_shape = self._input_shape(sample)
        noise_variance = self._noise_variance(X) if self.variational else None
        kl_weight = float(self.beta) * noise_variance if self.variational else None
        layers, code = self._stack(input_shape, dtype, kl_weight)
        regressor = _ReconstructionNet(
            layers, input_shape, **{k: getattr(self, k) for k in _FORWARDED})
        regressor._max_fun = self.max_fun
        if validation_data is not None:
            X_val, _ = _samples_as_rows(validation_data)
            X_val = check_array(X_val, dtype=(np.float64, np.float32),
                                input_name="validation_data")
            validation_data = (X_val, X_val)
        regressor.fit(X, X, validation_data=validation_data)
        self.regressor_ = regressor
        self._code_layer = code
        if self.variational:
            self.noise_variance_, self.kl_weight_ = noise_variance, kl_weight
        self.n_iter_ = regressor.n_iter_
        self.loss_ = regressor.loss_
        self.loss_curve_ = regressor.loss_curve_
        self.validation_loss_curve_ = getattr(regressor, "validation_loss_curve_", None)
        return self

    def _check_lbfgs(self):
        """MLPRegressor's errors for options of the stochastic solvers with lbfgs."""
        used = [name for name, on in (
            ("dropout", np.any(np.asarray(self.dropout, dtype=float) > 0)),
            ("max_grad_norm", self.max_grad_norm is not None),
            ("learning_rate='cosine'", self.learning_rate == "cosine"),
            ("variational=True", self.variational),
        ) if on]
        if used:
            raise ValueError(
                f"{' and '.join(used)} apply to the stochastic solvers ('sgd', 'adam', "
                "'adamw') only, not to solver='lbfgs'.")

    def _input_shape(self, sample):
        """The per-sample shape the network takes (as NeuralNetRegressor resolves it)."""
        if self.input_shape is not None:
            want = tuple(int(d) for d in self.input_shape)
            if not want or min(want) < 1 or not _shape_fits(sample, want):
                raise ValueError(
                    f"X has samples of shape {sample}, but input_shape is "
                    f"{tuple(self.input_shape)}: pass X of shape (n_samples, "
                    f"{', '.join(map(str, want))}) or (n_samples, {int(np.prod(want))}).")
            return want
        rank = self.layers[0]._input_rank if self.layers else None
        if rank is not None and len(sample) + 1 == rank:
            return sample + (1,)
        return sample

    # ------------------------------------------------------------------ encode, decode
    def _run_layers(self, X, start, stop):
        """X through regressor_.layers_[start:stop] on the engine (inference passes)."""
        reg = self.regressor_
        fitted = reg.layers_[start:stop]
        flat = reg._packed_params()
        if self.precision is not None:
            dtype = _PRECISION_DTYPE[self.precision]
        elif X.dtype == np.float32 and flat.dtype == np.float32:
            dtype = np.float32
        else:
            dtype = np.float64
        out = np.empty((X.shape[0], int(np.prod(fitted[-1].output_shape))), dtype=dtype)
        if X.shape[0] == 0:
            return out
        cls = _core.Sequential32 if dtype == np.float32 else _core.Sequential64
        net = cls(reg._core_layers[start:stop], list(fitted[0].input_shape), "identity",
                  "squared_error", min(X.shape[0], _CHUNK_ROWS), allow_slices=False)
        # The slice's parameters and states, copied into its own layout.
        sub = np.empty(net.n_params + net.n_state, dtype=dtype)
        for f, info in zip(fitted, net.layout()):
            for slots, arrays, shift in ((info["params"], f.weights, 0),
                                         (info["states"], f.states, net.n_params)):
                for slot in slots:
                    at = shift + slot["offset"]
                    values = np.asarray(arrays[slot["name"]]).ravel()
                    sub[at : at + values.size] = values
        net.predict(sub, np.ascontiguousarray(X, dtype=dtype), out)
        return out

    def transform(self, X):
        """Encode X into the bottleneck.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
            Data to encode.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            The codes (for a VAE, the means of the encoder's Gaussians).
        """
        check_is_fitted(self)
        X, _ = _samples_as_rows(X)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return self._run_layers(X, 0, self._code_layer + 1)

    def inverse_transform(self, X):
        """Decode bottleneck codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, as returned by ``transform``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            Reconstructed data.
        """
        check_is_fitted(self)
        X = check_array(X, dtype=(np.float64, np.float32))
        if X.ndim != 2 or X.shape[1] != self.n_components:
            raise ValueError(
                f"X has shape {X.shape}; expected (n_samples, {self.n_components}).")
        return self._run_layers(X, self._code_layer + 1, len(self.regressor_.layers_))

    @available_if(_is_variational)
    def sample(self, n_samples=1, random_state=None):
        """Generate new samples: codes drawn from N(0, I), decoded (``variational=True``).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw.

        random_state : int, RandomState instance or None, default=None
            Seeds the codes; None draws different samples at each call.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            The decoded samples.
        """
        check_is_fitted(self)
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}.")
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int64).max,
                                                            dtype=np.int64))
        dtype = self.regressor_._packed_params().dtype
        codes = _core.latent_noise(seed, int(n_samples), int(self.n_components),
                                   np.dtype(dtype).name)
        return self.inverse_transform(codes)

    def score(self, X, y=None):
        """Negative mean squared reconstruction error (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to reconstruct.

        y : None
            Ignored.

        Returns
        -------
        score : float
            ``-mean((X - inverse_transform(transform(X))) ** 2)``.
        """
        X_rec = self.inverse_transform(self.transform(X))
        X, _ = _samples_as_rows(X)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return -float(np.mean((X - X_rec) ** 2))

    @property
    def _n_features_out(self):
        return self.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

