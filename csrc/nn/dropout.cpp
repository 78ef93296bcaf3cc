// Inverted dropout: the masked forward pass and the backward multiply (see dropout.h).
#include "nn/dropout.h"

#include "common/parallel.h"
#include "common/simd_clones.h"

namespace fastmlp {

namespace {

// One row of units (counters base + j): the same keep rule as dropout_keep, as an integer
// comparison of the hash bits, so the loop vectorizes (64-bit multiplies: AVX-512).
template <typename T>
FASTMLP_SIMD_CLONES void dropout_row(T* y, T* mask, const T* a, uint64_t stream, uint64_t base,
                                     int64_t width, uint64_t threshold, T scale) {
#pragma omp simd
  for (int64_t j = 0; j < width; ++j) {
    const T keep = dropout_bits(stream, base + uint64_t(j)) >= threshold ? scale : T(0);
    mask[j] = keep;
    y[j] = a[j] * keep;
  }
}

}  // namespace

template <typename T>
void dropout_forward(T* y, T* mask, const T* a, const int64_t* rows, int64_t first, int64_t m,
                     int64_t width, double p, uint64_t seed, int64_t layer,
                     int64_t row_units, int64_t first_unit) {
  const uint64_t stream = dropout_stream(seed, layer), threshold = dropout_threshold(p);
  const T scale = T(1.0 / (1.0 - p));
  const uint64_t units = uint64_t(row_units ? row_units : width);
  parallel_rows(m, width, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const uint64_t row = uint64_t(rows ? rows[i] : first + i);
      dropout_row(y + i * width, mask + i * width, a + i * width, stream,
                  row * units + uint64_t(first_unit), width, threshold, scale);
    }
  });
}

template <typename T>
void dropout_backward(T* delta, const T* mask, int64_t m, int64_t width) {
  parallel_rows(m * width, 1, [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) delta[i] *= mask[i];
  });
}

template void dropout_forward<float>(float*, float*, const float*, const int64_t*, int64_t,
                                     int64_t, int64_t, double, uint64_t, int64_t, int64_t,
                                     int64_t);
template void dropout_forward<double>(double*, double*, const double*, const int64_t*, int64_t,
                                      int64_t, int64_t, double, uint64_t, int64_t, int64_t,
                                      int64_t);
template void dropout_backward<float>(float*, const float*, int64_t, int64_t);
template void dropout_backward<double>(double*, const double*, int64_t, int64_t);

}  // namespace fastmlp
