"""A bound on every value a layer stack computes, from its weights alone: when it stays far
below overflow, the outputs are provably finite and a fit skips its final check pass over
the training data (a third of an epoch's work; see BaseNetwork._fit_stochastic).

Bounds are on the largest |value| of a sample (the infinity norm). A product y = x W + b
has |y_j| <= |x|_inf sum_i |W_ij| + |b_j| (convolutions likewise, over taps and channels);
relu, identity, leaky_relu, gelu, silu and elu keep a bound, softplus adds log 2, tanh,
logistic and softmax map into [-1, 1], exp raises e to it; Sampling predicts the mean, part
of its input; a layer normalization's output is at most max|gamma| sqrt(c) + max|beta|
whatever its input, a batch normalization's (as predict runs it, on the moving averages)
|gamma| (b + |mean|) / sqrt(variance + epsilon) + |beta| per channel; attention averages
its values with convex weights; a GRU's or LSTM's states stay within 1 when its activation
maps into [-1, 1] and its gates into [0, 1]. A layer kind without a rule here gives no
bound (None), and the check pass runs as before.
"""

import operator

import numpy as np

from . import layers as L

_KEEPS = {"identity", "relu", "leaky_relu", "gelu", "silu", "elu"}
_PASS_THROUGH = (  # Sampling predicts the mean: half of its input
    L.Flatten, L.Reshape, L.Dropout, L.LastStep, L.Cropping1D, L._Pool, L._GlobalPool,
    L._UpSampling, L.Sampling,
)


def _act(z, name):
    name = L.ACTIVATIONS.get(name, name)
    if name in _KEEPS:
        return z
    if name in ("tanh", "logistic", "softmax"):
        return 1.0
    if name == "softplus":
        return z + np.log(2.0)
    if name == "exp":  # exp(700) is above every limit, yet finite in float64
        return float(np.exp(min(z, 700.0)))
    return None


def _product(b, kernel, bias, inputs=None):
    """The bound of x @ kernel + bias for |x| <= b. The kernel's first `inputs` axes are
    its inputs (all but the last when None), the rest its outputs."""
    w = np.abs(np.asarray(kernel, dtype=np.float64))
    w = w.reshape(-1, w.shape[-1]) if inputs is None else w.reshape(w.shape[0], -1)
    z = b * float(w.sum(axis=0).max())
    return z + (float(np.abs(bias).max()) if bias is not None and bias.size else 0.0)


def _norm(w, prefix, c):
    gamma, beta = w.get(prefix + "gamma"), w.get(prefix + "beta")
    g = float(np.abs(gamma).max()) if gamma is not None else 1.0
    return g * np.sqrt(c) + (float(np.abs(beta).max()) if beta is not None else 0.0)


def _below(limit, *bounds):
    return all(b is not None and b < limit for b in bounds)


def _attention(b, w, prefix, key_dim, limit):
    def proj(name, bound, inputs):
        return _product(bound, w[f"{prefix}{name}/kernel"], w.get(f"{prefix}{name}/bias"),
                        inputs)

    q, k, v = proj("query", b, 1), proj("key", b, 1), proj("value", b, 1)
    if not _below(limit, q, k, v, q * k * key_dim):  # the projections, the scores
        return None
    return proj("attention_output", v, None)  # the weights are convex: |O| <= |V|


def _transformer(b, layer, w, c, limit):
    def ff(bound):
        hidden = _act(_product(bound, w["feedforward_intermediate_dense/kernel"],
                               w.get("feedforward_intermediate_dense/bias")), layer.activation)
        if not _below(limit, hidden):
            return None
        return _product(hidden, w["feedforward_output_dense/kernel"],
                        w.get("feedforward_output_dense/bias"))

    ln1, ln2 = _norm(w, "self_attention_layer_norm/", c), _norm(w, "feedforward_layer_norm/", c)
    if layer.norm_first:  # h = x + MHA(LN1(x)), y = h + FF(LN2(h))
        att, branch = _attention(ln1, w, "self_attention/", layer.key_dim, limit), ff(ln2)
        return b + att + branch if _below(limit, att, branch) else None
    # h = LN1(x + MHA(x)), y = LN2(h + FF(h))
    att, branch = _attention(b, w, "self_attention/", layer.key_dim, limit), ff(ln1)
    ok = _below(limit, att, branch) and _below(limit, b + att, ln1 + branch)
    return ln2 if ok else None


def _recurrent(b, layer, w, prefix, limit):
    """The bound of a GRU's or LSTM's states, from the zero state, for inputs within b.

    With gates in [0, 1] (sigmoid) and an activation into [-1, 1] (tanh, sigmoid), a GRU's
    state is a convex mix of the last state and a candidate within 1, and an LSTM's is an
    output gate times the activation of its cell: within 1 at every step, as long as no
    pre-activation overflows (|x W + h U + b| with |h| <= 1; the reset gate only shrinks
    the recurrent term). The LSTM's cell grows by at most 1 a step: finite. Other
    activations have no bound here."""
    act, gate = (L.ACTIVATIONS[name] for name in (layer.activation, layer.recurrent_activation))
    if act not in ("tanh", "logistic") or gate != "logistic":
        return None
    bias = w.get(prefix + "bias")
    z = _product(b, w[prefix + "kernel"], None)
    z += _product(1.0, w[prefix + "recurrent_kernel"], None)  # |h| <= 1
    if bias is not None and bias.size:  # a GRU's input and recurrent biases both count
        z += float(np.abs(bias).reshape(-1, bias.shape[-1]).sum(axis=0).max())
    return 1.0 if z < limit else None


_MERGES = {"concat": max, "sum": operator.add, "mul": operator.mul,
           "ave": lambda f, g: (f + g) / 2}


def _layer(b, fitted, limit):
    """The bound of the layer's output for inputs bounded by b (None: no rule)."""
    layer, w = fitted.layer, fitted.weights
    c = fitted.input_shape[-1] if fitted.input_shape else 1
    if isinstance(layer, _PASS_THROUGH):
        return b
    if isinstance(layer, (L.Dense, L._Conv)):
        z = _product(b, w["kernel"], w.get("bias"))
        return _act(z, layer.activation) if z < limit else None
    if isinstance(layer, L.Activation):
        return _act(b, layer.activation)
    if isinstance(layer, L.Embedding):
        return float(np.abs(w["embeddings"]).max())
    if isinstance(layer, L.PositionEmbedding):
        return b + float(np.abs(w["embeddings"]).max())
    if isinstance(layer, L.LayerNormalization):
        return _norm(w, "", c)
    if isinstance(layer, L.BatchNormalization):  # as predict runs it: the moving averages
        mean = np.abs(fitted.states["moving_mean"].astype(np.float64))
        var = fitted.states["moving_variance"].astype(np.float64)
        gamma = np.abs(w["gamma"].astype(np.float64)) if "gamma" in w else 1.0
        beta = np.abs(w["beta"].astype(np.float64)) if "beta" in w else 0.0
        return float(np.max(gamma * (b + mean) / np.sqrt(var + layer.epsilon) + beta))
    if isinstance(layer, L.MultiHeadAttention):
        return _attention(b, w, "", layer.key_dim, limit)
    if isinstance(layer, L.TransformerEncoder):
        return _transformer(b, layer, w, c, limit)
    if isinstance(layer, L._Recurrent):
        return _recurrent(b, layer, w, "", limit)
    if isinstance(layer, L.Bidirectional):
        bounds = [_recurrent(b, child, w, prefix, limit)
                  for prefix, child in layer._directions().items()]
        return _MERGES[layer.merge_mode](*bounds) if _below(limit, *bounds) else None
    return None


def outputs_surely_finite(fitted_layers, X, dtype, out_activation):
    """True when every value the stack computes on X stays far below the dtype's overflow
    (and the last layer's pre-activations below log(max) / 2 for an exp output), so its
    outputs are finite."""
    finfo = np.finfo(dtype)
    limit = float(finfo.max) * 1e-6
    *hidden, last = fitted_layers
    with np.errstate(over="ignore", invalid="ignore"):
        b = float(abs(X).max())
        for fitted in hidden:
            b = _layer(b, fitted, limit)
            if not _below(limit, b):
                return False
        z = b
        if isinstance(last.layer, (L.Dense, L._Conv)):  # its activation may be the output's
            z = _product(b, last.weights["kernel"], last.weights.get("bias"))
        if not _below(limit, z, _layer(b, last, limit)):
            return False
    return out_activation != "exp" or z < 0.5 * np.log(float(finfo.max))
