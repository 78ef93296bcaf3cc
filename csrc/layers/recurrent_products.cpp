// The products of a recurrent pass over all steps at once, in the (feature, step, row)
// layout of layers/recurrent.h: every operand is a few long contiguous rows (steps * rows
// values) and a small matrix of weights. Our GEMM pads its operands to whole micro-tiles
// and packs a transposed B value by value, which on these skinny shapes (the MNIST-1D GRU:
// 1 feature, 18 gate rows, 2560 values per row) costs far more than the arithmetic, so they
// run here on register tiles of long rows; recurrent.cpp hands larger ones to the GEMM.
// Each output value is summed in one fixed order whatever the tiling or the threads.
// Tested through the layers (tests/test_layers_recurrent.py: sizes that leave every edge
// tile, fast against the oracle).
#include <algorithm>

#include "common/simd_clones.h"
#include "layers/recurrent.h"

namespace fastmlp {

namespace {

constexpr int kTile = 4;  // rows of a tile of each operand
// Threads wake for products of at least this many multiply-adds (our GEMM's threshold):
// below it, waking them costs more than it saves, and far more on a busy machine; below
// it the loops do not even enter a serial region (a microsecond each).
constexpr int64_t kParallelMinMacs = int64_t(1) << 22;

// c (TI, TJ) (+)= a (TI, K) @ b (TJ, K)^T: lane-wise partial sums over K in order, then the
// lanes in order.
template <typename T, int TI, int TJ>
FASTMLP_INLINE void dot_tile(T* c, int64_t ldc, const T* a, int64_t lda, const T* b,
                             int64_t ldb, int64_t K, bool accumulate) {
  constexpr int64_t L = kRecurrentLanes<T>;
  T acc[TI][TJ][L] = {};
  for (int64_t k = 0; k < K; k += L)
    for (int i = 0; i < TI; ++i)
      for (int j = 0; j < TJ; ++j) {
        const T* ai = a + i * lda + k;
        const T* bj = b + j * ldb + k;
#pragma omp simd
        for (int64_t l = 0; l < L; ++l) acc[i][j][l] += ai[l] * bj[l];
      }
  for (int i = 0; i < TI; ++i)
    for (int j = 0; j < TJ; ++j) {
      T s = 0;
      for (int64_t l = 0; l < L; ++l) s += acc[i][j][l];
      T& out = c[i * ldc + j];
      out = accumulate ? out + s : s;
    }
}

template <typename T>
FASTMLP_SIMD_CLONES void dot_tiles(T* c, int64_t ldc, const T* a, int64_t lda, const T* b,
                                   int64_t ldb, int64_t m, int64_t n, int64_t K,
                                   bool accumulate, int64_t i0, int64_t j0) {
  const int ti = int(std::min<int64_t>(kTile, m - i0)), tj = int(std::min<int64_t>(kTile, n - j0));
  c += i0 * ldc + j0;
  a += i0 * lda;
  b += j0 * ldb;
  switch (ti * 8 + tj) {
#define FASTMLP_DOT(I, J) \
  case I * 8 + J: return dot_tile<T, I, J>(c, ldc, a, lda, b, ldb, K, accumulate);
    FASTMLP_DOT(1, 1) FASTMLP_DOT(1, 2) FASTMLP_DOT(1, 3) FASTMLP_DOT(1, 4)
    FASTMLP_DOT(2, 1) FASTMLP_DOT(2, 2) FASTMLP_DOT(2, 3) FASTMLP_DOT(2, 4)
    FASTMLP_DOT(3, 1) FASTMLP_DOT(3, 2) FASTMLP_DOT(3, 3) FASTMLP_DOT(3, 4)
    FASTMLP_DOT(4, 1) FASTMLP_DOT(4, 2) FASTMLP_DOT(4, 3) FASTMLP_DOT(4, 4)
#undef FASTMLP_DOT
  }
}

// c (TI, V lanes-wide columns) = a (TI, k) @ b (k, those columns), a(i, j) = a[i*ar + j*ac].
template <typename T, int TI, int V>
FASTMLP_INLINE void combine_tile(T* c, int64_t ldc, const T* a, int64_t ar, int64_t ac,
                                 const T* b, int64_t ldb, int64_t k) {
  constexpr int64_t L = kRecurrentLanes<T>;
  T acc[TI][V][L] = {};
  for (int64_t kk = 0; kk < k; ++kk)
    for (int v = 0; v < V; ++v) {
      const T* bv = b + kk * ldb + v * L;
      for (int i = 0; i < TI; ++i) {
        const T w = a[i * ar + kk * ac];
#pragma omp simd
        for (int64_t l = 0; l < L; ++l) acc[i][v][l] += w * bv[l];
      }
    }
  for (int i = 0; i < TI; ++i)
    for (int v = 0; v < V; ++v) {
      T* out = c + i * ldc + v * L;
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) out[l] = acc[i][v][l];
    }
}

template <typename T>
FASTMLP_SIMD_CLONES void combine_columns(T* c, int64_t ldc, const T* a, int64_t ar, int64_t ac,
                                         const T* b, int64_t ldb, int64_t m, int64_t k,
                                         int64_t col0, int64_t col1) {
  constexpr int64_t L = kRecurrentLanes<T>;
  for (int64_t i0 = 0; i0 < m; i0 += kTile) {
    const int ti = int(std::min<int64_t>(kTile, m - i0));
    const T* ai = a + i0 * ar;
    T* ci = c + i0 * ldc;
    for (int64_t col = col0; col < col1;) {
      const bool wide = col + kTile * L <= col1;
      switch (ti * 8 + (wide ? kTile : 1)) {
#define FASTMLP_COMBINE(I, V)                                                    \
  case I * 8 + V:                                                                \
    combine_tile<T, I, V>(ci + col, ldc, ai, ar, ac, b + col, ldb, k);           \
    break;
        FASTMLP_COMBINE(1, 1) FASTMLP_COMBINE(2, 1) FASTMLP_COMBINE(3, 1) FASTMLP_COMBINE(4, 1)
        FASTMLP_COMBINE(1, 4) FASTMLP_COMBINE(2, 4) FASTMLP_COMBINE(3, 4) FASTMLP_COMBINE(4, 4)
#undef FASTMLP_COMBINE
      }
      col += wide ? kTile * L : L;
    }
  }
}

}  // namespace

template <typename T>
void rows_dot_rows(T* c, int64_t ldc, const T* a, int64_t lda, const T* b, int64_t ldb,
                   int64_t m, int64_t n, int64_t K, bool accumulate) {
  const int64_t ti = (m + kTile - 1) / kTile, tj = (n + kTile - 1) / kTile;
  const auto run = [&](int64_t task) {
    dot_tiles(c, ldc, a, lda, b, ldb, m, n, K, accumulate, task / tj * kTile, task % tj * kTile);
  };
  if (ti * tj > 1 && m * n * K >= kParallelMinMacs) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t task = 0; task < ti * tj; ++task) run(task);
  } else {
    for (int64_t task = 0; task < ti * tj; ++task) run(task);
  }
}

template <typename T>
void combine_rows(T* c, int64_t ldc, const T* a, int64_t ar, int64_t ac, const T* b,
                  int64_t ldb, int64_t m, int64_t k, int64_t N) {
  constexpr int64_t kColumnsPerTask = 1024;  // a multiple of the tiles' width
  const int64_t tasks = (N + kColumnsPerTask - 1) / kColumnsPerTask;
  const auto run = [&](int64_t task) {
    combine_columns(c, ldc, a, ar, ac, b, ldb, m, k, task * kColumnsPerTask,
                    std::min(N, (task + 1) * kColumnsPerTask));
  };
  if (tasks > 1 && m * k * N >= kParallelMinMacs) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) run(task);
  } else {
    for (int64_t task = 0; task < tasks; ++task) run(task);
  }
}

template void rows_dot_rows<float>(float*, int64_t, const float*, int64_t, const float*, int64_t,
                                   int64_t, int64_t, int64_t, bool);
template void rows_dot_rows<double>(double*, int64_t, const double*, int64_t, const double*,
                                    int64_t, int64_t, int64_t, int64_t, bool);
template void combine_rows<float>(float*, int64_t, const float*, int64_t, int64_t, const float*,
                                  int64_t, int64_t, int64_t, int64_t);
template void combine_rows<double>(double*, int64_t, const double*, int64_t, int64_t,
                                   const double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace fastmlp
