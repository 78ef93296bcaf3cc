// Direct convolution kernels (see conv_direct.h). The register blocks are fixed-size arrays
// the compiler keeps in vector registers: R output positions x kConvLanes filters forward,
// RK taps x kConvLanes filters for the kernel gradient.
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

// Walks the output positions (i, p, q) of the batch in order without a division per step.
struct PositionWalk {
  const DirectConv& g;
  int64_t i, p, q;
  PositionWalk(const DirectConv& geometry, int64_t t)
      : g(geometry), i(t / g.positions()), p(t % g.positions() / g.ow), q(t % g.ow) {}
  // Offset in xp of the window of the current position.
  int64_t base() const { return i * g.sample() + (p * g.sh * g.wp + q * g.sw) * g.c; }
  void next() {
    if (++q < g.ow) return;
    q = 0;
    if (++p < g.oh) return;
    p = 0;
    ++i;
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

// All taps in blocks of kRows: off holds round_up(k, kRows) offsets (the padding ones
// read a valid value whose gradient row is discarded).
template <int64_t L, typename T>
void weights_rows(T* out, const T* xp, const int64_t* base, int64_t count, const T* dyp,
                  const int64_t* off, int64_t k) {
  for (int64_t j = 0; j < k; j += kRows)
    weights_block<kRows, L>(out + j * L, xp, base, count, dyp, off + j);
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
  partial.assign(size_t(blocks * per_block), T(0));
  parallel_for(blocks, [&](int64_t blk) {
    const int64_t first = n * blk / blocks * P, last = n * (blk + 1) / blocks * P;
    int64_t base[kTile];
    PositionWalk at(g, first);
    for (int64_t t0 = first; t0 < last; t0 += kTile) {
      const int64_t count = std::min(kTile, last - t0);
      for (int64_t t = 0; t < count; ++t, at.next()) base[t] = at.base();
      for (int64_t ch = 0; ch < chunks; ++ch)
        weights_rows<L>(partial.data() + blk * per_block + ch * kp * L, xp, base, count,
                        dyp + (ch * n * P + t0) * L, g.off.data(), kp);
    }
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
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t count = std::min(L, F - ch * L);
    T s[L] = {};
    const T* d = dyp + ch * n * P * L;
    for (int64_t pos = 0; pos < n * P; ++pos)
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) s[l] += d[pos * L + l];
    for (int64_t l = 0; l < count; ++l)
      db[ch * L + l] = accumulate ? db[ch * L + l] + s[l] : s[l];
  }
}

}  // namespace

template <typename T>
void conv_direct_forward(T* y, const T* xp, const T* wpad, const T* bpad, bool relu,
                         const DirectConv& g, int64_t n) {
  with_lanes<T>(g, [&](auto lanes) {
    forward_impl<decltype(lanes)::value>(y, xp, wpad, bpad, relu, g, n);
  });
}

template <typename T>
void conv_direct_backward_weights(T* dw, T* db, const T* xp, const T* dyp, const DirectConv& g,
                                  int64_t n, bool accumulate, std::vector<T>& partial) {
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
          T* dst = dxi + (p * g.sh * g.wp + q * g.sw) * g.c;
          for (int64_t a = 0; a < g.kh; ++a) {
            T* d = dst + a * g.wp * g.c;
            const T* src = dcol + r * kCol + a * run;
  #pragma omp simd
            for (int64_t t = 0; t < run; ++t) d[t] += src[t];
          }
        }
      }
    }
  });
}

#define FASTMLP_INSTANTIATE(T)                                                                 \
  template void conv_direct_forward<T>(T*, const T*, const T*, const T*, bool, const DirectConv&, \
                                       int64_t);                                                \
  template void conv_direct_backward_weights<T>(T*, T*, const T*, const T*, const DirectConv&, \
                                                int64_t, bool, std::vector<T>&);               \
  template void conv_direct_backward_input<T>(T*, const T*, const T*, const DirectConv&, int64_t);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
