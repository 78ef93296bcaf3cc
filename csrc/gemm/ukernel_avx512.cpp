// AVX-512 GEMM micro-kernels (float 12 x 32, double 12 x 16); this file alone is compiled
// with -mavx512f -mavx512vl -mavx512bw -mavx512dq -mfma and is only called when the CPU
// has those. Tested against gemm_ref by tests/test_gemm.py.
//
// Per k the kernel loads NV vectors of b and broadcasts MR values of a straight into the
// FMAs (embedded broadcast), so MR x NV accumulators + NV b vectors use 26 of the 32 zmm
// registers: 24 independent FMA chains cover the 4-cycle latency of two FMA pipes with
// room to spare, and 14 loads per 24 FMAs stay well under two loads per cycle. An edge
// tile loads b through masks, so the driver may read B's last, narrower panel in place.
#include "gemm/ukernel.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "common/zmm.h"

namespace fastmlp {
namespace {

// acc += a (MR,K) @ b (K,NR): a's k-th column is MR consecutive values a_cs apart (a packed
// panel, or a row of A^T read in place) or, with RowsOfA, a's rows are rows of A itself
// (a_rs apart, K consecutive values each). MaskB: b's rows are loaded through bmask, so an
// edge panel of B (fewer than NR columns) can be read in place, past B's last column never.
template <typename T, int MR, int NV, bool RowsOfA, bool MaskB>
inline void accumulate(typename Zmm<T>::V (&acc)[MR][NV], int64_t K, const T* __restrict a,
                       int64_t a_rs, int64_t a_cs, const T* __restrict b, int64_t b_step,
                       const typename Zmm<T>::Mask (&bmask)[NV]) {
  using Z = Zmm<T>;
  using V = typename Z::V;
  constexpr int W = Z::lanes;
  const T* row[MR];
  if constexpr (RowsOfA) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) row[r] = a + r * a_rs;
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < K; ++k) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = MaskB ? Z::load(bmask[v], b + v * W) : Z::load(b + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const V ar = Z::set1(RowsOfA ? row[r][k] : a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = Z::fmadd(ar, bv[v], acc[r][v]);
    }
    if constexpr (!RowsOfA) a += a_cs;
    b += b_step;
  }
}

template <typename T, int MR, int NV>
void ukernel(int64_t K, const T* __restrict a, int64_t a_rs, int64_t a_cs, const T* __restrict b,
             int64_t b_step, T* __restrict c, int64_t ldc, T alpha, T beta, int64_t m,
             int64_t n) {
  using Z = Zmm<T>;
  using V = typename Z::V;
  constexpr int W = Z::lanes, NR = NV * W;
  static_assert(MR * NV + NV <= 32, "accumulators and b vectors must fit in 32 zmm registers");

  // C is touched only after the k loop; start fetching it now.
  for (int64_t r = 0; r < m; ++r)
    for (int v = 0; v < NV; ++v)
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + v * W), _MM_HINT_T0);

  // The columns of the tile inside C: the edge tile's loads of b and its loads and stores
  // of C go through these masks.
  typename Z::Mask mask[NV];
  for (int v = 0; v < NV; ++v) {
    const int64_t cols = n - v * W;
    mask[v] = cols >= W ? typename Z::Mask(~0u) : cols <= 0 ? 0 : typename Z::Mask((1u << cols) - 1);
  }

  V acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = Z::zero();
  const bool edge_b = n < NR;
  if (a_rs == 1 && edge_b)
    accumulate<T, MR, NV, false, true>(acc, K, a, a_rs, a_cs, b, b_step, mask);
  else if (a_rs == 1)
    accumulate<T, MR, NV, false, false>(acc, K, a, a_rs, a_cs, b, b_step, mask);
  else if (edge_b)
    accumulate<T, MR, NV, true, true>(acc, K, a, a_rs, a_cs, b, b_step, mask);
  else
    accumulate<T, MR, NV, true, false>(acc, K, a, a_rs, a_cs, b, b_step, mask);

  const V va = Z::set1(alpha), vb = Z::set1(beta);
  if (m == MR && n == NR) {
    if (alpha == T(1) && beta == T(1)) {  // later k blocks of a product: C += acc
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          T* p = c + r * ldc + v * W;
          Z::store(p, Z::add(Z::load(p), acc[r][v]));
        }
      return;
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        T* p = c + r * ldc + v * W;
        V out = Z::mul(va, acc[r][v]);
        if (beta != T(0)) out = Z::fmadd(vb, Z::load(p), out);
        Z::store(p, out);
      }
    return;
  }
  // Edge tile: masked loads and stores keep every access inside C.
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= m) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      T* p = c + r * ldc + v * W;
      V out = Z::mul(va, acc[r][v]);
      if (beta != T(0)) out = Z::fmadd(vb, Z::load(mask[v], p), out);
      Z::store(p, mask[v], out);
    }
  }
}

// A tile of few rows (the last panel of 64 rows: 4 of 12; the 4 or 8 inputs of a first
// layer's weight gradient) runs a kernel of 4 or 8 rows instead of multiplying the zero
// padding, and a tile of at most one vector of columns (a float output layer of 10
// classes) a kernel of one vector: each element still sums the same products in k order,
// so the bits are the same.
template <typename T, int NV>
void ukernel_m(int64_t K, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t b_step,
               T* c, int64_t ldc, T alpha, T beta, int64_t m, int64_t n) {
  constexpr int MR = int(Avx512Tile<T>::mr);
  if (m <= 4) return ukernel<T, 4, NV>(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
  if (m <= 8) return ukernel<T, 8, NV>(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
  ukernel<T, MR, NV>(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
}

template <typename T>
void ukernel_rows(int64_t K, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
                  int64_t b_step, T* c, int64_t ldc, T alpha, T beta, int64_t m, int64_t n) {
  constexpr int NV = int(Avx512Tile<T>::nr / Zmm<T>::lanes);
  if (NV > 1 && n <= Zmm<T>::lanes)
    return ukernel_m<T, 1>(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
  ukernel_m<T, NV>(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
}

}  // namespace

void ukernel_avx512(int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                    int64_t b_step, float* c, int64_t ldc, float alpha, float beta, int64_t m,
                    int64_t n) {
  ukernel_rows(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
}

void ukernel_avx512(int64_t K, const double* a, int64_t a_rs, int64_t a_cs, const double* b,
                    int64_t b_step, double* c, int64_t ldc, double alpha, double beta, int64_t m,
                    int64_t n) {
  ukernel_rows(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
}

}  // namespace fastmlp

#else  // not x86-64: this kernel never runs (cpu_features says no), but must link

namespace fastmlp {

void ukernel_avx512(int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                    int64_t b_step, float* c, int64_t ldc, float alpha, float beta, int64_t m, int64_t n) {
  ukernel_scalar(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
}

void ukernel_avx512(int64_t K, const double* a, int64_t a_rs, int64_t a_cs, const double* b,
                    int64_t b_step, double* c, int64_t ldc, double alpha, double beta, int64_t m, int64_t n) {
  ukernel_scalar(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
}

}  // namespace fastmlp

#endif
