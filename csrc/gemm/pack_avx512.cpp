// The packers of the AVX-512 float/double GEMM (layout in pack.h): the panels whose source
// runs along K (A, B^T) are transposed in registers, 16 x 16 floats or 8 x 8 doubles at a
// time, where the portable packer moves one element per load and store (on the Intel
// Xeon of benchmarks/RESULTS.md that took ~1.2 ns per element: 30% of a 1-thread
// 256^3 float product). Panels whose source runs along the panel's rows are plain copies
// and go to the portable packer. Compiled with the AVX-512 flags of the micro-kernel and
// called only where it runs; tested through gemm (every shape and transpose) by
// tests/test_gemm.py.
#include "gemm/pack.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <type_traits>

#include "common/zmm.h"

namespace fastmlp {
namespace {

template <typename Mask>
Mask first_n(int64_t n, int lanes) {
  return n >= lanes ? Mask(~0u) : n <= 0 ? Mask(0) : Mask((1u << n) - 1);
}

// The two permutations of level d of the transpose below: row i (i & d == 0) takes lane l
// from itself where l & d == 0, else lane l - d of row i + d; row i + d takes lane l + d of
// row i where l & d == 0, else its own lane. I is the index type of the lanes.
template <typename I, int n, int d, bool upper>
struct SwapIndex {
  static constexpr std::array<I, n> make() {
    std::array<I, n> idx{};
    for (int l = 0; l < n; ++l)
      idx[size_t(l)] = upper ? ((l & d) ? n + l : l + d) : ((l & d) ? n + (l - d) : l);
    return idx;
  }
  alignas(64) static constexpr std::array<I, n> value = make();
};

// In-register transpose of an n x n tile (n = lanes): level d swaps the off-diagonal d x d
// blocks of every 2d x 2d block, so after the levels d = n/2, ..., 1 row j holds column j.
// Each level is one two-source permute per row.
template <typename T, int d>
void transpose_level(typename Zmm<T>::V* r) {
  using L = Zmm<T>;
  constexpr int n = L::lanes;
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  const __m512i lo = _mm512_load_si512(SwapIndex<I, n, d, false>::value.data());
  const __m512i hi = _mm512_load_si512(SwapIndex<I, n, d, true>::value.data());
#pragma GCC unroll 16
  for (int i = 0; i < n; ++i) {
    if (i & d) continue;
    const typename L::V a = r[i], b = r[i + d];
    r[i] = L::permute2(a, lo, b);
    r[i + d] = L::permute2(a, hi, b);
  }
  if constexpr (d > 1) transpose_level<T, d / 2>(r);
}

template <typename T>
void transpose(typename Zmm<T>::V* r) {
  transpose_level<T, Zmm<T>::lanes / 2>(r);
}

// dst (kc, w) = transpose of src (valid, kc) with row stride ld, rows past valid zero: the
// panel of A (w = MR) or of B^T (w = NR). Groups of `lanes` source rows, blocks of `lanes`
// values of K; the last block and group are masked.
template <typename T>
void pack_panel_cols(T* __restrict dst, const T* __restrict src, int64_t ld, int64_t kc,
                     int64_t valid, int64_t w) {
  using L = Zmm<T>;
  constexpr int n = L::lanes;
  using Mask = typename L::Mask;
  for (int64_t c0 = 0; c0 < w; c0 += n) {
    const int64_t rows = std::min<int64_t>(n, valid - c0);
    const Mask out_lanes = first_n<Mask>(w - c0, n);
    for (int64_t k0 = 0; k0 < kc; k0 += n) {
      const int64_t ks = std::min<int64_t>(n, kc - k0);
      const Mask in = first_n<Mask>(ks, n);
      typename L::V r[n];
#pragma GCC unroll 16
      for (int i = 0; i < n; ++i)
        r[i] = i < rows ? L::load(in, src + (c0 + i) * ld + k0) : L::zero();
      transpose<T>(r);
      T* d = dst + k0 * w + c0;
#pragma GCC unroll 16
      for (int j = 0; j < n; ++j)
        if (j < ks) L::store(d + j * w, out_lanes, r[j]);
    }
  }
}

}  // namespace

template <typename T>
void pack_a_avx512(T* dst, const T* A, int64_t lda, bool trans_a, int64_t i0, int64_t mc,
                   int64_t p0, int64_t kc, int64_t mr) {
  if (trans_a) return pack_a(dst, A, lda, trans_a, i0, mc, p0, kc, mr);
  const int64_t panels = (mc + mr - 1) / mr;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t i = i0 + p * mr, valid = std::min(mr, i0 + mc - i);
    pack_panel_cols(dst + p * mr * kc, A + i * lda + p0, lda, kc, valid, mr);
  }
}

template <typename T>
void pack_b_avx512(T* dst, const T* B, int64_t ldb, bool trans_b, int64_t p0, int64_t kc,
                   int64_t j0, int64_t nc, int64_t nr) {
  if (!trans_b) return pack_b(dst, B, ldb, trans_b, p0, kc, j0, nc, nr);
  const int64_t panels = (nc + nr - 1) / nr;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t j = j0 + p * nr, valid = std::min(nr, j0 + nc - j);
    pack_panel_cols(dst + p * nr * kc, B + j * ldb + p0, ldb, kc, valid, nr);
  }
}

}  // namespace fastmlp

#else  // not x86-64: never called (the AVX-512 kernel never runs), but must link

namespace fastmlp {

template <typename T>
void pack_a_avx512(T* dst, const T* A, int64_t lda, bool trans_a, int64_t i0, int64_t mc,
                   int64_t p0, int64_t kc, int64_t mr) {
  pack_a(dst, A, lda, trans_a, i0, mc, p0, kc, mr);
}

template <typename T>
void pack_b_avx512(T* dst, const T* B, int64_t ldb, bool trans_b, int64_t p0, int64_t kc,
                   int64_t j0, int64_t nc, int64_t nr) {
  pack_b(dst, B, ldb, trans_b, p0, kc, j0, nc, nr);
}

}  // namespace fastmlp

#endif

namespace fastmlp {
template void pack_a_avx512<float>(float*, const float*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
template void pack_a_avx512<double>(double*, const double*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
template void pack_b_avx512<float>(float*, const float*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
template void pack_b_avx512<double>(double*, const double*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
}  // namespace fastmlp
