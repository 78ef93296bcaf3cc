"""The weight bound that spares a layer-stack fit its final check pass over the training
data (fastmlp/_output_bounds.py): never below what the stack computes, and no bound where a
layer has no rule or the weights could overflow."""

import numpy as np
import pytest

from fastmlp import NeuralNetClassifier, NeuralNetRegressor
from fastmlp import _output_bounds as ob
from fastmlp.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Bidirectional,
    Conv1D,
    Dense,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    LastStep,
    LayerNormalization,
    MaxPooling1D,
    MultiHeadAttention,
    PositionEmbedding,
    Sampling,
    TransformerEncoder,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

STACKS = [  # (layers, sample shape)
    ([Dense(7, activation="tanh"), Dense(5, activation="relu")], (6,)),
    ([Dense(7, activation="relu"), BatchNormalization(), Dense(5, activation="elu")], (6,)),
    ([Conv1D(3, 3), BatchNormalization(center=False), Flatten()], (12, 2)),
    ([Dense(8, activation="tanh"), Sampling(kl_weight=0.01), Dense(5, activation="relu")], (6,)),
    ([Conv1D(3, 3, activation="gelu"), MaxPooling1D(2), LayerNormalization(), Flatten(),
      Dense(4, activation="softplus")], (12, 2)),
    ([MultiHeadAttention(2, 3), GlobalAveragePooling1D()], (5, 4)),
    ([TransformerEncoder(2, 3, 8), LastStep()], (5, 4)),
    ([TransformerEncoder(2, 3, 8, norm_first=False, activation="gelu"), Flatten()], (5, 4)),
]


def _bound(est, X):
    """The bound of the output layer's values (before the output activation)."""
    b = float(abs(X).max())
    for fitted in est.layers_[:-1]:
        b = ob._layer(b, fitted, np.inf)
    out = est.layers_[-1].weights
    return ob._product(b, out["kernel"], out["bias"])


@pytest.mark.parametrize("layers,shape", STACKS)
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_the_bound_is_never_below_the_outputs(layers, shape, scale):
    rng = np.random.default_rng(0)
    X = rng.normal(scale=scale, size=(40, *shape))
    est = NeuralNetRegressor(layers, max_iter=3, random_state=0).fit(X, rng.normal(size=40))
    out = np.abs(est.predict(X)).max()
    assert out <= _bound(est, X)
    assert est._outputs_surely_finite(X)
    for fitted in est.layers_:  # weights that could overflow: no bound, the check pass runs
        for w in fitted.weights.values():
            w *= 1e160  # float64: products of two such weights overflow
    assert not est._outputs_surely_finite(X)


def test_a_transformer_or_a_gru_on_tokens_is_bounded():
    rng = np.random.default_rng(1)
    X, y = rng.integers(0, 9, size=(60, 6)), rng.integers(0, 3, size=60)
    for layers in ([Embedding(9, 8), PositionEmbedding(6), TransformerEncoder(2, 4, 8),
                    LastStep()], [Embedding(9, 8), GRU(4)]):
        clf = NeuralNetClassifier(layers, max_iter=2, random_state=0).fit(X, y)
        assert clf._outputs_surely_finite(X)


RECURRENT_STACKS = [
    [GRU(4, return_sequences=True), LSTM(3)],
    [GRU(4, reset_after=False, recurrent_activation="sigmoid", activation="sigmoid")],
    [Bidirectional(GRU(3, return_sequences=True), merge_mode="sum"), LastStep()],
    [Bidirectional(LSTM(3), merge_mode="mul")],
    [Bidirectional(LSTM(3, return_sequences=True), merge_mode="ave"), Flatten()],
]


# A GRU's or LSTM's states stay within 1 whatever its weights (gates in [0, 1], activation
# in [-1, 1]), as long as no pre-activation overflows.
@pytest.mark.parametrize("layers", RECURRENT_STACKS)
def test_recurrent_states_are_within_one(layers):
    rng = np.random.default_rng(3)
    X = rng.normal(scale=30.0, size=(40, 5, 2))
    est = NeuralNetRegressor(layers, max_iter=3, random_state=0).fit(X, rng.normal(size=40))
    for fitted in est.layers_[:-1]:  # weights far from the fitted ones: still within 1
        for w in fitted.weights.values():
            w *= 1e3
    assert np.abs(est.predict(X)).max() <= _bound(est, X)
    assert est._outputs_surely_finite(X)
    for w in est.layers_[0].weights.values():  # pre-activations that could overflow
        w *= 1e300
    assert not est._outputs_surely_finite(X)


@pytest.mark.parametrize("layer", [GRU(3, activation="relu"), LSTM(3, activation=None),
                                   GRU(3, recurrent_activation="tanh")])
def test_recurrent_layers_without_bounded_states_take_the_check_pass(layer):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 4, 2))
    est = NeuralNetRegressor([layer], max_iter=2, random_state=0).fit(X, rng.normal(size=30))
    assert not est._outputs_surely_finite(X)


def test_an_exp_output_needs_its_values_below_half_the_log_of_the_maximum():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 4))
    est = NeuralNetRegressor([Dense(3)], loss="poisson", max_iter=2, random_state=0)
    est.fit(X, rng.poisson(2.0, size=30))
    assert est._outputs_surely_finite(X)
    assert not est._outputs_surely_finite(X * 1e3)
