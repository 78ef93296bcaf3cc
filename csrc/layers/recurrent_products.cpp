// The products of a recurrent pass over all steps at once, in the blocked layout of
// layers/recurrent.h: every operand is a few long rows (a feature at every step of every
// row: steps * rows values, in vectors of kRecurrentLanes) and a small matrix of weights.
// Our GEMM would need those rows contiguous, and on these skinny shapes (the MNIST-1D
// GRU: 1 feature, 18 gate rows of 2560 values) it pads its operands to whole micro-tiles
// and packs a transposed B value by value, which costs far more than the arithmetic; so
// they run here on register tiles.
// Each output value is summed in one fixed order whatever the tiling or the threads.
// Tested through the layers (tests/test_layers_recurrent.py: sizes that leave every edge
// tile, fast against the oracle).
#include <algorithm>
#include <type_traits>

#include "common/parallel.h"
#include "common/simd_clones.h"
#include "layers/recurrent.h"

namespace fastmlp {

namespace {

constexpr int kTile = 4;  // rows of a tile of each operand of rows_dot_rows
constexpr int kCombineTile = 8;  // output rows of a tile of combine_rows
// Threads wake for products of at least this many multiply-adds (our GEMM's threshold):
// below it, waking them costs more than it saves, and far more on a busy machine; below
// it the loops run inline.
constexpr int64_t kParallelMinMacs = int64_t(1) << 22;

template <typename T>
FASTMLP_INLINE T* chunk_of(const FeatureRows<T>& r, int64_t blk, int64_t t) {
  return RecurrentPass<std::remove_const_t<T>>::chunk(r.base, r.features, r.steps_stored, blk, t);
}

// partial (TI, TJ, L) (+)= the products of rows i0.. of a and rows j0.. of b over steps
// [t0, t1) of block blk, lane by lane (first: partial starts from zero).
template <typename T, int TI, int TJ>
FASTMLP_INLINE void dot_tile(T* partial, FeatureRows<const T> a, int64_t i0,
                             FeatureRows<const T> b, int64_t j0, int64_t blk, int64_t t0,
                             int64_t t1, bool first) {
  constexpr int64_t L = kRecurrentLanes<T>;
  T acc[TI][TJ][L];
  for (int i = 0; i < TI; ++i)
    for (int j = 0; j < TJ; ++j) {
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) acc[i][j][l] = first ? T(0) : partial[(i * TJ + j) * L + l];
    }
  for (int64_t t = t0; t < t1; ++t) {
    const T* ac = chunk_of(a, blk, t) + i0 * L;
    const T* bc = chunk_of(b, blk, t) + j0 * L;
    for (int i = 0; i < TI; ++i)
      for (int j = 0; j < TJ; ++j) {
#pragma omp simd
        for (int64_t l = 0; l < L; ++l) acc[i][j][l] += ac[i * L + l] * bc[j * L + l];
      }
  }
  for (int i = 0; i < TI; ++i)
    for (int j = 0; j < TJ; ++j) {
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) partial[(i * TJ + j) * L + l] = acc[i][j][l];
    }
}

// The output tiles [tile0, tile1) (kTile x kTile, row-major over the tiles of c), over
// the steps of a block that fit in half an L2 at a time, so that they stay in cache while
// every tile reads them: lane-wise partial sums (kept in `partial`, kTile^2 L values per
// tile) over the blocks and steps in order, then the lanes in order.
template <typename T>
FASTMLP_SIMD_CLONES void dot_tiles(T* c, int64_t ldc, FeatureRows<const T> a,
                                   FeatureRows<const T> b, int64_t m, int64_t n, int64_t blocks,
                                   int64_t steps, bool accumulate, int64_t tile0, int64_t tile1,
                                   T* partial) {
  constexpr int64_t L = kRecurrentLanes<T>;
  constexpr int64_t kCacheBytes = 256 * 1024;
  const int64_t step_bytes = (a.features + b.features) * L * int64_t(sizeof(T));
  const int64_t range = std::max<int64_t>(1, kCacheBytes / step_bytes);
  const int64_t tj = (n + kTile - 1) / kTile;
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int64_t t0 = 0; t0 < steps; t0 += range)
      for (int64_t tile = tile0; tile < tile1; ++tile) {
        const int64_t i0 = tile / tj * kTile, j0 = tile % tj * kTile;
        const int64_t t1 = std::min(steps, t0 + range);
        const bool first = blk == 0 && t0 == 0;
        T* part = partial + tile * kTile * kTile * L;
        switch (std::min<int64_t>(kTile, m - i0) * 8 + std::min<int64_t>(kTile, n - j0)) {
#define FASTMLP_DOT(I, J)                                                  \
  case I * 8 + J:                                                          \
    dot_tile<T, I, J>(part, a, i0, b, j0, blk, t0, t1, first);             \
    break;
          FASTMLP_DOT(1, 1) FASTMLP_DOT(1, 2) FASTMLP_DOT(1, 3) FASTMLP_DOT(1, 4)
          FASTMLP_DOT(2, 1) FASTMLP_DOT(2, 2) FASTMLP_DOT(2, 3) FASTMLP_DOT(2, 4)
          FASTMLP_DOT(3, 1) FASTMLP_DOT(3, 2) FASTMLP_DOT(3, 3) FASTMLP_DOT(3, 4)
          FASTMLP_DOT(4, 1) FASTMLP_DOT(4, 2) FASTMLP_DOT(4, 3) FASTMLP_DOT(4, 4)
#undef FASTMLP_DOT
        }
      }
  for (int64_t tile = tile0; tile < tile1; ++tile) {
    const int64_t i0 = tile / tj * kTile, j0 = tile % tj * kTile;
    const int64_t ti = std::min<int64_t>(kTile, m - i0), tw = std::min<int64_t>(kTile, n - j0);
    const T* part = partial + tile * kTile * kTile * L;
    for (int64_t i = 0; i < ti; ++i)
      for (int64_t j = 0; j < tw; ++j) {
        T s = 0;
        for (int64_t l = 0; l < L; ++l) s += part[(i * tw + j) * L + l];
        T& out = c[(i0 + i) * ldc + j0 + j];
        out = accumulate ? out + s : s;
      }
  }
}

// Output rows i0 .. i0+TI of one chunk: out[i] = sum_j A(i, j) b[j], j in order.
template <typename T, int TI>
FASTMLP_INLINE void combine_tile(T* out, const T* a, int64_t ar, int64_t ac, const T* b,
                                 int64_t k) {
  constexpr int64_t L = kRecurrentLanes<T>;
  T acc[TI][L] = {};
  for (int64_t j = 0; j < k; ++j) {
    const T* bj = b + j * L;
    for (int i = 0; i < TI; ++i) {
      const T w = a[i * ar + j * ac];
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) acc[i][l] += w * bj[l];
    }
  }
  for (int i = 0; i < TI; ++i) {
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) out[i * L + l] = acc[i][l];
  }
}

template <typename T>
FASTMLP_SIMD_CLONES void combine_blocks(FeatureRows<T> out, const T* a, int64_t ar, int64_t ac,
                                        FeatureRows<const T> b, int64_t m, int64_t k,
                                        int64_t blk0, int64_t blk1, int64_t steps) {
  constexpr int64_t L = kRecurrentLanes<T>;
  for (int64_t blk = blk0; blk < blk1; ++blk)
    for (int64_t t = 0; t < steps; ++t) {
      T* oc = chunk_of(out, blk, t);
      const T* bc = chunk_of(b, blk, t);
      for (int64_t i0 = 0; i0 < m; i0 += kCombineTile) {
        const T* ai = a + i0 * ar;
        T* oi = oc + i0 * L;
        switch (std::min<int64_t>(kCombineTile, m - i0)) {
#define FASTMLP_COMBINE(I) \
  case I: combine_tile<T, I>(oi, ai, ar, ac, bc, k); break;
          FASTMLP_COMBINE(1) FASTMLP_COMBINE(2) FASTMLP_COMBINE(3) FASTMLP_COMBINE(4)
          FASTMLP_COMBINE(5) FASTMLP_COMBINE(6) FASTMLP_COMBINE(7) FASTMLP_COMBINE(8)
#undef FASTMLP_COMBINE
        }
      }
    }
}

}  // namespace

template <typename T>
void rows_dot_rows(T* c, int64_t ldc, FeatureRows<const T> a, FeatureRows<const T> b,
                   int64_t m, int64_t n, int64_t blocks, int64_t steps, bool accumulate,
                   T* partial) {
  constexpr int64_t kTilesPerTask = 4;
  const int64_t tiles = (m + kTile - 1) / kTile * ((n + kTile - 1) / kTile);
  const int64_t tasks = (tiles + kTilesPerTask - 1) / kTilesPerTask;
  const auto run = [&](int64_t task) {
    dot_tiles(c, ldc, a, b, m, n, blocks, steps, accumulate, task * kTilesPerTask,
              std::min(tiles, (task + 1) * kTilesPerTask), partial);
  };
  const bool big = tasks > 1 && m * n * blocks * steps * kRecurrentLanes<T> >= kParallelMinMacs;
  parallel_for(tasks, big ? max_threads() : 1, run);
}

int64_t rows_dot_rows_partial(int64_t m, int64_t n) {
  return (m + kTile - 1) / kTile * ((n + kTile - 1) / kTile) * kTile * kTile;
}

template <typename T>
void combine_rows(FeatureRows<T> out, const T* a, int64_t ar, int64_t ac, FeatureRows<const T> b,
                  int64_t m, int64_t k, int64_t blocks, int64_t steps) {
  constexpr int64_t kBlocksPerTask = 4;
  const int64_t tasks = (blocks + kBlocksPerTask - 1) / kBlocksPerTask;
  const auto run = [&](int64_t task) {
    combine_blocks(out, a, ar, ac, b, m, k, task * kBlocksPerTask,
                   std::min(blocks, (task + 1) * kBlocksPerTask), steps);
  };
  const bool big = tasks > 1 && m * k * blocks * steps * kRecurrentLanes<T> >= kParallelMinMacs;
  parallel_for(tasks, big ? max_threads() : 1, run);
}

template void rows_dot_rows<float>(float*, int64_t, FeatureRows<const float>,
                                   FeatureRows<const float>, int64_t, int64_t, int64_t, int64_t,
                                   bool, float*);
template void rows_dot_rows<double>(double*, int64_t, FeatureRows<const double>,
                                    FeatureRows<const double>, int64_t, int64_t, int64_t, int64_t,
                                    bool, double*);
template void combine_rows<float>(FeatureRows<float>, const float*, int64_t, int64_t,
                                  FeatureRows<const float>, int64_t, int64_t, int64_t, int64_t);
template void combine_rows<double>(FeatureRows<double>, const double*, int64_t, int64_t,
                                   FeatureRows<const double>, int64_t, int64_t, int64_t, int64_t);

}  // namespace fastmlp
