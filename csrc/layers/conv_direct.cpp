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

// y rows r < rows (row stride ldy), lanes l < count: the windows at x + r*step (+ off[j])
// @ w. The block always computes kRows windows (reading the padded input's slack beyond
// the last one) and stores `rows` of them: a partial block costs no more than a full one,
// where smaller blocks would run at a fraction of the speed.
constexpr int kRows = 8;

template <int64_t L, typename T>
FASTMLP_SIMD_CLONES void forward_block(T* y, int64_t ldy, int64_t rows, const T* x, int64_t step,
                                       const int64_t* off, int64_t k, const T* w,
                                       const T* bias, bool relu, int64_t count) {
  T acc[kRows][L] = {};
  for (int64_t j = 0; j < k; ++j) {
    const T* wj = w + j * L;
    const T* xj = x + off[j];
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const T v = xj[r * step];
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

// One output row of ow positions.
template <int64_t L, typename T>
void forward_row(T* y, int64_t ldy, const T* x, int64_t step, const int64_t* off, int64_t k,
                 const T* w, const T* bias, bool relu, int64_t count, int64_t ow) {
  for (int64_t q = 0; q < ow; q += kRows)
    forward_block<L>(y + q * ldy, ldy, std::min<int64_t>(kRows, ow - q), x + q * step, step,
                     off, k, w, bias, relu, count);
}

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

// dcol[j0 .. j0 + V*lanes) = dy (filters) @ wt[:, j0 ..] (rows of kp columns), in registers.
template <int V, typename T>
FASTMLP_SIMD_CLONES void input_gradient_block(T* dcol, const T* dy, const T* wt, int64_t filters,
                                              int64_t kp) {
  constexpr int64_t L = kConvLanes<T>;
  T acc[V][L];
  for (int v = 0; v < V; ++v)
    for (int64_t l = 0; l < L; ++l) acc[v][l] = T(0);
  for (int64_t f = 0; f < filters; ++f) {
    const T a = dy[f];
    const T* w = wt + f * kp;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) acc[v][l] += a * w[v * L + l];
    }
  }
  for (int v = 0; v < V; ++v)
    for (int64_t l = 0; l < L; ++l) dcol[v * L + l] = acc[v][l];
}

// dcol (round_up(k, lanes)) = dy (filters) @ wt (filters, kp), in blocks of up to 4 x lanes.
template <typename T>
void input_gradient_row(T* dcol, const T* dy, const T* wt, int64_t filters, int64_t k,
                        int64_t kp) {
  constexpr int64_t L = kConvLanes<T>;
  for (int64_t j0 = 0; j0 < k; j0 += 4 * L) {
    const int64_t vectors = std::min<int64_t>(4, (k - j0 + L - 1) / L);
    T* d = dcol + j0;
    const T* w = wt + j0;
    switch (vectors) {
      case 4: input_gradient_block<4>(d, dy, w, filters, kp); break;
      case 3: input_gradient_block<3>(d, dy, w, filters, kp); break;
      case 2: input_gradient_block<2>(d, dy, w, filters, kp); break;
      default: input_gradient_block<1>(d, dy, w, filters, kp); break;
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
  const int64_t F = g.filters, chunks = conv_chunks(g);
#pragma omp parallel for schedule(static) if (worth_parallel(n * g.positions() * g.k * F / 16))
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < g.oh; ++p) {
      const T* x = xp + i * g.sample() + p * g.sh * g.wp * g.c;
      T* yr = y + (i * g.oh + p) * g.ow * F;
      for (int64_t ch = 0; ch < chunks; ++ch)
        forward_row<L>(yr + ch * L, F, x, g.sw * g.c, g.off.data(), g.k, wpad + ch * g.k * L,
                       bpad + ch * L, relu, std::min(L, F - ch * L), g.ow);
    }
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
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t first = n * blk / blocks * P, last = n * (blk + 1) / blocks * P;
    int64_t base[kTile];
    // The position (i, p, q) of t0, moved along incrementally (no divisions per position).
    int64_t i = first / P, p = (first % P) / g.ow, q = first % g.ow;
    for (int64_t t0 = first; t0 < last; t0 += kTile) {
      const int64_t count = std::min(kTile, last - t0);
      for (int64_t t = 0; t < count; ++t) {
        base[t] = i * g.sample() + (p * g.sh * g.wp + q * g.sw) * g.c;
        if (++q == g.ow) {
          q = 0;
          if (++p == g.oh) {
            p = 0;
            ++i;
          }
        }
      }
      for (int64_t ch = 0; ch < chunks; ++ch)
        weights_rows<L>(partial.data() + blk * per_block + ch * kp * L, xp, base, count,
                        dyp + (ch * n * P + t0) * L, g.off.data(), kp);
    }
  }
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
  const int64_t F = g.filters, P = g.positions(), k = g.k, run = g.kw * g.c;
#pragma omp parallel for schedule(static) if (worth_parallel(n * P * k * F / 16))
  for (int64_t i = 0; i < n; ++i) {
    T dcol[kDirectMaxTaps + 4 * kConvLanes<T>];  // k <= kDirectMaxTaps, rounded up
    T* dxi = dxp + i * g.sample();
    std::fill(dxi, dxi + g.sample(), T(0));
    for (int64_t p = 0; p < g.oh; ++p)
      for (int64_t q = 0; q < g.ow; ++q) {
        input_gradient_row(dcol, dy + ((i * g.oh + p) * g.ow + q) * F, wt, F, k,
                           conv_padded_columns<T>(g));
        T* dst = dxi + (p * g.sh * g.wp + q * g.sw) * g.c;
        for (int64_t a = 0; a < g.kh; ++a) {
          T* d = dst + a * g.wp * g.c;
          const T* s = dcol + a * run;
#pragma omp simd
          for (int64_t t = 0; t < run; ++t) d[t] += s[t];
        }
      }
  }
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
