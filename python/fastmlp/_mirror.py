"""The decoder of MLPAutoencoder: the encoder's layers mirrored.

The encoder takes samples of shape s_0 through layers L_1 .. L_n to shapes s_1 .. s_n
(flattened at the end when s_n is not flat). The decoder starts from the codes with
``Dense(size(s_n))`` (and ``Reshape(s_n)`` when s_n is not flat), then mirrors L_n .. L_1,
each mirror taking s_i back to s_{i-1}:

==========================  =====================================================
encoder layer                mirror in the decoder
==========================  =====================================================
Dense(units) on (f,)         Dense(f)
Conv1D/Conv2D, strides s     UpSampling(s) when s > 1, then a stride-1 convolution
                             back to the input's channels, its zero padding chosen
                             so that the size comes back (kernel, bias as L_i)
MaxPooling / AveragePooling  UpSampling(strides)
Flatten / Reshape            Reshape(the input shape)
Dropout, BatchNormalization, the same layer (not when it comes before the first
Activation                   Dense or convolution: it is then on the input only)
GlobalMaxPooling,            refused (ValueError): they drop the positions, and
GlobalAveragePooling,        nothing restores them
UpSampling, Sampling, other
kinds
==========================  =====================================================

A mirrored Dense or convolution has the activation of the layer it mirrors, except the
last one, which outputs the reconstruction and is linear; the first decoder layer uses
the autoencoder's ``activation``. A mirror whose shape cannot come back exactly (a
'valid' convolution or a pooling whose size does not divide) is a ValueError naming the
layer. Tested by tests/test_autoencoder.py.
"""

import numpy as np

from .layers import Conv1D, Conv2D, Dense, Flatten, Reshape, UpSampling1D, UpSampling2D

_SAME_LAYER = ("Dropout", "BatchNormalization", "Activation")
_POOLS = ("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")


def _pair(value, dims):
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value),) * dims


def _cannot(i, layer, why):
    return ValueError(
        f"layers[{i}] ({layer.kind}) cannot be mirrored in the decoder: {why}")


def _upsampling(size, dims):
    if all(s == 1 for s in size):
        return []
    return [UpSampling1D(size[0]) if dims == 1 else UpSampling2D(size)]


def _mirror_conv(i, layer, in_shape, out_shape, last):
    dims = 2 if isinstance(layer, Conv2D) else 1
    strides = _pair(layer.strides, dims)
    kernel = _pair(layer.kernel_size, dims)
    spatial_in, spatial_out = in_shape[:-1][-dims:], out_shape[:-1][-dims:]
    padding = []
    for ax in range(dims):
        up = spatial_out[ax] * strides[ax]
        twice = spatial_in[ax] - up + kernel[ax] - 1
        if twice < 0 or twice % 2:
            raise _cannot(
                i, layer,
                f"its output size {spatial_out[ax]} times strides {strides[ax]} cannot be "
                f"padded back to {spatial_in[ax]} with kernel_size {kernel[ax]}; use "
                "padding='same' with sizes divisible by the strides (and an odd kernel).")
        padding.append(twice // 2)
    cls = Conv2D if dims == 2 else Conv1D
    conv = cls(
        in_shape[-1], layer.kernel_size, strides=1,
        padding=tuple(padding) if dims == 2 else padding[0],
        activation=None if last else layer.activation, use_bias=layer.use_bias,
        kernel_initializer=layer.kernel_initializer, bias_initializer=layer.bias_initializer,
    )
    return _upsampling(strides, dims) + [conv]


def _mirror_pool(i, layer, in_shape, out_shape):
    dims = 2 if layer.kind.endswith("2D") else 1
    pool = _pair(layer.pool_size, dims)
    strides = pool if layer.strides is None else _pair(layer.strides, dims)
    spatial_in, spatial_out = in_shape[:-1][-dims:], out_shape[:-1][-dims:]
    if any(o * s != n for o, s, n in zip(spatial_out, strides, spatial_in)):
        raise _cannot(
            i, layer,
            f"its output {tuple(out_shape)} upsampled by {strides} is not its input "
            f"{tuple(in_shape)}; use sizes divisible by the strides.")
    return _upsampling(strides, dims)


def mirror_layer(i, layer, in_shape, out_shape, last):
    """The decoder layers taking shape out_shape back to in_shape (layer i of the encoder;
    `last`: it outputs the reconstruction, so it is linear)."""
    kind = layer.kind
    if kind == "Dense":
        if len(in_shape) != 1:
            raise _cannot(i, layer, "Dense on samples of more than one axis; add Flatten() "
                                    "before it.")
        return [Dense(in_shape[0], activation=None if last else layer.activation,
                      use_bias=layer.use_bias, kernel_initializer=layer.kernel_initializer,
                      bias_initializer=layer.bias_initializer)]
    if kind in ("Conv1D", "Conv2D"):
        return _mirror_conv(i, layer, in_shape, out_shape, last)
    if kind in _POOLS:
        return _mirror_pool(i, layer, in_shape, out_shape)
    if kind in ("Flatten", "Reshape"):
        return [Reshape(tuple(in_shape))]
    if kind in _SAME_LAYER:
        return [layer]
    why = ("it drops the positions, which nothing restores" if kind.startswith("Global")
           else "fastmlp knows no mirror for this kind")
    raise _cannot(i, layer, why)


def mirror(encoder, shapes, activation):
    """The decoder of `encoder` (layers with per-sample shapes shapes[0..n]): from codes
    to samples of shape shapes[0], flattened."""
    # The reconstruction comes from the mirror of the first layer that has weights; with
    # none, from the decoder's first layer.
    first_weighted = next(
        (i for i, layer in enumerate(encoder) if layer.kind in ("Dense", "Conv1D", "Conv2D")),
        None)
    decoder = [Dense(int(np.prod(shapes[-1])),
                     activation=None if first_weighted is None else activation)]
    if len(shapes[-1]) > 1:
        decoder.append(Reshape(tuple(shapes[-1])))
    for i in reversed(range(len(encoder))):
        if first_weighted is not None and i < first_weighted and encoder[i].kind in _SAME_LAYER:
            continue  # on the input (input dropout, say): not repeated on the output
        decoder += mirror_layer(i, encoder[i], shapes[i], shapes[i + 1], i == first_weighted)
    if len(shapes[0]) > 1:
        decoder.append(Flatten())
    return decoder
