"""scikit-learn's own estimator checks, with no expected failures (as its MLPs pass them)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from fastmlp import MLPClassifier, MLPRegressor, NeuralNetClassifier, NeuralNetRegressor


@parametrize_with_checks(
    [MLPClassifier(), MLPRegressor(), NeuralNetClassifier(), NeuralNetRegressor()]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
