"""GAN: a generative adversarial network as a scikit-learn estimator with ``sample``.

Two networks of the layer engine, a generator and a discriminator, trained alternately by
one C++ epoch loop (``_core.Gan32/Gan64``, csrc/generative/gan.h): the Python layer
validates, standardises X, draws the initial weights, the shuffles and the per-epoch
seeds, and calls one C++ ``train_epoch`` per epoch. ``sample`` runs the generator on
latent noise from the same counter-based generator the training draws from.

Tested by tests/test_gan.py.
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.callback import CallbackSupportMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _callbacks, _core
from ._base import _CHUNK_ROWS, _FORMAT_VERSION, _NON_FINITE_MSG, _PRECISION_DTYPE, _check_bf16_cpu
from ._neural_net import _fitted_layers, _initial_flat, _layout_slots, _point_views
from .layers import Dense, Layer

def _default_generator():
    return [Dense(256, activation="relu"), Dense(256, activation="relu")]


def _default_discriminator():
    return [Dense(256, activation="leaky_relu"), Dense(256, activation="leaky_relu")]


class GAN(CallbackSupportMixin, BaseEstimator):
    """Generative adversarial network: learns to draw new samples like X.

    A generator network maps latent noise ``z ~ N(0, I)`` (``latent_dim`` values) to a
    sample; a discriminator network scores samples as real or generated; the two are
    trained in turn (Goodfellow et al., 2014) by fastmlp's C++ core, whole epochs per call.
    ``sample(n)`` draws new data. With ``y`` at fit the GAN is conditional (Mirza &
    Osindero, 2014): ``sample(n, y=labels)`` draws samples of given classes.

    Stabilisation (each measured on the ring and grid of Gaussians, see
    benchmarks/RESULTS.md):

    - the non-saturating generator loss ``-log D(G(z))`` (Goodfellow et al.);
    - packing (PacGAN, Lin et al., 2018): the discriminator judges ``pack`` samples at
      once, all real or all generated, which penalises a generator that drops modes;
    - Adam with ``beta_1=0.5`` (Radford et al., 2016), separate learning rates for the
      two networks, decayed to 0 by a cosine schedule (``learning_rate='cosine'``);
    - standardised data: the networks see ``(X - mean_) / scale_``; samples come back in
      X's units.

    One training step takes a batch of ``batch_size`` real rows: the generator makes as
    many fakes (for a conditional GAN, one for each real row's label); the discriminator
    takes one Adam step on ``mean softplus(-D(real)) + mean softplus(D(fake))`` (one
    pass over both); then, every ``discriminator_steps`` steps, the generator takes one
    on ``mean softplus(-D(fake))`` through the updated discriminator, on the same fakes.
    An epoch is ``n_samples // batch_size`` steps (the incomplete last batch is left out;
    a new shuffle each epoch).

    Parameters
    ----------
    latent_dim : int, default=8
        Size of the generator's noise input.

    generator_layers : list of fastmlp.layers.Layer, default=None
        The generator's hidden layers; a linear ``Dense(n_features)`` output layer is
        added after them. None means two ``Dense(256, activation='relu')``.

    discriminator_layers : list of fastmlp.layers.Layer, default=None
        The discriminator's hidden layers; a ``Dense(1)`` output (the logit) is added
        after them. Its input is ``pack * (n_features + n_classes)`` values (one-hot
        labels after each sample for a conditional GAN). None means two
        ``Dense(256, activation='leaky_relu')``.

    pack : int, default=2
        Samples the discriminator judges at once (PacGAN); 1 is the plain GAN. On the
        ring and grid of Gaussians 2 measured best (4 left the discriminator unable to
        tell the grid's samples apart).

    solver : {'adam', 'adamw'}, default='adam'
        Optimizer of both networks ('adamw': Adam with decoupled weight decay ``alpha``).

    alpha : float, default=0.0
        L2 penalty of the kernels, as MLPClassifier's (for 'adamw' the decay rate).

    batch_size : int or 'auto', default='auto'
        Real rows per step, rounded down to a multiple of ``pack``; 'auto' is
        ``min(256, n_samples)``.

    generator_learning_rate : float, default=5e-4
        Adam's step size for the generator.

    discriminator_learning_rate : float, default=5e-4
        Adam's step size for the discriminator.

    learning_rate : {'constant', 'cosine'}, default='cosine'
        'cosine' decays both rates to 0 over the ``max_iter`` epochs, step by step: the
        generator settles at the end (on the ring of Gaussians it raised the share of
        samples within 3 sigma of a mode from 52% to 73% in 30 epochs); 'constant'
        keeps them.

    beta_1 : float, default=0.5
        Adam's first-moment decay (0.5 as in DCGAN, rather than 0.9).

    beta_2 : float, default=0.999
        Adam's second-moment decay.

    epsilon : float, default=1e-8
        Adam's epsilon.

    discriminator_steps : int, default=1
        Discriminator steps per generator step.

    max_iter : int, default=200
        Epochs (of ``n_samples // batch_size`` steps). GAN losses do not converge to a
        minimum, so every epoch runs. A GAN needs thousands of steps: on small data sets
        raise it (the 1,797 digits take 300 epochs of batches of 64, 8,400 steps).

    max_grad_norm : float or None, default=None
        Clip each network's mini-batch gradient to this global L2 norm.

    standardize : bool, default=True
        Train on ``(X - mean_) / scale_`` (per feature) and sample back in X's units.

    random_state : int, RandomState instance or None, default=None
        Initial weights, shuffles and the per-epoch noise seeds.

    verbose : bool, default=False
        Print both losses after each epoch.

    precision : {'float32', 'float64', 'bfloat16'} or None, default=None
        None follows X (float32 X trains a float32 model, anything else float64);
        'bfloat16' runs the products in bfloat16 (CPUs with AVX-512 BF16).

    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        The GAN trainer runs on the CPU only: 'cuda' raises a ValueError, 'auto' uses
        the CPU.

    Attributes
    ----------
    generator_layers_ : list of FittedLayer
        The generator's layers, its output layer last, each with its ``weights`` and
        ``states`` as numpy views of the generator's parameter vector.

    discriminator_layers_ : list of FittedLayer
        The discriminator's layers, likewise.

    loss_curve_ : ndarray of shape (n_iter_, 2)
        Per epoch, the mean over its steps of the discriminator loss (column 0) and of
        the generator loss (column 1). At the game's equilibrium (D outputs 1/2) they
        are ``2 log 2 ~ 1.386`` and ``log 2 ~ 0.693``.

    n_iter_ : int
        Epochs run.

    mean_, scale_ : ndarray of shape (n_features_in_,)
        The per-feature mean and standard deviation the networks' data is standardised
        with (0 and 1 with ``standardize=False``; a constant feature has scale 1).

    classes_ : ndarray or None
        The labels of a conditional GAN (``fit(X, y)``); None otherwise.

    class_prior_ : ndarray or None
        The labels' frequencies at fit: ``sample`` draws classes with them when no
        ``y`` is given.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X` has feature names
        that are all strings.

    See Also
    --------
    MLPAutoencoder : ``variational=True`` is a VAE, which also samples.
    sklearn.mixture.GaussianMixture : A density model with ``sample``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import GAN
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(512, 2)) * [1.0, 3.0] + [5.0, -2.0]
    >>> gan = GAN(max_iter=20, random_state=0).fit(X)
    >>> gan.sample(1000, random_state=0).shape
    (1000, 2)
    >>> gan.loss_curve_.shape
    (20, 2)
    """

    # The columns of loss_curve_, as LossCurveDisplay labels them.
    _loss_names = ("discriminator", "generator")

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "generator_layers": [list, tuple, None],
        "discriminator_layers": [list, tuple, None],
        "pack": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"adam", "adamw"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "generator_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "discriminator_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions({"constant", "cosine"})],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "discriminator_steps": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_grad_norm": [None, Interval(Real, 0, None, closed="neither")],
        "standardize": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "precision": [StrOptions({"float32", "float64", "bfloat16"}), None],
        "device": [StrOptions({"cpu", "cuda", "auto"})],
    }

    def __init__(
        self,
        latent_dim=8,
        generator_layers=None,
        discriminator_layers=None,
        *,
        pack=2,
        solver="adam",
        alpha=0.0,
        batch_size="auto",
        generator_learning_rate=5e-4,
        discriminator_learning_rate=5e-4,
        learning_rate="cosine",
        beta_1=0.5,
        beta_2=0.999,
        epsilon=1e-8,
        discriminator_steps=1,
        max_iter=200,
        max_grad_norm=None,
        standardize=True,
        random_state=None,
        verbose=False,
        precision=None,
        device="cpu",
    ):
        self.latent_dim = latent_dim
        self.generator_layers = generator_layers
        self.discriminator_layers = discriminator_layers
        self.pack = pack
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.generator_learning_rate = generator_learning_rate
        self.discriminator_learning_rate = discriminator_learning_rate
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.discriminator_steps = discriminator_steps
        self.max_iter = max_iter
        self.max_grad_norm = max_grad_norm
        self.standardize = standardize
        self.random_state = random_state
        self.verbose = verbose
        self.precision = precision
        self.device = device

    # ------------------------------------------------------------------ networks
    @staticmethod
    def _checked_layers(layers, default, name):
        layers = default() if layers is None else list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(
                    f"{name}[{i}] must be a layer from fastmlp.layers (Dense, Conv1D, ...), "
                    f"got {layer!r}."
                )
        return layers

    @staticmethod
    def _core_specs(layers, name):
        specs = []
        for i, layer in enumerate(layers):
            try:
                specs.append(layer._core_spec())
            except ValueError as e:
                raise ValueError(f"{name}[{i}] ({layer.kind}): {e}") from e
        return specs

    def _networks(self, n_features, n_classes):
        """(generator specs, discriminator specs): the user's layers (or the defaults)
        with the output layers added, as fastmlp.layers objects."""
        gen = self._checked_layers(self.generator_layers, _default_generator, "generator_layers")
        disc = self._checked_layers(
            self.discriminator_layers, _default_discriminator, "discriminator_layers")
        return gen + [Dense(n_features)], disc + [Dense(1)]

    @staticmethod
    def _probe(dtype, specs, inputs, name):
        """The engine for one row: checks the stack's shapes, gives its layout."""
        cls = _core.Sequential32 if dtype == np.float32 else _core.Sequential64
        try:
            return cls(specs, [int(inputs)], "identity", "squared_error", 1, allow_slices=False)
        except ValueError as e:
            raise ValueError(
                f"The {name} layers do not fit their input of {inputs} values: {e}") from e

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the generator and the discriminator on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (no NaN or infinity).

        y : array-like of shape (n_samples,), default=None
            Class labels: a conditional GAN, which ``sample(n, y=...)`` draws from class
            by class. None trains an unconditional GAN.

        Returns
        -------
        self : object
            The fitted GAN.
        """
        self._init_callback_context(task_name="fit",
                                    max_subtasks=_callbacks.max_subtasks(self, False))
        saved = dict(self.__dict__)
        try:
            return self._fit(X, y)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit(self, X, y):
        if self.device == "cuda":
            raise ValueError(
                "device='cuda': the GAN trainer and the layer engine have no GPU kernels, so "
                "the GAN cannot train on the GPU. Use device='cpu', or device='auto' (which "
                "runs on the CPU)."
            )
        X = validate_data(self, X, dtype=(np.float64, np.float32))
        if self.precision is not None:
            X = X.astype(_PRECISION_DTYPE[self.precision], copy=False)
        if self.precision == "bfloat16":
            _check_bf16_cpu()
        dtype = X.dtype
        n_samples, n_features = X.shape
        if y is not None:
            y = column_or_1d(y, warn=True)
            if y.shape[0] != n_samples:
                raise ValueError(
                    f"X has {n_samples} samples but y has {y.shape[0]}: they must match.")
            check_classification_targets(y)
            classes, codes = np.unique(y, return_inverse=True)
            onehot = np.zeros((n_samples, classes.size), dtype=dtype)
            onehot[np.arange(n_samples), codes] = 1
            prior = np.bincount(codes, minlength=classes.size) / n_samples
        else:
            classes = onehot = prior = None
        n_classes = 0 if classes is None else classes.size
        pack = int(self.pack)
        if n_samples < pack:
            raise ValueError(
                f"The GAN needs at least pack={pack} samples (n_samples={n_samples}).")
        batch = min(256, n_samples) if self.batch_size == "auto" else min(
            int(self.batch_size), n_samples)
        batch = max(pack, batch // pack * pack)

        # The networks, checked on one row before anything is drawn or allocated.
        gen, disc = self._networks(n_features, n_classes)
        g_specs = self._core_specs(gen, "generator_layers")
        d_specs = self._core_specs(disc, "discriminator_layers")
        g_probe = self._probe(dtype, g_specs, self.latent_dim + n_classes, "generator")
        d_probe = self._probe(dtype, d_specs, pack * (n_features + n_classes), "discriminator")
        for probe, name in ((g_probe, "generator"), (d_probe, "discriminator")):
            last = probe.layout()[-1]["input_shape"]
            if len(last) != 1:
                raise ValueError(
                    f"The last {name} layer outputs samples of shape {tuple(last)}, but the "
                    "output layer needs a flat vector: add Flatten() at the end of "
                    f"{name}_layers."
                )
        cls = _core.Gan32 if dtype == np.float32 else _core.Gan64
        trainer = cls(g_specs, d_specs, int(self.latent_dim), n_features, n_classes, pack,
                      batch, precision="bfloat16" if self.precision == "bfloat16" else "native")

        if self.standardize:
            mean = X.mean(axis=0, dtype=np.float64)
            scale = X.std(axis=0, dtype=np.float64)
            scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1)] = 1.0
        else:
            mean, scale = np.zeros(n_features), np.ones(n_features)
        Xs = np.ascontiguousarray((X - mean) / scale, dtype=dtype)

        rng = check_random_state(self.random_state)
        g_layout, d_layout = g_probe.layout(), d_probe.layout()
        g_flat = _initial_flat(gen, g_layout, rng).astype(dtype)
        d_flat = _initial_flat(disc, d_layout, rng).astype(dtype)
        self._g_layout, self._d_layout = _layout_slots(g_layout), _layout_slots(d_layout)
        self._g_sizes = (g_probe.n_params, g_probe.n_state)
        self._d_sizes = (d_probe.n_params, d_probe.n_state)
        self.generator_layers_ = _fitted_layers(gen, g_layout)
        self.discriminator_layers_ = _fitted_layers(disc, d_layout)
        self._set_flats(g_flat, d_flat)
        self._g_specs = g_specs
        self.mean_, self.scale_ = mean, scale
        self.classes_, self.class_prior_ = classes, prior
        self._batch = batch
        self.n_iter_ = 0
        self.loss_curve_ = np.empty((0, 2))

        hooks = _callbacks.FitHooks(self, Xs, None, None)
        hooks.fit_begin()
        self._train(trainer, Xs, onehot, rng, hooks)
        hooks.fit_end()
        return self

    def _set_flats(self, g_flat, d_flat):
        """Point the fitted layers' weights at the two flat vectors."""
        self._g_flat, self._d_flat = g_flat, d_flat
        _point_views(self.generator_layers_, self._g_layout, self._g_sizes[0], g_flat)
        _point_views(self.discriminator_layers_, self._d_layout, self._d_sizes[0], d_flat)

    def _train(self, trainer, Xs, onehot, rng, hooks):
        g, d = self._g_flat, self._d_flat
        ng, nd = self._g_sizes[0], self._d_sizes[0]
        moments = [np.zeros(n, dtype=g.dtype) for n in (ng, ng, nd, nd)]
        n_samples = Xs.shape[0]
        steps = n_samples // self._batch
        g_t = d_t = 0
        schedule = dict(
            schedule=self.learning_rate, warmup_steps=0, total_steps=int(self.max_iter) * steps,
            max_grad_norm=0.0 if self.max_grad_norm is None else float(self.max_grad_norm),
        )
        # Ctrl-C keeps the last completed epoch: copies refreshed after each epoch.
        live = [g, d] + moments
        committed = [a.copy() for a in live]
        curve = []
        try:
            for epoch in range(self.max_iter):
                order = rng.permutation(n_samples).astype(np.int64)
                seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
                hooks.epoch_begin()
                d_loss, g_loss, g_t, d_t = trainer.train_epoch(
                    g, d, *moments, g_t, d_t, self.solver,
                    float(self.generator_learning_rate), float(self.discriminator_learning_rate),
                    float(self.beta_1), float(self.beta_2), float(self.epsilon),
                    float(self.alpha), Xs, onehot, order, seed, step=epoch * steps,
                    discriminator_steps=int(self.discriminator_steps), **schedule,
                )
                if not (np.isfinite(d_loss) and np.isfinite(g_loss)
                        and np.isfinite(g).all() and np.isfinite(d).all()):
                    raise ValueError(_NON_FINITE_MSG)
                curve.append((d_loss, g_loss))
                self.n_iter_ = epoch + 1
                self.loss_curve_ = np.array(curve)
                for copy_, a in zip(committed, live):
                    np.copyto(copy_, a)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, discriminator loss = {d_loss:.8f}, "
                          f"generator loss = {g_loss:.8f}")
                if hooks.epoch_end():
                    break
        except KeyboardInterrupt:
            for copy_, a in zip(committed, live):
                np.copyto(a, copy_)
            warnings.warn("Training interrupted by user.")

    # ------------------------------------------------------------------ sample
    def _labels(self, n_samples, y, rng):
        """The codes (class indices) of the samples' classes, or None (unconditional)."""
        if self.classes_ is None:
            if y is not None:
                raise ValueError(
                    "This GAN was fitted without labels (fit(X)): sample takes no y. Fit "
                    "with fit(X, y) for a conditional GAN.")
            return None
        if y is None:
            return rng.choice(self.classes_.size, size=n_samples, p=self.class_prior_)
        y = np.asarray(y)
        y = column_or_1d(np.repeat(y.reshape(1), n_samples) if y.ndim == 0 else y)
        if y.shape[0] != n_samples:
            raise ValueError(
                f"y has {y.shape[0]} labels but n_samples is {n_samples}: pass one label per "
                "sample, or a single label for all of them.")
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        codes = [index.get(v, -1) for v in y.tolist()]
        unseen = sorted({v for v, c in zip(y.tolist(), codes) if c < 0}, key=str)
        if unseen:
            raise ValueError(
                f"y contains labels not seen at fit: {unseen}; this GAN knows the classes "
                f"{self.classes_.tolist()}.")
        return np.asarray(codes, dtype=np.int64)

    def sample(self, n_samples=1, y=None, random_state=None):
        """Generate new samples.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw.

        y : array-like of shape (n_samples,) or a single label, default=None
            For a conditional GAN, the class of each sample (a single label: all of
            them); None draws the classes with their training frequencies. Must be None
            for an unconditional GAN.

        random_state : int, RandomState instance or None, default=None
            Seeds the latent noise (and the classes drawn when y is None); None draws
            different samples at each call.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            The generated samples, in X's units (the model's dtype).
        """
        check_is_fitted(self)
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}.")
        n_samples = int(n_samples)
        rng = check_random_state(random_state)
        codes = self._labels(n_samples, y, rng)
        seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
        g = self._packed_generator()
        dtype = g.dtype
        z = _core.latent_noise(seed, n_samples, int(self.latent_dim), np.dtype(dtype).name)
        if codes is not None:
            onehot = np.zeros((n_samples, self.classes_.size), dtype=dtype)
            onehot[np.arange(n_samples), codes] = 1
            z = np.ascontiguousarray(np.hstack([z, onehot]))
        cls = _core.Sequential32 if dtype == np.float32 else _core.Sequential64
        net = cls(self._g_specs, [z.shape[1]], "identity", "squared_error",
                  min(n_samples, _CHUNK_ROWS), allow_slices=False)
        out = np.empty((n_samples, self.n_features_in_), dtype=dtype)
        net.predict(g, z, out)
        return (out * self.scale_ + self.mean_).astype(dtype, copy=False)

    def _packed_generator(self):
        """The generator's flat vector, with any weights the user replaced packed in."""
        g = self._g_flat
        n_params = self._g_sizes[0]
        for fitted, info in zip(self.generator_layers_, self._g_layout):
            for arrays, slots, shift in ((fitted.weights, info["params"], 0),
                                         (fitted.states, info["states"], n_params)):
                for name, shape, offset in slots:
                    arr = arrays[name]
                    size = int(np.prod(shape))
                    view = g[shift + offset : shift + offset + size]
                    if not np.shares_memory(arr, view):
                        view[:] = np.asarray(arr, dtype=g.dtype).ravel()
                        arrays[name] = view.reshape(shape)
        return g

    # ------------------------------------------------------------------ plumbing
    def _reconstruction_attributes(self, params=None):
        """Copies of the fitted networks as of now, for the callbacks (sklearn.callback)."""
        g, d = self._g_flat.copy(), self._d_flat.copy()
        gen = [copy.copy(f) for f in self.generator_layers_]
        disc = [copy.copy(f) for f in self.discriminator_layers_]
        _point_views(gen, self._g_layout, self._g_sizes[0], g)
        _point_views(disc, self._d_layout, self._d_sizes[0], d)
        return {"generator_layers_": gen, "discriminator_layers_": disc, "_g_flat": g,
                "_d_flat": d}

    def __getstate__(self):
        state = dict(super().__getstate__())
        # The flat vectors carry the weights; the layers' views are re-made on loading.
        for key in ("generator_layers_", "discriminator_layers_"):
            if key in state:
                state[key] = [copy.copy(f) for f in state[key]]
                for f in state[key]:
                    f.weights, f.states = {}, {}
        state["_fastmlp_format_version"] = _FORMAT_VERSION
        return state

    def __setstate__(self, state):
        version = state.get("_fastmlp_format_version", _FORMAT_VERSION)
        if not isinstance(version, int) or version > _FORMAT_VERSION:
            raise ValueError(
                f"This GAN was saved in fastmlp format version {version}, newer than this "
                f"fastmlp understands ({_FORMAT_VERSION}). Upgrade fastmlp to load it.")
        super().__setstate__(state)
        if "_g_flat" in self.__dict__:
            self._set_flats(self._g_flat, self._d_flat)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        return tags
