"""MLPAutoencoder: a scikit-learn transformer that compresses X through an MLP bottleneck.

Built by composition on fastmlp's MLPRegressor trained on X -> X; tested in
tests/test_autoencoder.py (shapes, pipelines, pickling, reconstruction, beats PCA on digits,
scikit-learn's estimator checks).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._base import (
    _CHUNK_ROWS,
    _PRECISION_DTYPE,
    BaseMultilayerPerceptron,
    _core_input,
    _network,
)
from ._regressor import MLPRegressor

# Parameters handed unchanged to the inner MLPRegressor.
_FORWARDED = (
    "activation", "solver", "alpha", "batch_size", "learning_rate", "learning_rate_init",
    "power_t", "max_iter", "shuffle", "random_state", "tol", "verbose", "momentum",
    "nesterovs_momentum", "early_stopping", "validation_fraction", "beta_1", "beta_2",
    "epsilon", "n_iter_no_change", "max_fun", "dropout", "max_grad_norm", "warmup_iters",
    "early_stopping_metric", "precision",
)


class MLPAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Autoencoder: an MLP trained to reproduce X through a narrow bottleneck.

    The network is ``n_features -> hidden_layer_sizes -> n_components ->
    reversed(hidden_layer_sizes) -> n_features``, trained with the squared error by
    fastmlp's :class:`MLPRegressor` on ``X -> X``. ``transform`` returns the
    ``n_components`` bottleneck activations (the codes), ``inverse_transform`` decodes
    codes back to the input space. A non-linear counterpart of
    :class:`sklearn.decomposition.PCA`; scale the features first (for example with
    ``MinMaxScaler`` or ``StandardScaler``).

    The bottleneck uses the same activation as the other hidden layers (``activation``),
    since MLPRegressor applies one activation to every hidden layer; with 'relu' the
    codes are non-negative, with 'identity' the whole model is linear (PCA-like).

    Parameters
    ----------
    n_components : int, default=2
        Number of units in the bottleneck, i.e. of output features of ``transform``.

    hidden_layer_sizes : array-like of shape (n_encoder_layers,), default=(100,)
        Sizes of the encoder's hidden layers, from the input towards the bottleneck.
        The decoder mirrors them. An empty tuple gives a single bottleneck layer.

    activation : str, default='relu'
        Activation of every hidden layer, bottleneck included: any hidden activation
        MLPRegressor takes ('identity', 'logistic', 'tanh', 'relu', and fastmlp's
        extra ones). The output layer is linear.

    solver : {'lbfgs', 'sgd', 'adam', 'adamw'}, default='adam'
        The solver for weight optimization (see MLPRegressor).

    alpha : float, default=0.0001
        Strength of the L2 regularization term.

    batch_size : int or 'auto', default='auto'
        Size of minibatches for stochastic optimizers; 'auto' is ``min(200, n_samples)``.

    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine'}, default='constant'
        Learning rate schedule: 'constant', 'invscaling' and 'adaptive' for
        solver='sgd'; 'cosine' (with ``warmup_iters``) for every stochastic solver
        (see MLPRegressor).

    learning_rate_init : float, default=0.001
        Initial learning rate for solver='sgd' or 'adam'.

    power_t : float, default=0.5
        Exponent for the 'invscaling' learning rate.

    max_iter : int, default=200
        Maximum number of epochs (stochastic solvers) or iterations (lbfgs).

    shuffle : bool, default=True
        Whether to shuffle samples in each epoch (stochastic solvers).

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, batch sampling and the early-stopping split.

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
        Dropout rate of the hidden layers during training (see MLPRegressor). A
        sequence needs one rate per hidden layer of the whole network: the encoder's,
        the bottleneck and the decoder's, ``2 * len(hidden_layer_sizes) + 1``.

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

    Attributes
    ----------
    regressor_ : MLPRegressor
        The fitted network, trained on ``X -> X``.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X` has feature names
        that are all strings.

    n_iter_ : int
        Number of iterations the solver ran.

    loss_ : float
        Final training loss (half the mean squared error plus the L2 penalty).

    validation_loss_curve_ : list or None
        The reconstruction loss of the validation set after each epoch (the
        regressor's ``validation_loss_curve_``): the ``validation_data`` given to
        ``fit``, or the early-stopping split; None without a validation set or with
        solver='lbfgs'.

    See Also
    --------
    sklearn.decomposition.PCA : Linear dimensionality reduction.
    MLPRegressor : The network the autoencoder is trained with.

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
    """

    _parameter_constraints: dict = {
        **{k: BaseMultilayerPerceptron._parameter_constraints[k] for k in _FORWARDED},
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
    }

    def __init__(
        self,
        n_components=2,
        hidden_layer_sizes=(100,),
        activation="relu",
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, validation_data=None):
        """Train the autoencoder to reconstruct X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.

        y : None
            Ignored.

        validation_data : array-like of shape (n_val, n_features), default=None
            Held-out data (solver='sgd' or 'adam'): its reconstruction loss after each
            epoch goes to ``validation_loss_curve_``, and with ``early_stopping=True``
            it replaces the ``validation_fraction`` split.

        Returns
        -------
        self : object
            The fitted autoencoder.
        """
        X = validate_data(self, X, dtype=(np.float64, np.float32))
        encoder = [int(h) for h in np.atleast_1d(np.asarray(self.hidden_layer_sizes))]
        if any(h < 1 for h in encoder):
            raise ValueError(
                f"hidden_layer_sizes must be > 0, got {self.hidden_layer_sizes}."
            )
        self.regressor_ = MLPRegressor(
            hidden_layer_sizes=(*encoder, self.n_components, *encoder[::-1]),
            **{k: getattr(self, k) for k in _FORWARDED},
        )
        # A 2-D target keeps the output 2-D even for a single feature.
        if validation_data is not None:
            X_val = check_array(
                validation_data, accept_sparse=False, dtype=(np.float64, np.float32),
                input_name="validation_data",
            )
            validation_data = (X_val, X_val)
        self.regressor_.fit(X, X, validation_data=validation_data)
        self._n_encoder_layers = len(encoder) + 1
        self.n_iter_ = self.regressor_.n_iter_
        self.loss_ = self.regressor_.loss_
        self.validation_loss_curve_ = getattr(self.regressor_, "validation_loss_curve_", None)
        return self

    def _run_layers(self, X, layers, output_activation):
        """X through the regressor's layers ``layers`` (a contiguous range), by the C++ core.

        The slice's weights and biases are packed into the core's flat layout
        [W_first.ravel(), ..., W_last.ravel(), b_first, ..., b_last] (a copy of the
        encoder or decoder half's parameters, small next to the forward pass).
        """
        reg = self.regressor_
        coefs = [reg.coefs_[i] for i in layers]
        # As MLPRegressor.predict: the precision's dtype, else float32 only when both the
        # data and the model are.
        if self.precision is not None:
            dtype = _PRECISION_DTYPE[self.precision]
        elif X.dtype == np.float32 and coefs[0].dtype == np.float32:
            dtype = np.float32
        else:
            dtype = np.float64
        flat = np.concatenate(
            [W.ravel() for W in coefs] + [reg.intercepts_[i] for i in layers]
        ).astype(dtype, copy=False)
        sizes = [coefs[0].shape[0]] + [W.shape[1] for W in coefs]
        out = np.empty((X.shape[0], sizes[-1]), dtype=dtype)
        if X.shape[0] == 0:
            return out
        net = _network(
            dtype, sizes, self.activation, output_activation, "squared_error",
            min(X.shape[0], _CHUNK_ROWS),
        )
        net.predict(flat, _core_input(X, dtype), out)
        return out

    def transform(self, X):
        """Encode X into the bottleneck.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Bottleneck activations.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return self._run_layers(X, range(self._n_encoder_layers), self.activation)

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
                f"X has shape {X.shape}; expected (n_samples, {self.n_components})."
            )
        n_layers = len(self.regressor_.coefs_)
        return self._run_layers(X, range(self._n_encoder_layers, n_layers), "identity")

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
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return -float(np.mean((X - X_rec) ** 2))

    @property
    def _n_features_out(self):
        return self.n_components
