"""Learning quality: for every solver and hidden activation, on load_digits,
make_classification and make_regression, fastmlp's mean test score over 5 seeds is within
1 point (accuracy or R^2, in percent) of scikit-learn's with the same parameters."""

import warnings

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import fastmlp

SEEDS = range(5)


def _digits():
    return load_digits(return_X_y=True)


def _classification():
    return make_classification(n_samples=1500, n_features=20, n_informative=10,
                               n_classes=3, random_state=0)


def _regression():
    X, y = make_regression(n_samples=1500, n_features=20, n_informative=10, noise=5.0,
                           random_state=0)
    return X, y / y.std()


DATASETS = {"digits": (_digits, "MLPClassifier"),
            "classification": (_classification, "MLPClassifier"),
            "regression": (_regression, "MLPRegressor")}


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_test_scores_within_one_point_of_sklearn(dataset, solver, activation):
    make, name = DATASETS[dataset]
    X, y = make()
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    params = dict(hidden_layer_sizes=(32,), solver=solver, activation=activation,
                  max_iter=40, learning_rate_init=0.01 if solver == "sgd" else 0.001)
    scores = {}
    for lib in (fastmlp, sk):
        per_seed = []
        for seed in SEEDS:
            est = getattr(lib, name)(random_state=seed, **params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X_train, y_train)
            per_seed.append(100 * est.score(X_test, y_test))
        scores[lib.__name__] = np.mean(per_seed)
    assert abs(scores["fastmlp"] - scores["sklearn.neural_network"]) <= 1.0, scores
