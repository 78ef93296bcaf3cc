// The Activation layer's backward step for every activation, shared with the layers that
// fuse an activation into their output (Dense, Conv1D, Conv2D).
#pragma once
#include <cstdint>

#include "nn/activations.h"

namespace fastmlp {

// dz (rows, width) = d loss / d z from dy = d loss / d a, a = f(z) applied along the last
// axis (softmax normalises each row of `width`); dz may be dy itself. z is read by gelu and
// silu only (activation_needs_preactivation), a by the others.
template <typename T>
void activation_layer_backward(Activation f, T* dz, const T* dy, const T* z, const T* a,
                               int64_t rows, int64_t width);

}  // namespace fastmlp
