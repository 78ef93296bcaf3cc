// Direct convolution kernels (see conv_direct.h). The register blocks are fixed-size arrays
// the compiler keeps in vector registers: R output positions x kConvLanes filters forward,
// RK taps x kConvLanes filters for the kernel gradient; with one input channel, R rows x
// a vector of positions x NF filters forward, RK vectors of (filter, tap of a pair) for
// the gradient.
#include "layers/conv_direct.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "common/parallel.h"
#include "common/simd_clones.h"

namespace fastmlp {

namespace {

// y rows r < rows (row stride ldy), lanes l < count: the windows at x[r] (+ off[j]) @ w,
// plus the bias, then relu when `relu`. The block always computes kRows windows (the rows
// beyond `rows` repeat a valid one) and stores `rows` of them: a partial block costs no
// more than a full one, where smaller blocks would run at a fraction of the speed.
constexpr int kRows = 8;

template <int64_t L, typename T>
FASTMLP_SIMD_CLONES void forward_block(T* y, int64_t ldy, int64_t rows, const T* const* x,
                                       const int64_t* off, int64_t k, const T* w,
                                       const T* bias, bool relu, int64_t count) {
  const T* xr[kRows];
  for (int r = 0; r < kRows; ++r) xr[r] = x[r];
  T acc[kRows][L] = {};
  for (int64_t j = 0; j < k; ++j) {
    const T* wj = w + j * L;
    const int64_t o = off[j];
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const T v = xr[r][o];
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) acc[r][l] += v * wj[l];
    }
  }
  // The bias and a relu fused into the store (relu keeps a NaN, as activation_value).
  for (int r = 0; r < rows; ++r)
    for (int64_t l = 0; l < count; ++l) {
      const T v = acc[r][l] + bias[l];
      y[r * ldy + l] = relu && v < T(0) ? T(0) : v;
    }
}

// One input channel, stride 1 along the width (conv_by_positions): the inputs of one
// window tap at W consecutive output positions are contiguous, so a vector holds W
// positions and each filter's weight is broadcast -- where forward_block, with one
// channel, spends a broadcast per multiply-add and most of its lanes on absent filters.
// R output rows share the weights' loads. Each output is forward_block's chain (the taps
// in order, one multiply-add each, then the bias and relu): the same bits.
// y (R rows of ldy, count positions x NF filters) from x: the window rows of output row r,
// position l, tap (a, b) at x[r*ldx + a*ldw + b + l]. w (k, L): filter f of tap j at w[j*L + f].
template <int R, int NF, typename T>
FASTMLP_SIMD_CLONES void forward_positions_block(T* y, int64_t ldy, int64_t count, const T* x,
                                                 int64_t ldx, int64_t ldw, int64_t kh,
                                                 int64_t kw, const T* w, int64_t L,
                                                 const T* bias, bool relu) {
  constexpr int64_t W = kPositionLanes<T>;
  T acc[R][NF][W] = {};
  for (int64_t a = 0; a < kh; ++a)
    for (int64_t b = 0; b < kw; ++b) {
      const T* wj = w + (a * kw + b) * L;
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) {
        const T* xr = x + r * ldx + a * ldw + b;
#pragma GCC unroll 8
        for (int f = 0; f < NF; ++f) {
          const T v = wj[f];
#pragma omp simd
          for (int64_t l = 0; l < W; ++l) acc[r][f][l] += xr[l] * v;
        }
      }
    }
  // The bias and relu in registers (a branch per value would be mispredicted half the
  // time), then the positions x filters transposed into y.
  for (int r = 0; r < R; ++r)
    for (int f = 0; f < NF; ++f) {
      const T bf = bias[f];
#pragma omp simd
      for (int64_t l = 0; l < W; ++l) {
        const T v = acc[r][f][l] + bf;
        acc[r][f][l] = relu && v < T(0) ? T(0) : v;
      }
    }
  for (int r = 0; r < R; ++r)
    for (int64_t l = 0; l < count; ++l)
      for (int f = 0; f < NF; ++f) y[r * ldy + l * NF + f] = acc[r][f][l];
}

// Rows [p, p + R) of sample i's output, all positions. Rows at least W wide take blocks
// of W positions, the last one shifted back to end at the row's end (it recomputes a few
// outputs, the same values); narrower ones read a zero-padded copy of their windows.
template <int R, int NF, typename T>
void forward_positions_rows(T* y, const T* xp, const T* wpad, const T* bpad, bool relu,
                            const DirectConv& g, int64_t i, int64_t p) {
  constexpr int64_t W = kPositionLanes<T>;
  const T* x = xp + i * g.sample() + p * g.sh * g.wp;
  T* yr = y + ((i * g.oh + p) * g.ow) * NF;
  const int64_t ldy = g.ow * NF, ldx = g.sh * g.wp;
  if (g.ow >= W) {
    for (int64_t q = 0; q < g.ow; q += W) {
      const int64_t q0 = std::min(q, g.ow - W);
      forward_positions_block<R, NF>(yr + q0 * NF, ldy, W, x + q0, ldx, g.wp, g.kh, g.kw, wpad,
                                     g.lanes, bpad, relu);
    }
    return;
  }
  const int64_t ldw = W + g.kw - 1;  // local rows: the windows of W positions
  T local[R * kPositionLocal];
  for (int r = 0; r < R; ++r)
    for (int64_t a = 0; a < g.kh; ++a) {
      T* dst = local + (r * g.kh + a) * ldw;
      const T* src = x + r * ldx + a * g.wp;
      const int64_t n_in = g.ow + g.kw - 1;
      std::copy(src, src + n_in, dst);
      std::fill(dst + n_in, dst + ldw, T(0));
    }
  forward_positions_block<R, NF>(yr, ldy, g.ow, local, g.kh * ldw, ldw, g.kh, g.kw, wpad,
                                 g.lanes, bpad, relu);
}

// Walks the output positions (i, p, q) of the batch in order without a division per step.
struct PositionWalk {
  const DirectConv& g;
  int64_t i, p, q;
  int64_t at;  // offset in xp of the window of the current position
  PositionWalk(const DirectConv& geometry, int64_t t)
      : g(geometry), i(t / g.positions()), p(t % g.positions() / g.ow), q(t % g.ow),
        at(i * g.sample() + (p * g.sh * g.wp + q * g.sw) * g.c) {}
  int64_t base() const { return at; }
  void next() {
    if (++q < g.ow) {
      at += g.sw * g.c;
      return;
    }
    q = 0;
    if (++p == g.oh) {
      p = 0;
      ++i;
    }
    at = i * g.sample() + p * g.sh * g.wp * g.c;
  }
};

// out (RK, lanes) += sum over the tile's positions t of x[base[t] + offs[r]] * dyp[t].
template <int RK, int64_t L, typename T>
FASTMLP_SIMD_CLONES void weights_block(T* out, const T* xp, const int64_t* base, int64_t count,
                                       const T* dyp, const int64_t* offs) {
  T acc[RK][L];
  for (int r = 0; r < RK; ++r)
    for (int64_t l = 0; l < L; ++l) acc[r][l] = out[r * L + l];
  for (int64_t t = 0; t < count; ++t) {
    const T* b = xp + base[t];
    const T* d = dyp + t * L;
#pragma GCC unroll 8
    for (int r = 0; r < RK; ++r) {
      const T v = b[offs[r]];
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) acc[r][l] += v * d[l];
    }
  }
  for (int r = 0; r < RK; ++r)
    for (int64_t l = 0; l < L; ++l) out[r * L + l] = acc[r][l];
}

// fn(std::integral_constant<int, RK>{}) for RK = rows in [1, 2 * kRows).
template <typename Fn>
void with_rows(int64_t rows, Fn&& fn) {
  switch (rows) {
#define FASTMLP_ROWS_CASE(RK) \
  case RK: return fn(std::integral_constant<int, RK>{});
    FASTMLP_ROWS_CASE(1) FASTMLP_ROWS_CASE(2) FASTMLP_ROWS_CASE(3) FASTMLP_ROWS_CASE(4)
    FASTMLP_ROWS_CASE(5) FASTMLP_ROWS_CASE(6) FASTMLP_ROWS_CASE(7) FASTMLP_ROWS_CASE(8)
    FASTMLP_ROWS_CASE(9) FASTMLP_ROWS_CASE(10) FASTMLP_ROWS_CASE(11) FASTMLP_ROWS_CASE(12)
    FASTMLP_ROWS_CASE(13) FASTMLP_ROWS_CASE(14) FASTMLP_ROWS_CASE(15)
#undef FASTMLP_ROWS_CASE
    default: return;
  }
}

// All k taps: blocks of kRows, the last one taking the rest too (up to 2 * kRows - 1
// rows: a block of a few rows alone would pay the tile's loop for little work).
template <int64_t L, typename T>
void weights_rows(T* out, const T* xp, const int64_t* base, int64_t count, const T* dyp,
                  const int64_t* off, int64_t k) {
  int64_t j = 0;
  for (; k - j >= 2 * kRows; j += kRows)
    weights_block<kRows, L>(out + j * L, xp, base, count, dyp, off + j);
  with_rows(k - j, [&](auto rows) {
    weights_block<decltype(rows)::value, L>(out + j * L, xp, base, count, dyp, off + j);
  });
}

// By pairs (conv_by_pairs): out (RK, V) += sum over the tile's positions t of the pair
// of taps at x[base[t] + offs[r]], x[.. + 1] (lanes alternate) times dyp2[t] (each
// filter's dy twice). Lane 2f + h is tap h of the pair and filter f: the same chain of
// multiply-adds over the positions as weights_block's, so the same bits.
template <int RK, typename T>
FASTMLP_SIMD_CLONES void pairs_block(T* out, const T* xp, const int64_t* base, int64_t count,
                                     const T* dyp2, const int64_t* offs) {
  constexpr int64_t V = kPositionLanes<T>, S = V / 2;  // S pairs of values
  struct alignas(2 * sizeof(T)) Pair { T v[2]; };
  T acc[RK][V];
  for (int r = 0; r < RK; ++r)
    for (int64_t l = 0; l < V; ++l) acc[r][l] = out[r * V + l];
  for (int64_t t = 0; t < count; ++t) {
    const T* b = xp + base[t];
    const T* d = dyp2 + t * V;
#pragma GCC unroll 16
    for (int r = 0; r < RK; ++r) {
      Pair pair;
      std::memcpy(&pair, b + offs[r], sizeof pair);
      Pair rep[S];
      for (int64_t l = 0; l < S; ++l) rep[l] = pair;
      T xv[V];
      std::memcpy(xv, rep, sizeof xv);
#pragma omp simd
      for (int64_t l = 0; l < V; ++l) acc[r][l] += xv[l] * d[l];
    }
  }
  for (int r = 0; r < RK; ++r)
    for (int64_t l = 0; l < V; ++l) out[r * V + l] = acc[r][l];
}

// All pairs of the window: blocks of kRows, the last one taking the rest too.
template <typename T>
void pairs_rows(T* out, const T* xp, const int64_t* base, int64_t count, const T* dyp2,
                const int64_t* offs, int64_t pairs) {
  constexpr int64_t V = kPositionLanes<T>;
  int64_t j = 0;
  for (; pairs - j >= 2 * kRows; j += kRows)
    pairs_block<kRows>(out + j * V, xp, base, count, dyp2, offs + j);
  with_rows(pairs - j, [&](auto rows) {
    pairs_block<decltype(rows)::value>(out + j * V, xp, base, count, dyp2, offs + j);
  });
}

// For R output positions r: dcol[r*ldc + j0 .. + V*lanes) = dy[r*filters ..] (filters) @
// wt[:, j0 ..] (rows of kp columns), in registers. R positions at once share the loads of
// wt and give the FMAs R*V independent chains (one position's V would wait on latency).
template <int R, int V, typename T>
FASTMLP_SIMD_CLONES void input_gradient_block(T* dcol, int64_t ldc, const T* dy, const T* wt,
                                              int64_t filters, int64_t kp) {
  constexpr int64_t L = kConvLanes<T>;
  T acc[R][V][L];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v)
      for (int64_t l = 0; l < L; ++l) acc[r][v][l] = T(0);
  for (int64_t f = 0; f < filters; ++f) {
    const T* w = wt + f * kp;
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) {
      const T a = dy[r * filters + f];
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
#pragma omp simd
        for (int64_t l = 0; l < L; ++l) acc[r][v][l] += a * w[v * L + l];
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v)
      for (int64_t l = 0; l < L; ++l) dcol[r * ldc + v * L + l] = acc[r][v][l];
}

// dcol (R, ldc): R positions' window gradients, dy (R, filters) @ wt (filters, kp), in
// blocks of up to 4 x lanes columns.
template <int R, typename T>
void input_gradient_rows(T* dcol, int64_t ldc, const T* dy, const T* wt, int64_t filters,
                         int64_t k, int64_t kp) {
  constexpr int64_t L = kConvLanes<T>;
  for (int64_t j0 = 0; j0 < k; j0 += 4 * L) {
    const int64_t vectors = std::min<int64_t>(4, (k - j0 + L - 1) / L);
    T* d = dcol + j0;
    const T* w = wt + j0;
    switch (vectors) {
      case 4: input_gradient_block<R, 4>(d, ldc, dy, w, filters, kp); break;
      case 3: input_gradient_block<R, 3>(d, ldc, dy, w, filters, kp); break;
      case 2: input_gradient_block<R, 2>(d, ldc, dy, w, filters, kp); break;
      default: input_gradient_block<R, 1>(d, ldc, dy, w, filters, kp); break;
    }
  }
}

// s (L) = the sums of the rows of d (rows, L), each lane's in row order.
template <int64_t L, typename T>
FASTMLP_SIMD_CLONES void column_sums(T* s, const T* d, int64_t rows) {
  T acc[L] = {};
  for (int64_t r = 0; r < rows; ++r)
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) acc[l] += d[r * L + l];
  for (int64_t l = 0; l < L; ++l) s[l] = acc[l];
}

// d[a*ldd + t] += src[a*run + t] for a < rows, t < run: a window's gradient into dx.
template <typename T>
FASTMLP_SIMD_CLONES void add_window(T* d, int64_t ldd, const T* src, int64_t rows,
                                    int64_t run) {
  for (int64_t a = 0; a < rows; ++a)
#pragma omp simd
    for (int64_t t = 0; t < run; ++t) d[a * ldd + t] += src[a * run + t];
}

// dyp (chunks, rows, L) = dy (rows, filters) in blocks of L filters, zero-padded.
template <int64_t L, typename T>
FASTMLP_SIMD_CLONES void split_block(T* dyp, const T* dy, int64_t rows, int64_t filters,
                                     int64_t count) {
  for (int64_t r = 0; r < rows; ++r)
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) dyp[r * L + l] = l < count ? dy[r * filters + l] : T(0);
}

// dyp2 (rows, V) = dy (rows, filters) with each filter's value twice, zero-padded.
template <int64_t V, typename T>
FASTMLP_SIMD_CLONES void split_twice(T* dyp2, const T* dy, int64_t rows, int64_t filters) {
  for (int64_t r = 0; r < rows; ++r)
#pragma omp simd
    for (int64_t l = 0; l < V; ++l) dyp2[r * V + l] = l / 2 < filters ? dy[r * filters + l / 2] : T(0);
}

constexpr int64_t kTile = 64;        // positions per tile of the kernel gradient
constexpr int64_t kMaxBlocks = 8;    // sample blocks of the kernel gradient (fixed)

// fn(std::integral_constant<int64_t, L>{}) for the geometry's lane count.
template <typename T, typename Fn>
void with_lanes(const DirectConv& g, Fn&& fn) {
  constexpr int64_t L = kConvLanes<T>;
  if (g.lanes == L / 4) return fn(std::integral_constant<int64_t, L / 4>{});
  if (g.lanes == L / 2) return fn(std::integral_constant<int64_t, L / 2>{});
  return fn(std::integral_constant<int64_t, L>{});
}

template <int NF, typename T>
void forward_positions(T* y, const T* xp, const T* wpad, const T* bpad, bool relu,
                       const DirectConv& g, int64_t n) {
  const int64_t pairs = (g.oh + 1) / 2;  // of output rows, the last one alone when oh is odd
  parallel_rows(n * pairs, 2 * g.ow * g.k * NF / 16, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t i = u / pairs, p = u % pairs * 2;
      if (p + 1 < g.oh)
        forward_positions_rows<2, NF>(y, xp, wpad, bpad, relu, g, i, p);
      else
        forward_positions_rows<1, NF>(y, xp, wpad, bpad, relu, g, i, p);
    }
  });
}

template <int64_t L, typename T>
void forward_impl(T* y, const T* xp, const T* wpad, const T* bpad, bool relu,
                  const DirectConv& g, int64_t n) {
  // Blocks of kRows consecutive output positions of the whole batch (they may span
  // samples): a sample with few positions no longer leaves most of a block idle.
  const int64_t F = g.filters, chunks = conv_chunks(g), total = n * g.positions();
  const int64_t blocks = (total + kRows - 1) / kRows;
  parallel_rows(blocks, kRows * g.k * F / 16, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t t0 = b * kRows, rows = std::min<int64_t>(kRows, total - t0);
      const T* x[kRows];
      PositionWalk at(g, t0);
      for (int r = 0; r < kRows; ++r) {
        x[r] = xp + at.base();
        if (r + 1 < rows) at.next();
      }
      for (int64_t ch = 0; ch < chunks; ++ch)
        forward_block<L>(y + t0 * F + ch * L, F, rows, x, g.off.data(), g.k, wpad + ch * g.k * L,
                         bpad + ch * L, relu, std::min(L, F - ch * L));
    }
  });
}

// The kernel gradient's loop: `blocks` blocks of samples by size alone (never by thread
// count), each walking its positions in order, kTile at a time: rows(blk, t0, base, count)
// with the tile's first position t0 and each position's input offset. The bias sums (one
// serial chain per filter over all positions, bound by the adds' latency) run as one more
// task, the first, beside the blocks (with_bias; alone when there is one block).
template <typename BiasFn, typename RowsFn>
void over_position_blocks(const DirectConv& g, int64_t n, int64_t blocks, bool with_bias,
                          BiasFn&& bias_sums, RowsFn&& rows) {
  const int64_t P = g.positions();
  const int64_t bias_tasks = with_bias && blocks > 1 ? 1 : 0;
  if (with_bias && !bias_tasks) bias_sums();
  parallel_for(blocks + bias_tasks, [&](int64_t task) {
    if (task < bias_tasks) return bias_sums();
    const int64_t blk = task - bias_tasks;
    const int64_t first = n * blk / blocks * P, last = n * (blk + 1) / blocks * P;
    int64_t base[kTile];
    PositionWalk at(g, first);
    for (int64_t t0 = first; t0 < last; t0 += kTile) {
      const int64_t count = std::min(kTile, last - t0);
      for (int64_t t = 0; t < count; ++t, at.next()) base[t] = at.base();
      rows(blk, t0, base, count);
    }
  });
}

template <int64_t L, typename T>
void backward_weights_impl(T* dw, T* db, const T* xp, const T* dyp, const DirectConv& g,
                           int64_t n, bool accumulate, std::vector<T>& partial) {
  const int64_t F = g.filters, chunks = conv_chunks(g), P = g.positions();
  const int64_t k = g.k, kp = conv_padded_taps(g);
  // Sample blocks by size alone (never by thread count): each sums its samples' positions
  // in order, the blocks are added in order.
  const int64_t blocks =
      worth_parallel(n * P * k * F / 16) ? std::min(n, kMaxBlocks) : 1;
  const int64_t per_block = chunks * kp * L;
  partial.assign(size_t(blocks * per_block + chunks * L), T(0));
  T* sums = partial.data() + blocks * per_block;
  auto bias_sums = [&] {
    for (int64_t ch = 0; ch < chunks; ++ch)
      column_sums<L>(sums + ch * L, dyp + ch * n * P * L, n * P);
  };
  over_position_blocks(g, n, blocks, db != nullptr, bias_sums,
                       [&](int64_t blk, int64_t t0, const int64_t* base, int64_t count) {
                         for (int64_t ch = 0; ch < chunks; ++ch)
                           weights_rows<L>(partial.data() + blk * per_block + ch * kp * L, xp,
                                           base, count, dyp + (ch * n * P + t0) * L,
                                           g.off.data(), k);
                       });
  for (int64_t ch = 0; ch < chunks; ++ch)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t count = std::min(L, F - ch * L);
      T* out = dw + j * F + ch * L;
      for (int64_t l = 0; l < count; ++l) {
        T s = partial[size_t(ch * kp * L + j * L + l)];
        for (int64_t blk = 1; blk < blocks; ++blk)
          s += partial[size_t(blk * per_block + ch * kp * L + j * L + l)];
        out[l] = accumulate ? out[l] + s : s;
      }
    }
  if (!db) return;
  for (int64_t f = 0; f < F; ++f) db[f] = accumulate ? db[f] + sums[f] : sums[f];
}

// The kernel gradient by pairs of taps: as backward_weights_impl with one block of
// filters, rows of pairs in place of taps; dyp2 (n*positions, 2 * lanes).
template <typename T>
void backward_weights_pairs(T* dw, T* db, const T* xp, const T* dyp2, const DirectConv& g,
                            int64_t n, bool accumulate, std::vector<T>& partial) {
  constexpr int64_t V = kPositionLanes<T>;
  const int64_t F = g.filters, P = g.positions(), k = g.k;
  const int64_t pairs = int64_t(g.pair_off.size()), per_row = (g.kw + 1) / 2;
  const int64_t blocks = worth_parallel(n * P * k * F / 16) ? std::min(n, kMaxBlocks) : 1;
  const int64_t per_block = pairs * V;
  partial.assign(size_t(blocks * per_block + V), T(0));
  T* sums = partial.data() + blocks * per_block;
  auto bias_sums = [&] { column_sums<V>(sums, dyp2, n * P); };
  over_position_blocks(g, n, blocks, db != nullptr, bias_sums,
                       [&](int64_t blk, int64_t t0, const int64_t* base, int64_t count) {
                         pairs_rows(partial.data() + blk * per_block, xp, base, count,
                                    dyp2 + t0 * V, g.pair_off.data(), pairs);
                       });
  for (int64_t a = 0; a < g.kh; ++a)
    for (int64_t b = 0; b < g.kw; ++b) {
      const int64_t m = a * per_row + b / 2;                 // the pair holding tap (a, b)
      const int64_t h = b - std::min(b / 2 * 2, g.kw - 2);  // and which of its two
      T* out = dw + (a * g.kw + b) * F;
      for (int64_t f = 0; f < F; ++f) {
        const int64_t at = m * V + 2 * f + h;
        T s = partial[size_t(at)];
        for (int64_t blk = 1; blk < blocks; ++blk) s += partial[size_t(blk * per_block + at)];
        out[f] = accumulate ? out[f] + s : s;
      }
    }
  if (!db) return;
  for (int64_t f = 0; f < F; ++f) db[f] = accumulate ? db[f] + sums[2 * f] : sums[2 * f];
}

}  // namespace

template <typename T>
void conv_direct_forward(T* y, const T* xp, const T* wpad, const T* bpad, bool relu,
                         const DirectConv& g, int64_t n) {
  if (conv_by_positions<T>(g)) {
    switch (g.filters) {
      case 1: return forward_positions<1>(y, xp, wpad, bpad, relu, g, n);
      case 2: return forward_positions<2>(y, xp, wpad, bpad, relu, g, n);
      case 3: return forward_positions<3>(y, xp, wpad, bpad, relu, g, n);
      case 4: return forward_positions<4>(y, xp, wpad, bpad, relu, g, n);
      case 5: return forward_positions<5>(y, xp, wpad, bpad, relu, g, n);
      case 6: return forward_positions<6>(y, xp, wpad, bpad, relu, g, n);
      case 7: return forward_positions<7>(y, xp, wpad, bpad, relu, g, n);
      default: return forward_positions<8>(y, xp, wpad, bpad, relu, g, n);
    }
  }
  with_lanes<T>(g, [&](auto lanes) {
    forward_impl<decltype(lanes)::value>(y, xp, wpad, bpad, relu, g, n);
  });
}

template <typename T>
void conv_direct_backward_weights(T* dw, T* db, const T* xp, const T* dyp, const DirectConv& g,
                                  int64_t n, bool accumulate, std::vector<T>& partial) {
  if (conv_by_pairs<T>(g)) return backward_weights_pairs(dw, db, xp, dyp, g, n, accumulate, partial);
  with_lanes<T>(g, [&](auto lanes) {
    backward_weights_impl<decltype(lanes)::value>(dw, db, xp, dyp, g, n, accumulate, partial);
  });
}

template <typename T>
void conv_direct_backward_input(T* dxp, const T* dy, const T* wt, const DirectConv& g,
                                int64_t n) {
  constexpr int kPair = 2;
  constexpr int64_t kCol = kDirectMaxTaps + 4 * kConvLanes<T>;  // k rounded up
  const int64_t F = g.filters, P = g.positions(), k = g.k, run = g.kw * g.c;
  const int64_t kp = conv_padded_columns<T>(g);
  parallel_rows(n, P * k * F / 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T dcol[kPair * kCol];
      T* dxi = dxp + i * g.sample();
      std::fill(dxi, dxi + g.sample(), T(0));
      // Positions in pairs (the last alone when P is odd), each window's gradient then
      // added into dx in position order.
      for (int64_t t0 = 0; t0 < P; t0 += kPair) {
        const int64_t pair = std::min<int64_t>(kPair, P - t0);
        const T* dyt = dy + (i * P + t0) * F;
        if (pair == 2)
          input_gradient_rows<2>(dcol, kCol, dyt, wt, F, k, kp);
        else
          input_gradient_rows<1>(dcol, kCol, dyt, wt, F, k, kp);
        for (int64_t r = 0; r < pair; ++r) {
          const int64_t p = (t0 + r) / g.ow, q = (t0 + r) % g.ow;
          add_window(dxi + (p * g.sh * g.wp + q * g.sw) * g.c, g.wp * g.c, dcol + r * kCol,
                     g.kh, run);
        }
      }
    }
  });
}

void conv_plan_pairs(DirectConv& g) {
  g.pair_off.clear();
  if (g.c != 1 || g.kw < 2) return;
  for (int64_t a = 0; a < g.kh; ++a)
    for (int64_t b = 0; b < g.kw; b += 2) g.pair_off.push_back(a * g.wp + std::min(b, g.kw - 2));
}

template <typename T>
void conv_direct_split_filters(T* dyp, const T* dy, const DirectConv& g, int64_t rows) {
  if (conv_by_pairs<T>(g)) {
    constexpr int64_t V = kPositionLanes<T>;
    return parallel_rows(rows, V, [&](int64_t r0, int64_t r1) {
      split_twice<V>(dyp + r0 * V, dy + r0 * g.filters, r1 - r0, g.filters);
    });
  }
  with_lanes<T>(g, [&](auto lanes) {
    constexpr int64_t L = decltype(lanes)::value;
    const int64_t F = g.filters;
    for (int64_t ch = 0; ch < conv_chunks(g); ++ch)
      parallel_rows(rows, L, [&](int64_t r0, int64_t r1) {
        split_block<L>(dyp + (ch * rows + r0) * L, dy + r0 * F + ch * L, r1 - r0, F,
                       std::min(L, F - ch * L));
      });
  });
}

#define FASTMLP_INSTANTIATE(T)                                                                 \
  template void conv_direct_forward<T>(T*, const T*, const T*, const T*, bool, const DirectConv&, \
                                       int64_t);                                                \
  template void conv_direct_backward_weights<T>(T*, T*, const T*, const T*, const DirectConv&, \
                                                int64_t, bool, std::vector<T>&);               \
  template void conv_direct_backward_input<T>(T*, const T*, const T*, const DirectConv&, int64_t); \
  template void conv_direct_split_filters<T>(T*, const T*, const DirectConv&, int64_t);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
