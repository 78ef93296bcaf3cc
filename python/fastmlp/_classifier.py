"""MLPClassifier: a drop-in replacement for sklearn.neural_network.MLPClassifier."""

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer, label_binarize
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import _check_y, check_is_fitted, column_or_1d, validate_data

from ._base import BaseMultilayerPerceptron
from ._neural_net import BaseNeuralNet


class _ClassifierNetwork(ClassifierMixin):
    """What MLPClassifier and NeuralNetClassifier share: the label encoding (one output per
    class, or per label of multilabel y), class weights, predict and predict_proba, on top
    of the network's forward pass (``_forward_pass_fast``) and fit (``_fit``)."""

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
            **self._input_checks,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)

        # Which classes a call may see: a cold fit defines them; warm_start needs
        # exactly the same set; partial_fit needs a subset of the first call's.
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._fit_label_encoding(y)
            self.classes_ = self._binarizer_classes
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        return X, self._binarize(y)

    def _class_weight_table(self, y, incremental):
        """Per-output (classes, weights) for class_weight, as compute_sample_weight builds
        them from the labels of `y` (binarized); None when class_weight is None.

        partial_fit weighs against every class (classes_, or {0, 1} per label) as
        SGDClassifier does, and refuses 'balanced', which needs the whole data.
        """
        class_weight = self.class_weight
        if class_weight is None:
            return None
        if incremental and isinstance(class_weight, str):
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit. In order to "
                "use 'balanced' weights, use compute_class_weight('balanced', "
                "classes=classes, y=y). In place of y you can use a large enough sample "
                "of the full training set target to properly estimate the class "
                "frequency distributions. Pass the resulting weights as the "
                "class_weight parameter."
            )
        labels = self._inverse_binarize(y)
        if labels.ndim == 1:
            labels = labels.reshape(-1, 1)
        n_outputs = labels.shape[1]
        # compute_sample_weight's multi-output rules and messages.
        if n_outputs > 1:
            if isinstance(class_weight, dict):
                raise ValueError(
                    "For multi-output, class_weight should be a list of dicts, or the "
                    "string 'balanced'."
                )
            if isinstance(class_weight, list) and len(class_weight) != n_outputs:
                raise ValueError(
                    "For multi-output, number of elements in class_weight should match "
                    f"number of outputs. Got {len(class_weight)} element(s) while having "
                    f"{n_outputs} outputs."
                )
        elif isinstance(class_weight, list):
            raise ValueError(
                "class_weight is a list (one dict per label, for multilabel y) but y "
                "has a single output: pass a dict or 'balanced'."
            )
        table = []
        for k in range(n_outputs):
            y_k = labels[:, k]
            if not incremental:
                classes_k = np.unique(y_k)
            elif n_outputs == 1:
                classes_k = np.asarray(self.classes_)
            else:
                classes_k = np.array([0, 1])
            weight_k = class_weight if isinstance(class_weight, (str, dict)) else class_weight[k]
            table.append((classes_k, compute_class_weight(weight_k, classes=classes_k, y=y_k)))
        return table

    def _class_sample_weight(self, table, y):
        """Sample weights (float64) of the binarized targets `y` from a class-weight table:
        the product over outputs, as compute_sample_weight computes them. A label absent
        from the table (a multilabel column constant in training, seen in validation
        data) weighs 1."""
        labels = self._inverse_binarize(y)
        if labels.ndim == 1:
            labels = labels.reshape(-1, 1)
        weights = []
        for (classes_k, weight_k), y_k in zip(table, labels.T):
            idx = np.clip(np.searchsorted(classes_k, y_k), 0, len(classes_k) - 1)
            weights.append(np.where(classes_k[idx] == y_k, weight_k[idx], 1.0))
        return np.prod(weights, axis=0, dtype=np.float64)

    def _validation_targets(self, y_val, n_outputs):
        """y_val binarized as y is; labels unseen in training are an error."""
        y_val = _check_y(y_val, multi_output=True)
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        if self._label_type != "multilabel-indicator" and not type_of_target(
            y_val
        ).startswith("multilabel"):
            unseen = np.setdiff1d(unique_labels(y_val), self.classes_)
            if len(unseen):
                raise ValueError(
                    f"y_val has labels not seen in training: {unseen}. The model's "
                    f"classes are {self.classes_}."
                )
        return self._binarize(y_val)

    def _fit_label_encoding(self, y):
        """Learn the label encoding; only plain values are kept (for small pickles)."""
        lb = LabelBinarizer().fit(y)
        self._binarizer_classes = lb.classes_
        self._label_type = lb.y_type_

    def _binarize(self, y):
        if type_of_target(y).startswith("multilabel") != (
            self._label_type == "multilabel-indicator"
        ):
            if self._label_type == "multilabel-indicator":
                raise ValueError("The object was fitted with multilabel input.")
            raise ValueError("The object was not fitted with multilabel input.")
        # Bool first, as scikit-learn, so float32 data is not upcast.
        return label_binarize(y, classes=self._binarizer_classes).astype(bool)

    def _inverse_binarize(self, y):
        """Labels from network outputs (or from binarized targets)."""
        classes = self._binarizer_classes
        if self._label_type == "multiclass":
            return classes.take(np.asarray(y).argmax(axis=1), mode="clip")
        y = (np.asarray(y) > 0.5).astype(int)
        if self._label_type == "multilabel-indicator":
            return y
        y = y.ravel()
        if len(classes) == 1:
            return np.repeat(classes[0], len(y))
        return classes[y]

    def predict(self, X):
        """Predict the classes of X with the trained network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray, shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._inverse_binarize(y_pred)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(
            X, y, sample_weight=sample_weight, score_function=accuracy_score
        )

    def predict_log_proba(self, X):
        """Return the log of probability estimates.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            The predicted log-probability of the sample for each class in the
            model, where classes are ordered as they are in ``self.classes_``.
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The predicted probability of the sample for each class in the
            model, where classes are ordered as they are in ``self.classes_``.
        """
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPClassifier(_ClassifierNetwork, BaseMultilayerPerceptron):
    """Multi-layer Perceptron classifier trained by fastmlp's C++ core.

    Same parameters, defaults, fitted attributes, methods, warnings and errors as
    scikit-learn 1.9's ``MLPClassifier``: it optimizes the log-loss with L-BFGS, SGD or
    Adam. With the same ``random_state`` it starts from the same weights and visits the
    mini-batches in the same order as scikit-learn.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape(n_layers - 2,), default=(100,)
        The ith element represents the number of neurons in the ith
        hidden layer.

    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', 'gelu', 'silu', 'elu', 'softplus'}, default='relu'
        Activation function for the hidden layer.

        - 'identity', no-op activation, useful to implement linear bottleneck,
          returns f(x) = x

        - 'logistic', the logistic sigmoid function,
          returns f(x) = 1 / (1 + exp(-x)).

        - 'tanh', the hyperbolic tan function,
          returns f(x) = tanh(x).

        - 'relu', the rectified linear unit function,
          returns f(x) = max(0, x)

        Beyond scikit-learn (Glorot init factor as for 'relu'):

        - 'leaky_relu', f(x) = x if x > 0 else 0.01 x
        - 'gelu', tanh approximation,
          f(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        - 'silu', f(x) = x / (1 + exp(-x))
        - 'elu', f(x) = x if x > 0 else exp(x) - 1
        - 'softplus', f(x) = log(1 + exp(x))

    solver : {'lbfgs', 'sgd', 'adam', 'adamw'}, default='adam'
        The solver for weight optimization.

        - 'lbfgs' is an optimizer in the family of quasi-Newton methods.

        - 'sgd' refers to stochastic gradient descent.

        - 'adam' refers to a stochastic gradient-based optimizer proposed
          by Kingma, Diederik, and Jimmy Ba

        - 'adamw' (fastmlp only) is Adam with decoupled weight decay (Loshchilov
          and Hutter): ``alpha`` is no L2 penalty but a decay, each step multiplies
          the weights (not the biases) by ``1 - lr * alpha``, lr being the current
          learning rate, before the Adam step on the data gradient; ``loss_`` then
          holds no L2 term. beta_1, beta_2, epsilon and learning_rate_init apply.

        Note: The default solver 'adam' works pretty well on relatively
        large datasets (with thousands of training samples or more) in terms of
        both training time and validation score.
        For small datasets, however, 'lbfgs' can converge faster and perform
        better.

    alpha : float, default=0.0001
        Strength of the L2 regularization term. The L2 regularization term
        is divided by the sample size when added to the loss.

    batch_size : int, default='auto'
        Size of minibatches for stochastic optimizers.
        If the solver is 'lbfgs', the classifier will not use minibatch.
        When set to "auto", `batch_size=min(200, n_samples)`.

    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine'}, default='constant'
        Learning rate schedule for weight updates.

        - 'constant' is a constant learning rate given by
          'learning_rate_init'.

        - 'invscaling' gradually decreases the learning rate at each
          time step 't' using an inverse scaling exponent of 'power_t'.
          effective_learning_rate = learning_rate_init / pow(t, power_t)

        - 'adaptive' keeps the learning rate constant to
          'learning_rate_init' as long as training loss keeps decreasing.
          Each time two consecutive epochs fail to decrease training loss by at
          least tol, or fail to increase validation score by at least tol if
          'early_stopping' is on, the current learning rate is divided by 5.

        - 'cosine' (fastmlp only) sets the rate of every mini-batch step s
          (counted from 0 over the fit) to
          ``learning_rate_init * 0.5 * (1 + cos(pi * (s - W) / (S - W)))``, with
          ``S`` the steps of ``max_iter`` epochs and ``W`` those of
          ``warmup_iters`` epochs, after a linear warmup
          ``learning_rate_init * (s + 1) / W`` for ``s < W``. It applies to
          'sgd', 'adam' and 'adamw' (training stops early as for 'constant').

        'constant', 'invscaling' and 'adaptive' are only used when
        ``solver='sgd'``.

    learning_rate_init : float, default=0.001
        The initial learning rate used. It controls the step-size
        in updating the weights. Only used when solver='sgd' or 'adam'.

    power_t : float, default=0.5
        The exponent for inverse scaling learning rate.
        It is used in updating effective learning rate when the learning_rate
        is set to 'invscaling'. Only used when solver='sgd'.

    max_iter : int, default=200
        Maximum number of iterations. The solver iterates until convergence
        (determined by 'tol') or this number of iterations. For stochastic
        solvers ('sgd', 'adam'), note that this determines the number of epochs
        (how many times each data point will be used), not the number of
        gradient steps.

    shuffle : bool, default=True
        Whether to shuffle samples in each iteration. Only used when
        solver='sgd' or 'adam'.

    random_state : int, RandomState instance, default=None
        Determines random number generation for weights and bias
        initialization, train-test split if early stopping is used, and batch
        sampling when solver='sgd' or 'adam'.
        Pass an int for reproducible results across multiple function calls.
        

    tol : float, default=1e-4
        Tolerance for the optimization. When the loss or score is not improving
        by at least ``tol`` for ``n_iter_no_change`` consecutive iterations,
        unless ``learning_rate`` is set to 'adaptive', convergence is
        considered to be reached and training stops.

    verbose : bool, default=False
        Whether to print progress messages to stdout.

    warm_start : bool, default=False
        When set to True, reuse the solution of the previous
        call to fit as initialization, otherwise, just erase the
        previous solution. See the scikit-learn glossary.

    momentum : float, default=0.9
        Momentum for gradient descent update. Should be between 0 and 1. Only
        used when solver='sgd'.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum. Only used when solver='sgd' and
        momentum > 0.

    early_stopping : bool, default=False
        Whether to use early stopping to terminate training when validation
        score is not improving. If set to True, it will automatically set
        aside ``validation_fraction`` of training data as validation and
        terminate training when validation score is not improving by at least
        ``tol`` for ``n_iter_no_change`` consecutive epochs. The split is
        stratified, except in a multilabel setting.
        If early stopping is False, then the training stops when the training
        loss does not improve by more than ``tol`` for ``n_iter_no_change``
        consecutive passes over the training set.
        Only effective when solver='sgd' or 'adam'.

    validation_fraction : float, default=0.1
        The proportion of training data to set aside as validation set for
        early stopping. Must be between 0 and 1.
        Only used if early_stopping is True.

    beta_1 : float, default=0.9
        Exponential decay rate for estimates of first moment vector in adam,
        should be in [0, 1). Only used when solver='adam'.

    beta_2 : float, default=0.999
        Exponential decay rate for estimates of second moment vector in adam,
        should be in [0, 1). Only used when solver='adam'.

    epsilon : float, default=1e-8
        Value for numerical stability in adam. Only used when solver='adam'.

    n_iter_no_change : int, default=10
        Maximum number of epochs to not meet ``tol`` improvement.
        Only effective when solver='sgd' or 'adam'.

    max_fun : int, default=15000
        Only used when solver='lbfgs'. Maximum number of loss function calls.
        The solver iterates until convergence (determined by 'tol'), number
        of iterations reaches max_iter, or this number of loss function calls.
        Note that number of loss function calls will be greater than or equal
        to the number of iterations for the `MLPClassifier`.

    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        Where fit and predict run (fastmlp only; not a scikit-learn parameter).
        'cuda' trains on the GPU (solver 'sgd', 'adam' or 'adamw', with dropout,
        max_grad_norm and learning_rate='cosine' as on the CPU; dense X, float32:
        float64 input is converted with a DataConversionWarning) and raises at fit
        when fastmlp was built without CUDA or no GPU is usable; 'auto' uses the GPU
        when it can and the CPU otherwise. Fitted attributes are numpy arrays either
        way; a model fitted on a GPU predicts on the CPU where no GPU is present.

    dropout : float or array-like of shape (n_layers - 2,), default=0.0
        Inverted dropout of hidden units (fastmlp only): during training each unit
        of a hidden layer is zeroed with probability ``dropout`` (one rate for every
        hidden layer, or one per hidden layer) and kept units are scaled by
        ``1 / (1 - rate)``; prediction, ``score`` and the validation score of
        ``early_stopping`` use the whole network. Rates are in [0, 1). The masks are
        drawn from one seed per epoch, taken from ``random_state`` after the
        shuffling, so that with ``dropout=0`` training is bitwise that of
        scikit-learn; they do not depend on the thread count. ``loss_`` and
        ``loss_curve_`` are the losses of the dropped-out network. Stochastic solvers
        only: ``solver='lbfgs'`` with ``dropout > 0`` raises a ValueError.

    max_grad_norm : float or None, default=None
        Clip the global L2 norm of each mini-batch gradient (fastmlp only): the
        gradient of the loss with its L2 term (the data term alone for 'adamw') is
        scaled by ``max_grad_norm / norm`` when its norm exceeds ``max_grad_norm``,
        before the optimizer step. None disables clipping. Stochastic solvers only.

    warmup_iters : int, default=0
        Epochs of linear warmup of ``learning_rate='cosine'`` (fastmlp only): over
        the first ``warmup_iters`` epochs' steps the rate climbs linearly to
        ``learning_rate_init``. Must be smaller than ``max_iter``; a value > 0 with
        another ``learning_rate`` raises a ValueError.

    class_weight : dict, list of dicts, 'balanced' or None, default=None
        Weights of the classes (fastmlp only), with the semantics of
        :func:`sklearn.utils.class_weight.compute_sample_weight`: a dict
        ``{class_label: weight}`` (classes not in it weigh 1; a key that is not a
        class of ``y`` is an error unless every class of ``y`` has a key), 'balanced'
        (``n_samples / (n_classes * np.bincount(y))``), or for multilabel ``y`` a
        list of one ``{0: w0, 1: w1}`` dict per label or 'balanced' (the labels'
        weights are multiplied). The resulting per-sample weights multiply
        ``sample_weight`` and weigh the loss, its gradient and the validation set
        (the early-stopping split or ``validation_data``). ``partial_fit`` accepts
        a dict, weighed against all of ``classes``, and refuses 'balanced'.

    early_stopping_metric : {'score', 'loss'}, default='score'
        What early stopping watches (fastmlp only; used when
        ``early_stopping=True``). 'score' is scikit-learn's rule on the validation
        accuracy. 'loss': training stops after more than ``n_iter_no_change`` epochs in
        which the validation loss did not fall below ``best_validation_loss_ - tol``,
        and the weights of the epoch with the lowest validation loss are restored.

    precision : {'float32', 'float64', 'bfloat16'} or None, default=None
        The precision fit computes in (fastmlp only; not a scikit-learn parameter).
        None follows the input as scikit-learn does (float32 X trains a float32 model,
        anything else float64). 'float32' and 'float64' convert X to that dtype.
        'bfloat16' trains a float32 model whose matrix products take bfloat16 inputs
        with float32 sums (AVX-512 BF16 on the CPU, the BF16 tensor cores with
        ``device='cuda'``); parameters, activations, gradients and the optimizer stay
        float32, and ``coefs_`` are float32. On a CPU without AVX-512 BF16 fit raises
        ValueError. predict and predict_proba run in float32 for 'bfloat16' and
        'float32' and in float64 for 'float64', on any CPU.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels for each output.

    loss_ : float
        The current loss computed with the loss function.

    best_loss_ : float or None
        The minimum loss reached by the solver throughout fitting.
        If `early_stopping=True`, this attribute is set to `None`. Refer to
        the `best_validation_score_` fitted attribute instead.

    loss_curve_ : list of shape (`n_iter_`,)
        The ith element in the list represents the loss at the ith iteration.

    validation_scores_ : list of shape (`n_iter_`,) or None
        The score at each iteration on a held-out validation set. The score
        reported is the accuracy score. Only available if `early_stopping=True`,
        otherwise the attribute is set to `None`.

    best_validation_score_ : float or None
        The best validation score (i.e. accuracy score) that triggered the
        early stopping. Only available if `early_stopping=True`, otherwise the
        attribute is set to `None`.

    validation_loss_curve_ : list of shape (`n_iter_`,) or None
        The loss on the validation set after each epoch (fastmlp only): the one
        passed to ``fit`` as ``validation_data``, or else the ``validation_fraction``
        split of ``early_stopping=True``; None without a validation set. It is the
        (weighted) mean of the same per-sample loss as ``loss_curve_`` plus the same
        L2 term a training epoch carries, ``0.5 * alpha * ||W||^2 * n_batches /
        n_train``, so the two curves are comparable. Accumulates across warm-start
        fits, like ``loss_curve_``. Only accessible when solver='sgd' or 'adam'.

    best_validation_loss_ : float or None
        The lowest value of ``validation_loss_curve_``, whose weights were restored,
        when ``early_stopping=True`` and ``early_stopping_metric='loss'``
        (``validation_scores_`` and ``best_validation_score_`` are then None);
        otherwise None. Only accessible when solver='sgd' or 'adam'.

    t_ : int
        The number of training samples seen by the solver during fitting.

    coefs_ : list of shape (n_layers - 1,)
        The ith element in the list represents the weight matrix corresponding
        to layer i.

    intercepts_ : list of shape (n_layers - 1,)
        The ith element in the list represents the bias vector corresponding to
        layer i + 1.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X`
        has feature names that are all strings.

    n_iter_ : int
        The number of iterations the solver has run.

    n_layers_ : int
        Number of layers.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation function.

    See Also
    --------
    MLPRegressor : Multi-layer Perceptron regressor.

    Examples
    --------
    >>> from fastmlp import MLPClassifier
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.model_selection import train_test_split
    >>> X, y = make_classification(n_samples=100, random_state=1)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y,
    ...                                                     random_state=1)
    >>> clf = MLPClassifier(random_state=1, max_iter=300).fit(X_train, y_train)
    >>> clf.predict_proba(X_test[:1]).shape
    (1, 2)
    >>> clf.score(X_test, y_test) > 0.8
    True
    """

    def __init__(
        self,
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
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        device="cpu",
        dropout=0.0,
        max_grad_norm=None,
        warmup_iters=0,
        class_weight=None,
        early_stopping_metric="score",
        precision=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            loss="log_loss",
            dropout=dropout,
            max_grad_norm=max_grad_norm,
            warmup_iters=warmup_iters,
        )
        self.device = device
        self.class_weight = class_weight
        self.early_stopping_metric = early_stopping_metric
        self.precision = precision

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
    }

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
            The input data.

        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels, or a label indicator matrix for
            multilabel classification).

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights. Multiplied by the weights of ``class_weight``.

        validation_data : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), \
                default=None
            A validation set (fastmlp only; solver='sgd' or 'adam'). Its loss after
            every epoch is recorded in ``validation_loss_curve_``, and with
            ``early_stopping=True`` it replaces the ``validation_fraction`` split, so
            training uses all of X. ``y_val`` may only hold classes seen in ``y``;
            ``class_weight`` weighs it too.

        Returns
        -------
        self : object
            Returns a trained MLP model.
        """
        return self._fit(
            X, y, sample_weight=sample_weight, incremental=False,
            validation_data=validation_data,
        )

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights. Multiplied by the weights of a ``class_weight`` dict
            ('balanced' is refused here: it needs the whole data).

        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit. Required on the first call,
            may be omitted afterwards. ``y`` need not contain every class.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        if _check_partial_fit_first_call(self, classes):
            if type_of_target(y).startswith("multilabel"):
                self._fit_label_encoding(y)
            else:
                self._fit_label_encoding(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)


class NeuralNetClassifier(_ClassifierNetwork, BaseNeuralNet):
    """Neural-network classifier built from Keras-style layers, trained by fastmlp's C++
    layer engine.

    A scikit-learn classifier (fit, predict, predict_proba, partial_fit, score, pickling,
    clone, pipelines, grid search over ``layers``) whose network is any stack of
    ``fastmlp.layers`` -- dense, convolutional, pooling, normalisation, dropout --
    followed by the output layer MLPClassifier would add. Training runs whole epochs in
    C++ with MLPClassifier's optimizers, schedules, early stopping, class weights and
    callbacks; results do not depend on the number of threads.

    Parameters
    ----------
    layers : list of fastmlp.layers.Layer, default=None
        The hidden layers, in order (``fastmlp.layers``: Dense, Conv1D, Conv2D,
        pooling, Flatten, Dropout, BatchNormalization, Activation, ...). The output layer
        is added after them as MLPClassifier adds it: a Dense layer with one unit per
        class (or per label, one for binary y), softmax for multiclass y, logistic
        otherwise. The last layer must output a flat vector (end with Flatten or a
        global pooling layer after convolutions). None means ``[Dense(100,
        activation="relu")]``, MLPClassifier's default network (with Keras's
        initialisation).

    input_shape : tuple of int, default=None
        The shape of one sample, channels last: ``(features,)``, ``(steps, channels)``
        or ``(height, width, channels)``. X may then be ``(n_samples, *input_shape)`` or
        flat ``(n_samples, prod(input_shape))``. None takes the shape from X at fit:
        ``X.shape[1:]``, with a channel axis of 1 added when the first layer needs one
        more axis (``(n, steps)`` for Conv1D, ``(n, height, width)`` for Conv2D). A shape
        that does not fit is a ValueError naming both.

    solver : {'sgd', 'adam', 'adamw'}, default='adam'
        The optimizer of the mini-batch steps, as MLPClassifier's ('adamw': Adam with
        decoupled weight decay ``alpha``). There is no 'lbfgs'.

    alpha : float, default=0.0001
        Strength of the L2 penalty on the kernels (not on biases or normalisation
        scales), divided by the batch's sample weight as MLPClassifier's; for 'adamw' the
        decoupled decay rate.

    batch_size : int or 'auto', default='auto'
        Size of the mini-batches; 'auto' is ``min(200, n_samples)``.

    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine'}, default='constant'
        Learning-rate schedule, as MLPClassifier's: 'invscaling' and 'adaptive' for
        'sgd'; 'cosine' (per mini-batch step, with ``warmup_iters`` epochs of linear
        warmup) for every solver.

    learning_rate_init : float, default=0.001
        The initial learning rate.

    power_t : float, default=0.5
        Exponent of 'invscaling'.

    max_iter : int, default=200
        Maximum number of epochs.

    shuffle : bool, default=True
        Whether to shuffle the samples every epoch.

    random_state : int, RandomState instance or None, default=None
        Initial weights, the early-stopping split, the shuffling and the dropout masks.

    tol : float, default=1e-4
        Tolerance of the stopping rule (see ``n_iter_no_change``).

    verbose : bool, default=False
        Print the loss of every epoch.

    warm_start : bool, default=False
        Continue from the fitted weights on the next call to fit.

    momentum : float, default=0.9
        Momentum of 'sgd'.

    nesterovs_momentum : bool, default=True
        Nesterov's momentum for 'sgd'.

    early_stopping : bool, default=False
        Stop when the validation score (or loss, see ``early_stopping_metric``) has not
        improved by ``tol`` for ``n_iter_no_change`` epochs, on a ``validation_fraction``
        split of X (or ``validation_data``), and keep the best epoch's weights.

    validation_fraction : float, default=0.1
        Fraction of X held out for early stopping.

    beta_1 : float, default=0.9
        Adam's first-moment decay.

    beta_2 : float, default=0.999
        Adam's second-moment decay.

    epsilon : float, default=1e-8
        Adam's epsilon.

    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.

    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        The layer engine runs on the CPU: 'cuda' raises a ValueError naming the first
        layer without a GPU kernel; 'auto' uses the CPU.

    max_grad_norm : float or None, default=None
        Clip the global L2 norm of each mini-batch gradient to this value.

    warmup_iters : int, default=0
        Epochs of linear warmup of ``learning_rate='cosine'``.

    class_weight : dict, list of dicts, 'balanced' or None, default=None
        Weights of the classes, as MLPClassifier's.

    early_stopping_metric : {'score', 'loss'}, default='score'
        What early stopping watches: the validation score, or the validation loss.

    precision : {'float32', 'float64', 'bfloat16'} or None, default=None
        None follows X (float32 X trains a float32 model, anything else float64);
        'bfloat16' runs the products of Dense layers and convolutions in bfloat16 with
        float32 sums (AVX-512 BF16 CPUs).

    Attributes
    ----------
    layers_ : list of FittedLayer
        Every layer of the fitted network, the added output layer last, each with its
        spec, its input and output shapes per sample, and its ``weights`` and ``states``
        as numpy views of the model's parameter vector.

    n_params_ : int
        Number of trainable parameters.

    input_shape_ : tuple of int
        The shape of one sample the network takes.

    loss_ : float
        The loss of the last epoch (with its L2 term).

    loss_curve_ : list of float
        The loss of every epoch.

    validation_loss_curve_ : list of float or None
        The validation loss after every epoch, when there is a validation set.

    validation_scores_ : list of float or None
        The validation score of every epoch with ``early_stopping=True``.

    best_loss_, best_validation_score_, best_validation_loss_ : float or None
        As MLPClassifier's.

    t_ : int
        Training samples seen.

    n_iter_ : int
        Epochs run.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        The output layer's activation.

    n_features_in_ : int
        Values per sample (the product of ``input_shape_``).

    classes_ : ndarray or list of ndarray
        Class labels for each output.

    See Also
    --------
    NeuralNetRegressor : The same engine for regression.
    MLPClassifier : The dense network, scikit-learn's exact drop-in replacement.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastmlp import NeuralNetClassifier
    >>> from fastmlp.layers import Conv2D, MaxPooling2D, Flatten, Dense
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NeuralNetClassifier(
    ...     [Conv2D(8, 3, activation="relu"), MaxPooling2D(2), Flatten(),
    ...      Dense(32, activation="relu")],
    ...     input_shape=(8, 8, 1), max_iter=5, random_state=0,
    ... ).fit(X / 16, y)
    >>> clf.layers_[0].output_shape
    (6, 6, 8)
    >>> clf.predict_proba(X[:2] / 16).shape
    (2, 10)
    """

    _parameter_constraints: dict = {
        **BaseNeuralNet._parameter_constraints,
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
    }

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
        class_weight=None,
        early_stopping_metric="score",
        precision=None,
    ):
        super().__init__(
            layers=layers,
            input_shape=input_shape,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            device=device,
            max_grad_norm=max_grad_norm,
            warmup_iters=warmup_iters,
            early_stopping_metric=early_stopping_metric,
            precision=precision,
        )
        self.class_weight = class_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the network to X and y.

        Parameters
        ----------
        X : array-like of shape (n_samples, *input_shape) or (n_samples, n_features)
            The input samples (see ``input_shape``).

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, or a label indicator matrix for multilabel classification.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        validation_data : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), \
                default=None
            A validation set, as MLPClassifier's.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(
            X, y, sample_weight=sample_weight, incremental=False,
            validation_data=validation_data,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over X and y, from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, *input_shape) or (n_samples, n_features)
            The input samples.

        y : array-like of shape (n_samples,)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit; required on the first call.

        Returns
        -------
        self : object
            The estimator.
        """
        if _check_partial_fit_first_call(self, classes):
            if type_of_target(y).startswith("multilabel"):
                self._fit_label_encoding(y)
            else:
                self._fit_label_encoding(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
