// Inverted dropout: the masked forward pass and the backward multiply (see dropout.h).
#include "nn/dropout.h"

#include "common/parallel.h"
#include "common/simd_clones.h"

namespace fastmlp {

namespace {

// One row's masks, built per SIMD width: the hash is integer arithmetic (AVX-512 has the
// 64-bit multiplies), so every build draws the same masks.
template <typename T>
FASTMLP_SIMD_CLONES void dropout_row(T* y, T* mask, const T* a, uint64_t stream, uint64_t row,
                                     int64_t width, double p, T scale) {
#pragma omp simd
  for (int64_t j = 0; j < width; ++j) {
    const T keep = dropout_keep(stream, row, uint64_t(width), uint64_t(j), p, scale);
    mask[j] = keep;
    y[j] = a[j] * keep;
  }
}

}  // namespace

template <typename T>
void dropout_forward(T* y, T* mask, const T* a, const int64_t* rows, int64_t first, int64_t m,
                     int64_t width, double p, uint64_t seed, int64_t layer) {
  const uint64_t stream = dropout_stream(seed, layer);
  const T scale = T(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (worth_parallel(m * width))
  for (int64_t i = 0; i < m; ++i)
    dropout_row(y + i * width, mask + i * width, a + i * width, stream,
                uint64_t(rows ? rows[i] : first + i), width, p, scale);
}

template <typename T>
void dropout_backward(T* delta, const T* mask, int64_t m, int64_t width) {
  const int64_t n = m * width;
#pragma omp parallel for simd schedule(static) if (worth_parallel(n))
  for (int64_t i = 0; i < n; ++i) delta[i] *= mask[i];
}

template void dropout_forward<float>(float*, float*, const float*, const int64_t*, int64_t,
                                     int64_t, int64_t, double, uint64_t, int64_t);
template void dropout_forward<double>(double*, double*, const double*, const int64_t*, int64_t,
                                      int64_t, int64_t, double, uint64_t, int64_t);
template void dropout_backward<float>(float*, const float*, int64_t, int64_t);
template void dropout_backward<double>(double*, const double*, int64_t, int64_t);

}  // namespace fastmlp
