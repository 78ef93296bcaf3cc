// Inverted dropout: the masked forward pass and the backward multiply (see dropout.h).
#include "nn/dropout.h"

#include "common/parallel.h"

namespace fastmlp {

template <typename T>
void dropout_forward(T* y, T* mask, const T* a, const int64_t* rows, int64_t first, int64_t m,
                     int64_t width, double p, uint64_t seed, int64_t layer) {
  const uint64_t stream = dropout_stream(seed, layer);
  const T scale = T(1.0 / (1.0 - p));
  parallel_rows(m, width, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const uint64_t row = uint64_t(rows ? rows[i] : first + i);
      for (int64_t j = 0; j < width; ++j) {
        const T keep = dropout_keep(stream, row, uint64_t(width), uint64_t(j), p, scale);
        mask[i * width + j] = keep;
        y[i * width + j] = a[i * width + j] * keep;
      }
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
                                     int64_t, int64_t, double, uint64_t, int64_t);
template void dropout_forward<double>(double*, double*, const double*, const int64_t*, int64_t,
                                      int64_t, int64_t, double, uint64_t, int64_t);
template void dropout_backward<float>(float*, const float*, int64_t, int64_t);
template void dropout_backward<double>(double*, const double*, int64_t, int64_t);

}  // namespace fastmlp
