// Dense layer kernels on top of our GEMM, plus the CSR variants of the first layer.
#include "nn/dense.h"

#include <algorithm>
#include <cstring>

#include "common/parallel.h"
#include "common/simd_clones.h"

namespace fastmlp {

namespace {

// db (out) (+)= column sums of delta (m,out) with row stride ld, rows in order:
// thread-count independent.
// Blocks of columns are summed in a local accumulator that stays in registers over all
// the rows (adding into db itself re-read and re-wrote db for every row). db null (a
// layer without bias): nothing.
template <typename T>
FASTMLP_SIMD_CLONES void column_sums(T* __restrict db, const T* __restrict delta, int64_t m,
                                     int64_t out, bool accumulate, int64_t ld) {
  if (!db) return;
  constexpr int64_t kCols = 64 / sizeof(T) * 4;  // four vectors of the widest SIMD
  for (int64_t j0 = 0; j0 < out; j0 += kCols) {
    const int64_t w = std::min(kCols, out - j0);
    T acc[kCols];
    for (int64_t j = 0; j < w; ++j) acc[j] = accumulate ? db[j0 + j] : T(0);
    for (int64_t i = 0; i < m; ++i) {
      const T* row = delta + i * ld + j0;
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) acc[j] += row[j];
    }
    for (int64_t j = 0; j < w; ++j) db[j0 + j] = acc[j];
  }
}

template <typename T>
void fill_rows_with_bias(T* y, const T* b, int64_t m, int64_t out) {
  parallel_rows(m, out, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) std::memcpy(y + i * out, b, sizeof(T) * out);
  });
}

}  // namespace

template <typename T>
void dense_forward(Activation f, T* y, const T* x, const T* w, const T* b, int64_t m, int64_t in,
                   int64_t out, GemmWorkspace& ws, Precision precision) {
  // beta = 0 writes y without reading it; bias and activation follow in one pass.
  gemm_as<T>(precision, false, false, m, out, in, T(1), x, in, w, out, T(0), y, out, ws);
  activation_forward(f, y, m, out, b);
}

template <typename T>
void dense_forward_csr(Activation f, T* y, const InputMatrix<T>& X, const int64_t* rows,
                       int64_t first, const T* w, const T* b, int64_t m, int64_t out) {
  fill_rows_with_bias(y, b, m, out);
  parallel_rows(m, out, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r = rows ? rows[i] : first + i;
      T* yi = y + i * out;
      for (int64_t p = X.indptr[r]; p < X.indptr[r + 1]; ++p) {
        const T v = X.data[p];
        const T* wr = w + X.indices[p] * out;
#pragma omp simd
        for (int64_t j = 0; j < out; ++j) yi[j] += v * wr[j];
      }
    }
  });
  activation_forward(f, y, m, out);
}

template <typename T>
void dense_backward_weights(T* dw, T* db, const T* x, const T* delta, int64_t m, int64_t in,
                            int64_t out, bool accumulate, GemmWorkspace& ws,
                            Precision precision) {
  gemm_as<T>(precision, true, false, in, out, m, T(1), x, in, delta, out,
             accumulate ? T(1) : T(0), dw, out, ws);
  column_sums(db, delta, m, out, accumulate, out);
}

template <typename T>
void dense_backward_weights_csr(T* dw, T* db, const InputMatrix<T>& X, const int64_t* rows,
                                int64_t first, const T* delta, int64_t m, int64_t out,
                                bool accumulate) {
  if (!accumulate) std::fill(dw, dw + X.d * out, T(0));
  // Threads own disjoint column blocks of dw and each walks all rows in order, so
  // the scatter needs no atomics and sums in the same order for any thread count.
  constexpr int64_t kBlock = 64;
  const int64_t n_blocks = (out + kBlock - 1) / kBlock;
  parallel_for(n_blocks, worth_parallel(m * out) ? max_threads() : 1, [&](int64_t blk) {
    const int64_t j0 = blk * kBlock, j1 = std::min(out, j0 + kBlock);
    for (int64_t i = 0; i < m; ++i) {
      const int64_t r = rows ? rows[i] : first + i;
      const T* di = delta + i * out;
      for (int64_t p = X.indptr[r]; p < X.indptr[r + 1]; ++p) {
        const T v = X.data[p];
        T* dwr = dw + X.indices[p] * out;
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) dwr[j] += v * di[j];
      }
    }
  });
  column_sums(db, delta, m, out, accumulate, out);
}

template <typename T>
void dense_bias_grad(T* db, const T* delta, int64_t m, int64_t out, int64_t ld, bool accumulate) {
  column_sums(db, delta, m, out, accumulate, ld);
}

template <typename T>
void dense_backward_input(T* dx, const T* delta, const T* w, int64_t m, int64_t in, int64_t out,
                          GemmWorkspace& ws, Precision precision) {
  gemm_as<T>(precision, false, true, m, in, out, T(1), delta, out, w, out, T(0), dx, in, ws);
}

#define FASTMLP_INSTANTIATE(T)                                                                  \
  template void dense_forward<T>(Activation, T*, const T*, const T*, const T*, int64_t, int64_t, \
                                 int64_t, GemmWorkspace&, Precision);                           \
  template void dense_forward_csr<T>(Activation, T*, const InputMatrix<T>&, const int64_t*,     \
                                     int64_t, const T*, const T*, int64_t, int64_t);            \
  template void dense_bias_grad<T>(T*, const T*, int64_t, int64_t, int64_t, bool);              \
  template void dense_backward_weights<T>(T*, T*, const T*, const T*, int64_t, int64_t,         \
                                          int64_t, bool, GemmWorkspace&, Precision);            \
  template void dense_backward_weights_csr<T>(T*, T*, const InputMatrix<T>&, const int64_t*,    \
                                              int64_t, const T*, int64_t, int64_t, bool);       \
  template void dense_backward_input<T>(T*, const T*, const T*, int64_t, int64_t, int64_t,      \
                                        GemmWorkspace&, Precision);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
