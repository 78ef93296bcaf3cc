"""Shared machinery of MLPClassifier and MLPRegressor.

Parameters and their validation follow scikit-learn 1.9's BaseMultilayerPerceptron; the
numerical work (forward, backward, whole training epochs, prediction) runs in the C++
core `fastmlp._core`. The weights live in one flat vector in scikit-learn's packing order;
`coefs_` and `intercepts_` are numpy views of it, and a user who replaces them gets them
packed back before the next training or prediction call.

A fit is all or nothing: if it raises (non-finite weights or loss, an exception from
verbose output, MemoryError), the estimator is put back as it was before the call. With
early stopping a diverging fit does not raise: as in scikit-learn, training goes on (NaN
validation scores) and the best validated weights are kept; it raises only where no epoch
validated.

Tested by tests/test_estimators.py, tests/test_sklearn_checks.py, tests/test_parity.py,
tests/test_reliability.py and tests/test_properties.py.
"""

import copy
import math
import os
import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import BaseEstimator, is_classifier
from sklearn.callback import CallbackSupportMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    validate_data,
)
from threadpoolctl import threadpool_limits

from . import _callbacks, _core, _cuda

_STOCHASTIC_SOLVERS = ("sgd", "adam", "adamw")
_ADAM_SOLVERS = ("adam", "adamw")

# Version of the pickled state; a model saved by a newer fastmlp is refused, not misread.
_FORMAT_VERSION = 1

# Prediction and the full-batch gradient walk the data in chunks of this many rows,
# which bounds the activation workspace whatever the data size.
_CHUNK_ROWS = 4096


def _core_input(X, dtype):
    """X as the C++ core takes it: a C-contiguous array, or a CSR tuple with int64 indices.

    This is the one place where input is converted; arrays already in the right form
    pass through without a copy.
    """
    if sp.issparse(X):
        X = X.tocsr()
        return (
            np.ascontiguousarray(X.data, dtype=dtype),
            np.ascontiguousarray(X.indices, dtype=np.int64),
            np.ascontiguousarray(X.indptr, dtype=np.int64),
            X.shape[1],
        )
    return np.ascontiguousarray(X, dtype=dtype)


class _EpochShuffle:
    """scikit-learn's epoch order: rng.shuffle(order) every epoch, the same draws.

    With `in_core` and a RandomState on MT19937 the draws come from a copy of its state in
    C++ (_core.legacy_shuffle: about 20 against 28-35 µs through numpy for 1,797 rows),
    and `close` hands the advanced state back to rng. Callers pass `in_core` only for a
    RandomState of their own: a user's RandomState or numpy's global one may be drawn
    from by other threads during the fit, and handing back a copy would repeat their
    numbers. Other generators, and fits that draw from rng between epochs, shuffle
    through rng itself.
    """

    def __init__(self, rng, in_core=True):
        self._rng = rng
        self._mt = None
        state = rng.get_state() if in_core else None
        if isinstance(state, tuple):  # legacy MT19937 state; a dict for other generators
            self._mt = np.empty(625, dtype=np.uint32)
            self._mt[:624] = state[1]
            self._mt[624] = state[2]
            self._gauss = state[3:]

    def __call__(self, order):
        if self._mt is None:
            self._rng.shuffle(order)
        else:
            _core.legacy_shuffle(order, self._mt)

    def close(self):
        if self._mt is not None:
            self._rng.set_state(("MT19937", self._mt[:624], int(self._mt[624]), *self._gauss))
            self._mt = None


_NON_FINITE_MSG = (
    "Solver produced non-finite parameter weights. The input data may"
    " contain large values and need to be preprocessed."
)


def _physical_memory():
    """Bytes of RAM on this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_fits_in_memory(sizes, rows, itemsize):
    """MemoryError when a network cannot possibly fit in this machine's RAM.

    The estimate is a lower bound (the parameters, the core's gradient buffer and one
    chunk of activations and deltas), compared with total RAM, so nothing that could run
    is refused. Without it a huge request may pass malloc (overcommit) and end in the
    kernel's OOM killer instead of an exception.
    """
    sizes = [int(s) for s in sizes]
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    workspace = rows * (sum(sizes[1:]) + 2 * max(sizes[1:]))
    needed = (2 * n_params + workspace) * itemsize
    ram = _physical_memory()
    if ram is not None and needed > ram:
        raise MemoryError(
            f"A network with layer sizes {sizes} ({n_params} parameters) processing "
            f"{rows} rows at a time needs at least {needed / 2**30:.1f} GiB, more than "
            f"this machine's {ram / 2**30:.1f} GiB. Use smaller hidden_layer_sizes or "
            "batch_size."
        )


def _network(dtype, sizes, hidden, output, loss, chunk_rows, dropout=(), precision=None):
    """The core's network; `dropout` (one rate per hidden layer) applies to training only;
    precision='bfloat16' (float32 only) runs its products in bf16."""
    _check_fits_in_memory(sizes, int(chunk_rows), np.dtype(dtype).itemsize)
    cls = _core.Network32 if dtype == np.float32 else _core.Network64
    core_precision = "bfloat16" if precision == "bfloat16" else "native"
    return cls(list(sizes), hidden, output, loss, int(chunk_rows), dropout=list(dropout),
               precision=core_precision)


# The dtype of the model (and of X in fit) for each value of `precision`; None follows X.
_PRECISION_DTYPE = {"float32": np.float32, "float64": np.float64, "bfloat16": np.float32}


def _check_bf16_cpu():
    """ValueError naming the missing CPU feature where bf16 products cannot run; the
    one-time warning where they run as float32 products because bf16 is not faster here."""
    if not _core.bf16_available():
        raise ValueError(
            "precision='bfloat16' needs a CPU with AVX-512 BF16 (the avx512_bf16 feature: "
            "Intel Cooper Lake or Sapphire Rapids and later, AMD Zen 4 and later); this CPU "
            "does not have it (or FASTMLP_BF16=0 is set). Use precision=None or 'float32' "
            "(the same model in float32), or device='cuda'."
        )
    if _core.bf16_kernel() == "float32":
        _warn_bf16_fallback()


_bf16_fallback_warned = False


def _warn_bf16_fallback():
    """Once per process: bf16 products would be slower than float32 on this CPU (or
    FASTMLP_BF16_KERNEL=float32 says so), so precision='bfloat16' runs float32 products."""
    global _bf16_fallback_warned
    if _bf16_fallback_warned:
        return
    _bf16_fallback_warned = True
    forced = os.environ.get("FASTMLP_BF16_KERNEL", "") == "float32"
    if forced:
        why = "FASTMLP_BF16_KERNEL=float32 is set"
    else:
        cal = _core.bf16_calibration()
        speeds = ", ".join(
            f"{name} {cal['float32_s'] / cal[name + '_s']:.2f}x"
            for name in ("avx512", "amx") if cal[name + "_s"] > 0
        )
        why = (f"bf16 products measured no faster than float32 on this CPU ({speeds} the "
               f"speed of float32; fastmlp uses bf16 from {cal['min_speedup']:.1f}x)")
    warnings.warn(
        f"precision='bfloat16': {why}, so the matrix products run in float32 on unrounded "
        "inputs: the same results and speed as precision='float32'. "
        "FASTMLP_BF16_KERNEL=avx512 or amx forces a bf16 kernel.",
        UserWarning,
    )


class BaseNetwork(CallbackSupportMixin, BaseEstimator, ABC):
    """What every fastmlp network estimator shares: the Python epoch loop.

    Early stopping, scores, the validation loss, verbose lines, callbacks, Ctrl-C, the
    all-or-nothing restore and the convergence warning, around one C++ ``train_epoch``
    call per epoch. A subclass provides the network: its flat parameter vector
    (``_packed_params``), the core objects that train and evaluate it
    (``_training_network``, ``_evaluation_network``) and how many of the parameters the
    L2 penalty covers (``_n_decayed``).

    Warning: This class should not be used directly. Use derived classes instead.
    """

    _parameter_constraints: dict = {
        "solver": [StrOptions({"sgd", "adam", "adamw"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive", "cosine"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "device": [StrOptions({"cpu", "cuda", "auto"})],
        "max_grad_norm": [None, Interval(Real, 0, None, closed="neither")],
        "warmup_iters": [Interval(Integral, 0, None, closed="left")],
        "early_stopping_metric": [StrOptions({"score", "loss"})],
        "precision": [StrOptions({"float32", "float64", "bfloat16"}), None],
    }

    # validate_data's options for X: the MLPs take sparse X, the layer engine n-d arrays.
    _input_checks: dict = {"accept_sparse": ["csr", "csc"]}
    # The fitted attribute that holds the weights (its presence means "fitted").
    _weights_attribute = "coefs_"

    # ------------------------------------------------------------------ the network
    @abstractmethod
    def _packed_params(self):
        """The flat vector the core trains (refreshed from the fitted attributes)."""

    @abstractmethod
    def _restore_views(self, flat):
        """Point the fitted attributes at `flat` again (after a failed fit)."""

    @abstractmethod
    def _training_network(self, dtype, batch_size, X):
        """(core network with train_epoch and predict, whether it drops units) for a fit."""

    @abstractmethod
    def _evaluation_network(self, dtype, rows):
        """A core network with mean_loss and predict, for chunks of `rows` rows."""

    @abstractmethod
    def _n_decayed(self):
        """How many leading entries of the flat vector the L2 penalty covers."""

    def _outputs_surely_finite(self, X):
        """True when the outputs on X provably stay finite (spares a check's pass)."""
        return False

    def _init_training_state(self):
        """The curves and early-stopping records of a cold stochastic fit."""
        self._optimizer = None
        self._best_params = None
        self.loss_curve_ = []
        self._no_improvement_count = 0
        # A list from the first fit that has a validation set (_fit_stochastic).
        self.validation_loss_curve_ = None
        self.best_validation_loss_ = None
        if self.early_stopping and self.early_stopping_metric == "loss":
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_validation_loss_ = np.inf
            self.best_loss_ = None
        elif self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _check_schedule(self):
        """The checks of learning_rate='cosine' and warmup_iters that span parameters."""
        if self.warmup_iters and self.learning_rate != "cosine":
            raise ValueError(
                f"warmup_iters={self.warmup_iters} applies to learning_rate='cosine' only, "
                f"got learning_rate={self.learning_rate!r}."
            )
        if self.learning_rate == "cosine" and self.warmup_iters >= self.max_iter:
            raise ValueError(
                f"warmup_iters ({self.warmup_iters}) must be smaller than max_iter "
                f"({self.max_iter}) with learning_rate='cosine'."
            )

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_flat_params", None)  # the fitted weights (its views) carry it
        state["_fastmlp_format_version"] = _FORMAT_VERSION
        return state

    def __setstate__(self, state):
        version = state.get("_fastmlp_format_version", _FORMAT_VERSION)
        if not isinstance(version, int) or version > _FORMAT_VERSION:
            raise ValueError(
                f"This {type(self).__name__} was saved in fastmlp format version "
                f"{version}, newer than this fastmlp understands ({_FORMAT_VERSION}). "
                "Upgrade fastmlp to load it."
            )
        super().__setstate__(state)

    def _predict_dtype(self, X, flat):
        """As scikit-learn: float32 only when both the data and the model are float32;
        a precision computes in its dtype (bfloat16: float32, from the master weights)."""
        precision = getattr(self, "precision", None)
        if precision is not None:
            return _PRECISION_DTYPE[precision]
        if X.dtype == np.float32 and flat.dtype == np.float32:
            return np.float32
        return np.float64

    def _output_activation(self):
        """The output layer's activation, as scikit-learn's MLPs choose it."""
        if not is_classifier(self):
            return "exp" if self.loss == "poisson" else "identity"
        if self._label_type == "multiclass":
            return "softmax"
        return "logistic"

    def _core_loss(self):
        """The C++ loss paired with out_activation_ (canonical link), or the regressor's
        non-canonical absolute_error/huber (identity output)."""
        if self.out_activation_ == "identity" and getattr(self, "loss", None) in (
            "absolute_error", "huber"
        ):
            return self.loss
        return {
            "identity": "squared_error",
            "exp": "poisson",
            "softmax": "log_loss",
            "logistic": "binary_log_loss",
        }[self.out_activation_]

    def _fit(self, X, y, sample_weight=None, incremental=False, validation_data=None):
        # All or nothing: training updates the weights and optimizer state in place, so a
        # fit that raises (divergence, an exception from verbose output, MemoryError)
        # puts back the state it started from rather than leave a half-updated model.
        # A cold fit thus leaves the previous model, or an unfitted estimator.
        # The callback context comes first: a failed fit keeps it, and _fit_context's
        # teardown of the callbacks (sklearn.callback) needs it.
        self._init_callback_context(
            task_name="partial_fit" if incremental else "fit",
            max_subtasks=_callbacks.max_subtasks(self, incremental),
        )
        saved, continuing = self._state_before_fit(incremental)
        try:
            return self._fit_checked(X, y, sample_weight, incremental, validation_data)
        except BaseException:
            self._restore_state(saved, continuing)
            raise

    def _state_before_fit(self, incremental):
        """A shallow copy of the attributes, with copies of what training changes in place.

        A cold fit replaces every fitted attribute, so the shallow copy is enough; a
        continuation (warm_start, partial_fit) updates the weights, the optimizer state
        and the curves in place, so those are copied.
        """
        continuing = self._weights_attribute in self.__dict__ and (
            self.warm_start or incremental
        )
        if not continuing:
            return dict(self.__dict__), False
        flat = self._packed_params()  # first, so that the fitted weights are views of flat
        state = dict(self.__dict__)
        state["_flat_params"] = flat.copy()
        state["_optimizer"] = copy.deepcopy(state.get("_optimizer"))
        for key in ("loss_curve_", "validation_scores_", "validation_loss_curve_"):
            if isinstance(state.get(key), list):
                state[key] = list(state[key])
        return state, True

    def _restore_state(self, state, continuing):
        self.__dict__.clear()
        self.__dict__.update(state)
        if continuing:
            # The fitted weights are views of those the failed fit changed: re-point them.
            self._restore_views(state["_flat_params"])

    def _class_weight_table(self, y, incremental):
        """Per-output (classes, weights) from class_weight; None without class weights.

        Only classifiers have class weights (MLPClassifier overrides this).
        """
        return None

    def _check_validation_data(self, validation_data, n_outputs):
        """fit's validation_data as (X_val, y_val (n_val, n_outputs), sw_val or None).

        Checked as fit checks X, y and sample_weight: the same features (count and
        names) as X, targets the model can take (for a classifier, only classes seen in
        training), consistent lengths. y_val comes back in the network's encoding.
        """
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be a tuple (X_val, y_val) or (X_val, y_val, "
                f"sample_weight_val); got {type(validation_data).__name__}"
                + (f" of length {len(validation_data)}." if isinstance(
                    validation_data, (tuple, list)) else ".")
            )
        X_val, y_val = validation_data[0], validation_data[1]
        sw_val = validation_data[2] if len(validation_data) == 3 else None
        try:
            X_val = validate_data(
                self, X_val, dtype=(np.float64, np.float32), reset=False, **self._input_checks
            )
            y_val = self._validation_targets(y_val, n_outputs)
            check_consistent_length(X_val, y_val)
            if sw_val is not None:
                sw_val = _check_sample_weight(sw_val, X_val)
        except ValueError as e:
            raise ValueError(f"Invalid validation_data: {e}") from e
        return X_val, y_val, sw_val

    def _validation_loss(self, net, flat, X_val, Y_val, sw_val, penalty_scale):
        """Validation loss after an epoch: the mean data loss of the validation set (C++
        core, one call) plus the L2 term a training epoch's loss carries (none for adamw,
        whose decay is no penalty term)."""
        data = net.mean_loss(flat, X_val, Y_val, sw_val)
        if self.solver == "adamw":
            return data
        w = flat[: self._n_decayed()]
        sq = float(np.dot(w, w)) if w.dtype == np.float64 else float(
            np.dot(w.astype(np.float64), w.astype(np.float64)))
        return data + 0.5 * float(self.alpha) * sq * penalty_scale

    def _new_optimizer(self, n_params, dtype):
        """Optimizer state as plain values and arrays, so pickles hold nothing else.

        "step" counts the mini-batch steps taken, the position of learning_rate='cosine'.
        """
        if self.solver == "sgd":
            return {
                "solver": "sgd",
                "step": 0,
                "learning_rate_init": float(self.learning_rate_init),
                "learning_rate": float(self.learning_rate_init),
                "lr_schedule": self.learning_rate,
                "momentum": float(self.momentum),
                "nesterov": bool(self.nesterovs_momentum),
                "power_t": float(self.power_t),
                "velocity": np.zeros(n_params, dtype=dtype),
            }
        return {
            "solver": self.solver,
            "step": 0,
            "learning_rate_init": float(self.learning_rate_init),
            "beta_1": float(self.beta_1),
            "beta_2": float(self.beta_2),
            "epsilon": float(self.epsilon),
            "t": 0,
            "m": np.zeros(n_params, dtype=dtype),
            "v": np.zeros(n_params, dtype=dtype),
        }

    def _fit_stochastic(
        self, X, y, sample_weight, rng, incremental, hooks=_callbacks.NO_HOOKS,
        validation=None,
    ):
        flat = self._packed_params()
        dtype = flat.dtype
        opt = self.__dict__.get("_optimizer")
        if not incremental or opt is None or opt["solver"] not in _STOCHASTIC_SOLVERS:
            opt = self._optimizer = self._new_optimizer(flat.size, dtype)

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if validation is not None:
            # The user's validation set: training keeps all of X.
            X_train, y_train, sw_train = X, y, sample_weight
            X_val, y_val, sw_val = validation
        elif early_stopping:
            # Stratify only single-output classification, as scikit-learn does.
            stratify = y if (is_classifier(self) and self.n_outputs_ == 1) else None
            arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
            split = train_test_split(
                *arrays,
                random_state=rng,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            X_train, X_val, y_train, y_val = split[:4]
            sw_train, sw_val = (None, None) if sample_weight is None else split[4:]
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
        else:
            X_train, y_train, sw_train = X, y, sample_weight
            X_val = y_val = sw_val = None
        # The validation loss is tracked whenever there is a validation set: the
        # network's encoding of y_val for the loss, the user's labels for the score.
        track_val_loss = X_val is not None
        if track_val_loss:
            Y_val_net = np.ascontiguousarray(y_val, dtype=dtype)
            if is_classifier(self):
                y_val = self._inverse_binarize(y_val)
        metric_loss = early_stopping and self.early_stopping_metric == "loss"

        n_samples = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        net, dropping = self._training_network(dtype, batch_size, X_train)
        # Steps per epoch, and what the cosine schedule spans: max_iter epochs of them.
        n_batches = -(-n_samples // batch_size)
        extras = dict(
            schedule="cosine" if self.learning_rate == "cosine" else "constant",
            warmup_steps=int(self.warmup_iters) * n_batches,
            total_steps=int(self.max_iter) * n_batches,
            max_grad_norm=0.0 if self.max_grad_norm is None else float(self.max_grad_norm),
        )
        Xc = _core_input(X_train, dtype)
        Y = np.ascontiguousarray(y_train, dtype=dtype)
        if track_val_loss:
            val_net = self._evaluation_network(dtype, min(X_val.shape[0], _CHUNK_ROWS))
            Xc_val = _core_input(X_val, dtype)
            # The L2 term of an epoch's loss: 0.5 alpha ||W||^2 / batch length per batch,
            # averaged over batches weighted by their length.
            penalty_scale = math.ceil(n_samples / batch_size) / n_samples
            if self.__dict__.get("validation_loss_curve_") is None:
                self.validation_loss_curve_ = []
            if metric_loss and self.__dict__.get("best_validation_loss_") is None:
                self.best_validation_loss_ = np.inf
        sample_idx = np.arange(n_samples, dtype=np.int64)
        # rng is this fit's own for an int random_state (check_random_state); dropout draws
        # its masks' seed from rng after each shuffle, so rng must stay current there.
        shuffle = _EpochShuffle(rng, in_core=self.shuffle and not dropping
                                and isinstance(self.random_state, Integral))
        is_adam = opt["solver"] in _ADAM_SOLVERS
        state_a = opt["m"] if is_adam else opt["velocity"]
        state_b = opt["v"] if is_adam else opt["velocity"]
        alpha = float(self.alpha)
        # Ctrl-C stops train_epoch mid-epoch; the model keeps the last completed epoch, so
        # that its weights, optimizer state, n_iter_ and loss_curve_ agree: train_epoch
        # first copies the weights and optimizer state into `committed`, which are put
        # back if the epoch is interrupted before it is recorded.
        live = (flat, state_a) if state_b is state_a else (flat, state_a, state_b)
        committed = [np.empty_like(a) for a in live]
        recording = False  # between an epoch's start and its entry in loss_curve_

        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    # sklearn.utils.shuffle's draws, rng.shuffle(arange(n)), composed with
                    # the last order: the same swaps applied to the order itself.
                    shuffle(sample_idx)
                # The dropout masks' seed comes after scikit-learn's draws and only with
                # dropout, so that without it the random stream is scikit-learn's.
                seed = int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64)) if dropping else 0
                hooks.epoch_begin()
                recording = True
                loss, t = net.train_epoch(
                    flat, state_a, state_b, opt.get("t", 0), opt["solver"],
                    opt["learning_rate_init"] if is_adam else opt["learning_rate"],
                    opt.get("momentum", 0.0), opt.get("nesterov", False),
                    opt.get("beta_1", 0.9), opt.get("beta_2", 0.999),
                    opt.get("epsilon", 1e-8),
                    Xc, Y, sw_train, sample_idx if self.shuffle else None,
                    batch_size, alpha, step=opt.get("step", 0), dropout_seed=seed,
                    commit=committed, **extras,
                )
                if not np.isfinite(loss) and not early_stopping:
                    # Diverged: no later epoch recovers; _fit restores the previous state.
                    # With early stopping scikit-learn trains on and keeps the best
                    # validated weights: a NaN score is never the best (nor, by its rule's
                    # comparisons, a reason to stop), a NaN validation loss never improves.
                    raise ValueError(_NON_FINITE_MSG)
                if track_val_loss:
                    val_loss = self._validation_loss(
                        val_net, flat, Xc_val, Y_val_net, sw_val, penalty_scale
                    )
                if is_adam:
                    opt["t"] = t
                opt["step"] = opt.get("step", 0) + n_batches
                self.n_iter_ += 1
                self.loss_ = loss
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                recording = False
                if track_val_loss:
                    self.validation_loss_curve_.append(val_loss)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                    # Not in scikit-learn's own case (score on the split): its output
                    # stays exactly scikit-learn's.
                    if track_val_loss and (validation is not None or metric_loss):
                        print("Validation loss: %.8f" % val_loss)

                self._update_no_improvement_count(early_stopping, X_val, y_val, sw_val)
                if hooks.epoch_end():
                    break  # a callback (sklearn.callback) asked to stop
                if not is_adam and opt["lr_schedule"] == "invscaling":
                    opt["learning_rate"] = (
                        opt["learning_rate_init"] / (self.t_ + 1) ** opt["power_t"]
                    )

                if self._no_improvement_count > self.n_iter_no_change:
                    if metric_loss:
                        msg = (
                            "Validation loss did not improve more than "
                            "tol=%f for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )
                    elif early_stopping:
                        msg = (
                            "Validation score did not improve more than "
                            "tol=%f for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than tol=%f"
                            " for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )
                    if self._trigger_stopping(opt, msg):
                        break
                    self._no_improvement_count = 0

                if incremental:
                    break

                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) "
                        "reached and the optimization hasn't converged yet."
                        % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            if recording:
                for copy_, a in zip(committed, live):
                    np.copyto(a, copy_)
            warnings.warn("Training interrupted by user.")
        finally:
            shuffle.close()

        if early_stopping and self._best_params is not None:
            flat[:] = self._best_params
        # Where no epoch ever validated (the first one diverged), scikit-learn would hand
        # back the random initial weights as if trained; the weight check in _fit_checked
        # raises instead (or the output check below does).

        # The epoch losses are taken before each step, so a last step that blows the
        # weights up (finite, but outputs overflow) goes unseen: one forward pass over the
        # training data, a third of an epoch's work, catches it. partial_fit skips it
        # (it would cost a third of each call); its next call sees the loss.
        # A norm bound usually proves the outputs finite and spares that pass.
        if not incremental and not self._outputs_surely_finite(X_train):
            out = np.empty((n_samples, self.n_outputs_), dtype=dtype)
            net.predict(flat, Xc, out)
            if not np.isfinite(out).all():
                raise ValueError(_NON_FINITE_MSG)

    def _trigger_stopping(self, opt, msg):
        """scikit-learn's optimizer.trigger_stopping: True when training should stop."""
        if opt["solver"] in _ADAM_SOLVERS or opt["lr_schedule"] != "adaptive":
            if self.verbose:
                print(msg + " Stopping.")
            return True
        if opt["learning_rate"] <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        opt["learning_rate"] /= 5.0
        if self.verbose:
            print(msg + " Setting learning rate to %f" % opt["learning_rate"])
        return False

    def _update_no_improvement_count(self, early_stopping, X, y, sample_weight):
        if early_stopping and self.early_stopping_metric == "loss":
            # The training-loss rule applied to the validation loss; NaN never improves.
            last = self.validation_loss_curve_[-1]
            if last <= self.best_validation_loss_ - self.tol:
                self._no_improvement_count = 0
            else:
                self._no_improvement_count += 1
            if last < self.best_validation_loss_:
                self.best_validation_loss_ = last
                self._best_params = self._packed_params().copy()
        elif early_stopping:
            val_score = self._score(X, y, sample_weight=sample_weight)
            self.validation_scores_.append(val_score)
            if self.verbose:
                print("Validation score: %f" % self.validation_scores_[-1])
            last_valid_score = self.validation_scores_[-1]
            if last_valid_score < (self.best_validation_score_ + self.tol):
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last_valid_score > self.best_validation_score_:
                self.best_validation_score_ = last_valid_score
                self._best_params = self._packed_params().copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _score_with_function(self, X, y, sample_weight, score_function):
        """Score without input validation (which would drop feature names)."""
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver
            )
        return True


class BaseMultilayerPerceptron(BaseNetwork):
    """Base class for MLP classification and regression.

    Warning: This class should not be used directly. Use derived classes instead.
    """

    _parameter_constraints: dict = {
        **BaseNetwork._parameter_constraints,
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [
            StrOptions({"identity", "logistic", "tanh", "relu",
                        "leaky_relu", "gelu", "silu", "elu", "softplus"})
        ],
        "solver": [StrOptions({"lbfgs", "sgd", "adam", "adamw"})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        loss,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
        dropout=0.0,
        max_grad_norm=None,
        warmup_iters=0,
    ):
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
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
        self.max_fun = max_fun
        self.dropout = dropout
        self.max_grad_norm = max_grad_norm
        self.warmup_iters = warmup_iters

    # ------------------------------------------------------------------ parameters
    def _layer_units(self):
        return [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]

    def _packed_params(self):
        """The flat parameter vector behind coefs_ and intercepts_.

        If a user assigned new arrays (or the model was unpickled, which copies views),
        they are packed into a fresh vector and coefs_/intercepts_ become views of it.
        """
        flat = self.__dict__.get("_flat_params")
        if flat is not None and self._are_views_of(flat):
            return flat
        coefs, intercepts = list(self.coefs_), list(self.intercepts_)
        if len(coefs) != len(intercepts) or not coefs:
            raise ValueError(
                "coefs_ and intercepts_ must be non-empty lists of the same length, got "
                f"{len(coefs)} and {len(intercepts)}."
            )
        units = [np.shape(coefs[0])[0]] + [np.shape(c)[1] for c in coefs]
        for i, (c, b) in enumerate(zip(coefs, intercepts)):
            if np.shape(c) != (units[i], units[i + 1]) or np.shape(b) != (units[i + 1],):
                raise ValueError(
                    f"coefs_[{i}] has shape {np.shape(c)} and intercepts_[{i}] has shape "
                    f"{np.shape(b)}; expected {(units[i], units[i + 1])} and "
                    f"{(units[i + 1],)} for consecutive layers."
                )
        dtype = np.result_type(*coefs, *intercepts)
        dtype = np.float32 if dtype == np.float32 else np.float64
        flat = np.concatenate(
            [np.asarray(a, dtype=dtype).ravel() for a in coefs + intercepts]
        )
        self._set_views(flat, units)
        return flat

    def _set_views(self, flat, units):
        self._flat_params = flat
        coefs, intercepts, start = [], [], 0
        for fan_in, fan_out in zip(units[:-1], units[1:]):
            coefs.append(flat[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
            start += fan_in * fan_out
        for fan_out in units[1:]:
            intercepts.append(flat[start : start + fan_out])
            start += fan_out
        self.coefs_, self.intercepts_ = coefs, intercepts

    def _are_views_of(self, flat):
        base = flat.ctypes.data
        start = 0
        try:
            units = self._layer_units()
        except (AttributeError, IndexError, TypeError):
            return False
        expected = []
        for fan_in, fan_out in zip(units[:-1], units[1:]):
            expected.append((start, (fan_in, fan_out)))
            start += fan_in * fan_out
        offsets_b = []
        for fan_out in units[1:]:
            offsets_b.append((start, (fan_out,)))
            start += fan_out
        if start != flat.size or len(self.intercepts_) != len(self.coefs_):
            return False
        for arr, (offset, shape) in zip(
            list(self.coefs_) + list(self.intercepts_), expected + offsets_b
        ):
            if not (
                isinstance(arr, np.ndarray)
                and arr.dtype == flat.dtype
                and arr.shape == shape
                and arr.flags.c_contiguous
                and arr.ctypes.data == base + offset * flat.itemsize
            ):
                return False
        return True

    def _restore_views(self, flat):
        self._set_views(flat, self._layer_units())

    def _n_decayed(self):
        return sum(c.size for c in self.coefs_)

    def _reconstruction_attributes(self, params=None):
        """What a copy of the estimator needs to predict as of now (or as of `params`),
        for the callbacks (sklearn.callback)."""
        if params is None:
            coefs = [np.array(c) for c in self.coefs_]
            intercepts = [np.array(b) for b in self.intercepts_]
        else:
            dtype = self._packed_params().dtype
            coefs, intercepts = _callbacks.unflatten(
                np.asarray(params, dtype=dtype), self._layer_units()
            )
        return {"coefs_": coefs, "intercepts_": intercepts}

    def _training_network(self, dtype, batch_size, X):
        units = self._layer_units()
        dropout = self._dropout_rates(len(units) - 2)
        dropping = any(dropout)
        if _cuda.fit_device(self, X) == "cuda":
            net = _cuda.DeviceTrainer(
                units, self.activation, self.out_activation_, self._core_loss(), batch_size,
                dropout if dropping else (),
                "bf16" if getattr(self, "precision", None) == "bfloat16" else "float32",
            )
        else:
            net = _network(
                dtype, units, self.activation, self.out_activation_, self._core_loss(),
                batch_size, dropout if dropping else (), getattr(self, "precision", None),
            )
        return net, dropping

    def _evaluation_network(self, dtype, rows):
        # Always on the CPU (device='cuda' mirrors the weights to the host each epoch).
        return _network(
            dtype, self._layer_units(), self.activation, self.out_activation_,
            self._core_loss(), rows,
        )

    # ------------------------------------------------------------------ forward
    def _forward_pass_fast(self, X, check_input=True):
        """Output-layer activations for X (n_samples, n_outputs)."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        flat = self._packed_params()
        dtype = self._predict_dtype(X, flat)
        params = flat if flat.dtype == dtype else flat.astype(dtype)
        units = self._layer_units()
        if _cuda.predict_on_device(self, X, flat):
            out = _cuda.predict(
                units, self.activation, self.out_activation_, self._core_loss(), flat, X
            )
            return out.astype(dtype, copy=False)
        out = np.empty((X.shape[0], units[-1]), dtype=dtype)
        if X.shape[0] == 0:
            return out
        net = _network(
            dtype, units, self.activation, self.out_activation_, self._core_loss(),
            min(X.shape[0], _CHUNK_ROWS),
        )
        net.predict(params, _core_input(X, dtype), out)
        return out

    # ------------------------------------------------------------------ fit
    def _initialize(self, y, layer_units, dtype, rng):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()

        # Glorot-uniform, drawn exactly as scikit-learn draws it (same generator calls in
        # the same order), so a random_state gives scikit-learn's initial weights. The
        # activations beyond scikit-learn's use relu's factor 6.
        factor = 2.0 if self.activation == "logistic" else 6.0
        coefs, intercepts = [], []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
            intercepts.append(rng.uniform(-bound, bound, fan_out))
        flat = np.concatenate([a.ravel() for a in coefs + intercepts]).astype(dtype)
        self._set_views(flat, layer_units)
        self._optimizer = None
        self._best_params = None
        if self.solver in _STOCHASTIC_SOLVERS:
            self._init_training_state()

    def _dropout_rates(self, n_hidden):
        """`dropout` as one float per hidden layer; ValueError where it does not fit."""
        if isinstance(self.dropout, Real):
            return [float(self.dropout)] * n_hidden
        rates = np.asarray(self.dropout, dtype=np.float64)
        if rates.ndim != 1 or rates.size != n_hidden:
            raise ValueError(
                f"dropout must be a float or a sequence of one rate per hidden layer "
                f"({n_hidden}), got {self.dropout!r}."
            )
        if not np.all((rates >= 0) & (rates < 1)):
            raise ValueError(f"dropout rates must be in [0, 1), got {self.dropout!r}.")
        return [float(r) for r in rates]

    def _check_training_extras(self, n_hidden):
        """Checks of dropout, max_grad_norm, learning_rate='cosine' and warmup_iters that
        span several parameters; returns the dropout rate of each hidden layer."""
        rates = self._dropout_rates(n_hidden)
        if self.solver == "lbfgs":
            used = [
                name
                for name, on in (
                    ("dropout", any(rates)),
                    ("max_grad_norm", self.max_grad_norm is not None),
                    ("learning_rate='cosine'", self.learning_rate == "cosine"),
                )
                if on
            ]
            if used:
                raise ValueError(
                    f"{' and '.join(used)} apply to the stochastic solvers ('sgd', 'adam', "
                    "'adamw') only, not to solver='lbfgs'."
                )
        self._check_schedule()
        return rates

    def _fit_checked(self, X, y, sample_weight, incremental, validation_data=None):
        if validation_data is not None and self.solver not in _STOCHASTIC_SOLVERS:
            raise ValueError(
                "validation_data needs a stochastic solver ('sgd', 'adam' or 'adamw'): it "
                f"is evaluated after every epoch; got solver={self.solver!r}."
            )
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(
                "hidden_layer_sizes must be > 0, got %s." % hidden_layer_sizes
            )
        self._check_training_extras(len(hidden_layer_sizes))
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        precision = getattr(self, "precision", None)
        if precision is not None:
            want = _PRECISION_DTYPE[precision]
            if X.dtype != want:
                X = X.astype(want)
            if not first_pass and self._packed_params().dtype != want:
                raise ValueError(
                    f"precision={precision!r} trains {np.dtype(want).name} models; this one "
                    f"is {self._packed_params().dtype}. Fit again without warm_start."
                )
        device = _cuda.fit_device(self, X)
        if precision == "bfloat16" and device == "cpu":
            _check_bf16_cpu()
        if device == "cuda":
            X = _cuda.as_float32(X)
            if not first_pass and self._packed_params().dtype != np.float32:
                raise ValueError(
                    "device='cuda' trains float32 models; this one is float64. Fit again "
                    "without warm_start."
                )
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        # class_weight (classifiers): sklearn's compute_sample_weight, times sample_weight.
        class_weights = self._class_weight_table(y, incremental)
        if class_weights is not None:
            cw = self._class_sample_weight(class_weights, y)
            sample_weight = cw if sample_weight is None else sample_weight * cw
        validation = None
        if validation_data is not None:
            X_val, y_val, sw_val = self._check_validation_data(validation_data, y.shape[1])
            if class_weights is not None:
                cw = self._class_sample_weight(class_weights, y_val)
                sw_val = cw if sw_val is None else sw_val * cw
            validation = (X_val, y_val, sw_val)
        layer_units = [n_features] + [int(h) for h in hidden_layer_sizes] + [y.shape[1]]
        rng = check_random_state(self.random_state)

        if first_pass:
            # Before numpy draws the initial weights, which may be far beyond RAM.
            if self.solver == "lbfgs":
                rows = min(n_samples, _CHUNK_ROWS)
            elif self.batch_size == "auto":
                rows = min(200, n_samples)
            else:
                rows = min(self.batch_size, n_samples)
            _check_fits_in_memory(layer_units, rows, X.dtype.itemsize)
            self._initialize(y, layer_units, X.dtype, rng)
        elif self._layer_units() != layer_units:
            raise ValueError(
                f"The fitted network has layer sizes {self._layer_units()} but this call "
                f"needs {layer_units}: hidden_layer_sizes or the number of outputs changed "
                "since the last fit. Fit again without warm_start."
            )
        self.n_outputs_ = y.shape[1]

        # Train in the model's dtype: float32 data stays float32.
        dtype = self._packed_params().dtype
        if X.dtype != dtype:
            X = X.astype(dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)
        if validation is not None:
            X_val, y_val, sw_val = validation
            validation = (
                X_val.astype(dtype, copy=False),
                y_val,
                None if sw_val is None else np.ascontiguousarray(sw_val, dtype=dtype),
            )

        hooks = _callbacks.FitHooks(self, X, y, sample_weight)
        hooks.fit_begin()
        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, y, sample_weight, rng, incremental, hooks, validation)
        elif self.solver == "lbfgs":
            self._fit_lbfgs(X, y, sample_weight, hooks)

        # As scikit-learn, the weights (a non-finite loss already raised, except with
        # early stopping, where loss_ is the last epoch's and the weights the best epoch's).
        if not np.isfinite(self._packed_params()).all():
            raise ValueError(_NON_FINITE_MSG)
        hooks.fit_end()
        return self

    def _lbfgs_objective(self, X, y, sample_weight):
        """The function L-BFGS minimises: packed parameters (float64) -> (loss, gradient),
        the full-batch loss with its L2 term and its gradient from one C++ call
        (scikit-learn's _loss_grad_lbfgs; tests/test_sklearn_mlp.py checks it by finite
        differences)."""
        flat = self._packed_params()
        dtype = flat.dtype
        units = self._layer_units()
        # A small network walks the rows in chunks its row slices split across the cores.
        macs_per_row = sum(a * b for a, b in zip(units[:-1], units[1:]))
        chunk_rows = _core.sliced_chunk_rows(macs_per_row) or _CHUNK_ROWS
        net = _network(
            dtype, units, self.activation, self.out_activation_,
            self._core_loss(), min(X.shape[0], chunk_rows),
            precision=getattr(self, "precision", None),
        )
        Xc = _core_input(X, dtype)
        Y = np.ascontiguousarray(y, dtype=dtype)
        grad = np.empty_like(flat)
        alpha = float(self.alpha)

        def loss_grad(packed):
            params = np.ascontiguousarray(packed, dtype=dtype)
            loss = net.loss_grad(params, grad, Xc, Y, sample_weight, alpha)
            return loss, grad.astype(np.float64)  # scipy keeps it: hand over a copy

        return loss_grad

    def _fit_lbfgs(self, X, y, sample_weight, hooks=_callbacks.NO_HOOKS):
        flat = self._packed_params()
        loss_grad = self._lbfgs_objective(X, y, sample_weight)
        # L-BFGS-B's own vector work is tiny; BLAS threads spinning between its calls
        # would steal the cores from our OpenMP threads (measured: 6x slower gradients).
        with threadpool_limits(limits=1, user_api="blas"):
            opt_res = scipy.optimize.minimize(
                loss_grad,
                flat.astype(np.float64),
                method="L-BFGS-B",
                jac=True,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
                callback=hooks.lbfgs_callback(flat),
            )
        hooks.lbfgs_close()
        self.n_iter_ = _check_optimize_result("lbfgs", opt_res, self.max_iter)
        self.loss_ = opt_res.fun
        flat[:] = opt_res.x
        if not np.isfinite(self.loss_):
            # L-BFGS-B stops at a non-finite first evaluation with finite weights: the
            # same divergence as non-finite weights, and the same error.
            raise ValueError(_NON_FINITE_MSG)

    def _outputs_surely_finite(self, X):
        """True when |pre-activations| are provably far below overflow for every row of X.

        By Cauchy-Schwarz a row's pre-activation z = a @ W + b has ||z|| <= ||a|| ||W||_F +
        ||b|| (and so does every partial sum of the product); relu, identity, leaky_relu,
        gelu, silu and elu keep the bound, softplus adds log 2 per unit, tanh and logistic
        map into [-1, 1]. Far below the dtype's maximum (and below
        log(max) for Poisson's exp) nothing can overflow.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            if sp.issparse(X):
                bound = float(np.sqrt(np.max(np.asarray(X.multiply(X).sum(axis=1)))))
            else:  # in row chunks: no temporary the size of X
                bound = float(np.sqrt(max(
                    np.einsum("ij,ij->i", X[i : i + _CHUNK_ROWS], X[i : i + _CHUNK_ROWS]).max()
                    for i in range(0, X.shape[0], _CHUNK_ROWS)
                )))
            finfo = np.finfo(self._packed_params().dtype)
            limit = float(finfo.max) * 1e-6
            for i, (W, b) in enumerate(zip(self.coefs_, self.intercepts_)):
                z = float(np.linalg.norm(W)) * bound + float(np.linalg.norm(b))
                if not z < limit:
                    return False
                hidden = i < len(self.coefs_) - 1
                if hidden and self.activation in ("tanh", "logistic"):
                    bound = np.sqrt(W.shape[1])
                elif hidden and self.activation == "softplus":  # softplus(z) <= |z| + log 2
                    bound = z + np.sqrt(W.shape[1])
                else:  # the others have |f(z)| <= |z|
                    bound = z
        return self.out_activation_ != "exp" or z < 0.5 * np.log(float(finfo.max))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
