// Packing into micro-panels (layout in pack.h), built for each SIMD width (simd_clones.h).
// A panel is (kc, w): kc rows of w values, the first `valid` of them read from w rows or columns of the source, the rest zero.
// When the source runs along the panel's rows (A^T, B) a panel row is one contiguous copy;
// otherwise (A, B^T) w source rows are read side by side, each sequentially, so every
// cache line fetched is used in full.
#include "gemm/pack.h"

#include <algorithm>
#include <cstring>

#include "common/simd_clones.h"

namespace fastmlp {
namespace {

// dst (kc, W) = src rows [0, kc) of W contiguous values: a memcpy of constant size compiles
// to a few vector moves, where a library call per row cost more than the copy itself.
template <typename T, int W>
void pack_panel_rows_fixed(T* __restrict dst, const T* __restrict src, int64_t ld, int64_t kc) {
  for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * W, src + k * ld, sizeof(T) * W);
}

// dst (kc, w) = src rows [0, kc) of `valid` contiguous values each, zero-padded to w.
template <typename T>
FASTMLP_SIMD_CLONES void pack_panel_rows(T* __restrict dst, const T* __restrict src, int64_t ld, int64_t kc,
                     int64_t valid, int64_t w) {
  if (valid == w) {
    switch (w) {
      case 6: return pack_panel_rows_fixed<T, 6>(dst, src, ld, kc);
      case 8: return pack_panel_rows_fixed<T, 8>(dst, src, ld, kc);
      case 12: return pack_panel_rows_fixed<T, 12>(dst, src, ld, kc);
      case 16: return pack_panel_rows_fixed<T, 16>(dst, src, ld, kc);
      case 32: return pack_panel_rows_fixed<T, 32>(dst, src, ld, kc);
      default: break;
    }
  }
  for (int64_t k = 0; k < kc; ++k) {
    T* d = dst + k * w;
    for (int64_t j = 0; j < valid; ++j) d[j] = src[k * ld + j];
    for (int64_t j = valid; j < w; ++j) d[j] = T(0);
  }
}

// dst (kc, W) = transpose of src (W, kc) for a full panel. With W fixed the compiler keeps
// W row pointers in registers and writes each dst row as one contiguous run: ~2x faster
// than walking one source row at a time for the narrow A panels.
template <typename T, int W>
void pack_panel_cols_fixed(T* __restrict dst, const T* __restrict src, int64_t ld, int64_t kc) {
  for (int64_t k = 0; k < kc; ++k)
    for (int r = 0; r < W; ++r) dst[k * W + r] = src[r * ld + k];
}

// dst (kc, w) = transpose of src (valid, kc), zero-padded to w columns. Wide panels go in
// k blocks of one cache line, so every source line is used while it is still in L1.
template <typename T>
FASTMLP_SIMD_CLONES void pack_panel_cols(T* __restrict dst, const T* __restrict src, int64_t ld, int64_t kc,
                     int64_t valid, int64_t w) {
  if (valid == w) {
    switch (w) {
      case 4: return pack_panel_cols_fixed<T, 4>(dst, src, ld, kc);
      case 6: return pack_panel_cols_fixed<T, 6>(dst, src, ld, kc);
      case 8: return pack_panel_cols_fixed<T, 8>(dst, src, ld, kc);
      case 12: return pack_panel_cols_fixed<T, 12>(dst, src, ld, kc);
      default: break;
    }
  }
  constexpr int64_t kb = 64 / sizeof(T);
  for (int64_t k0 = 0; k0 < kc; k0 += kb) {
    const int64_t k1 = std::min(kc, k0 + kb);
    for (int64_t r = 0; r < valid; ++r) {
      const T* s = src + r * ld;
      for (int64_t k = k0; k < k1; ++k) dst[k * w + r] = s[k];
    }
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t r = valid; r < w; ++r) dst[k * w + r] = T(0);
}

}  // namespace

template <typename T>
void pack_a(T* dst, const T* A, int64_t lda, bool trans_a, int64_t i0, int64_t mc, int64_t p0,
            int64_t kc, int64_t mr) {
  const int64_t panels = (mc + mr - 1) / mr;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t i = i0 + p * mr, valid = std::min(mr, i0 + mc - i);
    if (trans_a)
      pack_panel_rows(dst + p * mr * kc, A + p0 * lda + i, lda, kc, valid, mr);
    else
      pack_panel_cols(dst + p * mr * kc, A + i * lda + p0, lda, kc, valid, mr);
  }
}

template <typename T>
void pack_b(T* dst, const T* B, int64_t ldb, bool trans_b, int64_t p0, int64_t kc, int64_t j0,
            int64_t nc, int64_t nr) {
  const int64_t panels = (nc + nr - 1) / nr;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t j = j0 + p * nr, valid = std::min(nr, j0 + nc - j);
    if (trans_b)
      pack_panel_cols(dst + p * nr * kc, B + j * ldb + p0, ldb, kc, valid, nr);
    else
      pack_panel_rows(dst + p * nr * kc, B + p0 * ldb + j, ldb, kc, valid, nr);
  }
}

template void pack_a<float>(float*, const float*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
template void pack_a<double>(double*, const double*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
template void pack_b<float>(float*, const float*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
template void pack_b<double>(double*, const double*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);

}  // namespace fastmlp
