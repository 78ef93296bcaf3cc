// Dense layer kernels on top of our GEMM, plus the CSR variants of the first layer.
#include "nn/dense.h"

#include <algorithm>
#include <cstring>

#include "common/parallel.h"
#include "common/simd_clones.h"
#include "nn/activation_math.h"

namespace fastmlp {

namespace {

// Columns of a block of column sums: four vectors of the widest SIMD, summed in local
// accumulators that stay in registers over the block's rows (adding into db itself re-read
// and re-wrote db for every row).
template <typename T>
constexpr int64_t kSumCols = 64 / sizeof(T) * 4;

// Whether F's backward pass scales delta: not identity, nor the output activations whose
// derivative the loss gradient folds in.
constexpr bool scales_delta(Activation F) {
  return F != Activation::identity && F != Activation::softmax && F != Activation::exp;
}

// db (w <= kSumCols) (+)= column sums of the m rows of delta (row stride ld), rows in
// order. When F scales delta (scales_delta), delta is first multiplied by the derivative
// (activation_delta, from a and z laid out as delta) and stored back, in the same pass.
template <Activation F, typename T>
FASTMLP_SIMD_CLONES void column_block_sums(T* __restrict db, T* __restrict delta,
                                           const T* __restrict a, const T* __restrict z,
                                           int64_t m, int64_t w, bool accumulate, int64_t ld) {
  constexpr int64_t kCols = kSumCols<T>;
  T acc[kCols];
  for (int64_t j = 0; j < w; ++j) acc[j] = accumulate ? db[j] : T(0);
  for (int64_t i = 0; i < m; ++i) {
    T* row = delta + i * ld;
    if constexpr (!scales_delta(F)) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) acc[j] += row[j];
    } else {
      const T* ar = a + i * ld;
      const T* zr = activation_needs_preactivation(F) ? z + i * ld : nullptr;
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) {
        const T d = activation_delta<F>(row[j], ar[j], zr ? zr[j] : T(0));
        row[j] = d;
        acc[j] += d;
      }
    }
  }
  for (int64_t j = 0; j < w; ++j) db[j] = acc[j];
}

// db (out) (+)= column sums of delta (m,out) with row stride ld, after scaling delta by F's
// derivative (see column_block_sums). Every column adds its rows in order, so neither the
// thread count nor the blocking changes a bit. Each task takes a range of whole cache lines
// of columns and walks it in chunks of rows small enough to stay in L1 while each block of
// the range's columns is summed: a block at a time over all the rows read delta's rows
// once per block, from L3 for a full batch (1,797 x 100 digits rows: 9% of a gradient
// pass, against 6% for this). db null (a layer without bias): only the scaling.
template <Activation F, typename T>
void column_sums(T* db, T* delta, const T* a, const T* z, int64_t m, int64_t out,
                 bool accumulate, int64_t ld) {
  if (!db) {
    if constexpr (scales_delta(F)) activation_backward(F, delta, a, m, out, z);
    return;
  }
  constexpr int64_t kLine = 64 / sizeof(T), kChunkBytes = 8192;
  const int64_t tasks = worth_parallel(m * out) ? max_threads() : 1;
  const int64_t per = (out + tasks - 1) / tasks, cols = (per + kLine - 1) / kLine * kLine;
  const auto at = [ld](auto* p, int64_t i, int64_t j) { return p ? p + i * ld + j : p; };
  parallel_for((out + cols - 1) / cols, tasks, [&](int64_t t) {
    const int64_t c0 = t * cols, c1 = std::min(out, c0 + cols);
    const int64_t rows = std::max<int64_t>(1, kChunkBytes / ((c1 - c0) * int64_t(sizeof(T))));
    for (int64_t r0 = 0; r0 < m; r0 += rows)
      for (int64_t j0 = c0; j0 < c1; j0 += kSumCols<T>)
        column_block_sums<F>(db + j0, at(delta, r0, j0), at(a, r0, j0), at(z, r0, j0),
                             std::min(rows, m - r0), std::min(kSumCols<T>, c1 - j0),
                             accumulate || r0 > 0, ld);
  });
}

// The plain column sums of a bias gradient (identity only reads delta).
template <typename T>
void column_sums(T* db, const T* delta, int64_t m, int64_t out, bool accumulate, int64_t ld) {
  column_sums<Activation::identity>(db, const_cast<T*>(delta), static_cast<const T*>(nullptr),
                                    static_cast<const T*>(nullptr), m, out, accumulate, ld);
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
void dense_backward_activation(Activation f, T* delta, const T* a, const T* z, T* db, int64_t m,
                               int64_t out, bool accumulate) {
  visit_activation(f, [&](auto tag) {
    column_sums<decltype(tag)::value>(db, delta, a, z, m, out, accumulate, out);
  });
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
  template void dense_backward_activation<T>(Activation, T*, const T*, const T*, T*, int64_t,   \
                                             int64_t, bool);                                    \
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
