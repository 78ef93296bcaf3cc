// Inverted dropout of hidden activations during training, and its backward step.
// A unit's mask is a pure function of (seed, layer, data row, unit) (nn/dropout_math.h,
// shared with the CUDA kernels). No generator state, so the masks do not depend on batch
// boundaries, row slices or the thread count.
// Tested in tests/test_training_extras.py (numpy transcription of the hash, keep rate,
// scale) and tests/test_gradcheck.py (finite differences with a fixed seed).
#pragma once
#include <cstdint>

#include "nn/dropout_math.h"

namespace fastmlp {

// y (m,width) = a * mask, mask (m,width) = 1/(1-p) where the unit is kept, 0 where dropped;
// unit j of data row r is kept when dropout_uniform(dropout_stream(seed, layer),
// r * width + j) >= p (dropout_keep). Data rows are rows[i], or first + i when rows is null.
// Requires 0 < p < 1. A block of a wider layer (a sequence's last step) takes its units'
// own masks: row_units units per data row (width when 0), this block's first at first_unit.
template <typename T>
void dropout_forward(T* y, T* mask, const T* a, const int64_t* rows, int64_t first, int64_t m,
                     int64_t width, double p, uint64_t seed, int64_t layer,
                     int64_t row_units = 0, int64_t first_unit = 0);

// delta (m,width) *= mask (m,width): the gradient reaching the undropped activations.
template <typename T>
void dropout_backward(T* delta, const T* mask, int64_t m, int64_t width);

}  // namespace fastmlp
