// AVX2 + FMA GEMM micro-kernels (6 x 16 float, 6 x 8 double); this file alone is compiled
// with -mavx2 -mfma and is only called when the CPU has both. Tested against gemm_ref by
// tests/test_gemm.py.
//
// 6 rows x 2 vectors = 12 accumulators + 2 b vectors + 1 broadcast fill the 16 ymm
// registers; 12 independent FMA chains cover two FMA pipes of 4-5 cycle latency.
#include "gemm/ukernel.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace fastmlp {
namespace {

// Internal linkage: these helpers contain AVX2 code, so no other file may share them.
template <typename T>
struct Ymm;

template <>
struct Ymm<float> {
  using V = __m256;
  static constexpr int lanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  // Lanes [0, cols) set; masked-off lanes are neither read nor written.
  static __m256i mask(int64_t cols) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(cols)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load(__m256i k, const float* p) { return _mm256_maskload_ps(p, k); }
  static void store(float* p, __m256i k, V v) { _mm256_maskstore_ps(p, k, v); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
};

template <>
struct Ymm<double> {
  using V = __m256d;
  static constexpr int lanes = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V set1(double x) { return _mm256_set1_pd(x); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static __m256i mask(int64_t cols) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(cols), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V load(__m256i k, const double* p) { return _mm256_maskload_pd(p, k); }
  static void store(double* p, __m256i k, V v) { _mm256_maskstore_pd(p, k, v); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
};

template <typename T, int MR, int NV>
void ukernel(int64_t K, const T* __restrict a, int64_t a_rs, int64_t a_cs,
             const T* __restrict b, int64_t b_step, T* __restrict c, int64_t ldc, T alpha,
             T beta, int64_t m, int64_t n) {
  using Y = Ymm<T>;
  using V = typename Y::V;
  constexpr int W = Y::lanes, NR = NV * W;
  static_assert(MR * NV + NV + 1 <= 16, "accumulators, b vectors and a broadcast must fit in 16 ymm registers");

  V acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = Y::zero();

#pragma GCC unroll 4
  for (int64_t k = 0; k < K; ++k) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = Y::load(b + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      // a (r, k) at a[r * a_rs + k * a_cs]: a packed panel or A^T (a_rs = 1), or rows of A.
      const V ar = Y::set1(a[r * a_rs]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = Y::fmadd(ar, bv[v], acc[r][v]);
    }
    a += a_cs;
    b += b_step;
  }

  const V va = Y::set1(alpha), vb = Y::set1(beta);
  if (m == MR && n == NR) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        T* p = c + r * ldc + v * W;
        V out = Y::mul(va, acc[r][v]);
        if (beta != T(0)) out = Y::fmadd(vb, Y::load(p), out);
        Y::store(p, out);
      }
    return;
  }
  // Edge tile: masked loads and stores keep every access inside C.
  __m256i mask[NV];
  for (int v = 0; v < NV; ++v) mask[v] = Y::mask(n - v * W);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= m) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      T* p = c + r * ldc + v * W;
      V out = Y::mul(va, acc[r][v]);
      if (beta != T(0)) out = Y::fmadd(vb, Y::load(mask[v], p), out);
      Y::store(p, mask[v], out);
    }
  }
}

}  // namespace

void ukernel_avx2(int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                  int64_t b_step, float* c, int64_t ldc, float alpha, float beta, int64_t m, int64_t n) {
  constexpr int64_t MR = Avx2Tile<float>::mr, NR = Avx2Tile<float>::nr;
  ukernel<float, MR, NR / 8>(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
}

void ukernel_avx2(int64_t K, const double* a, int64_t a_rs, int64_t a_cs, const double* b,
                  int64_t b_step, double* c, int64_t ldc, double alpha, double beta, int64_t m, int64_t n) {
  constexpr int64_t MR = Avx2Tile<double>::mr, NR = Avx2Tile<double>::nr;
  ukernel<double, MR, NR / 4>(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
}

}  // namespace fastmlp

#else  // not x86-64: this kernel never runs (cpu_features says no), but must link

namespace fastmlp {

void ukernel_avx2(int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                  int64_t b_step, float* c, int64_t ldc, float alpha, float beta, int64_t m, int64_t n) {
  ukernel_scalar(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
}

void ukernel_avx2(int64_t K, const double* a, int64_t a_rs, int64_t a_cs, const double* b,
                  int64_t b_step, double* c, int64_t ldc, double alpha, double beta, int64_t m, int64_t n) {
  ukernel_scalar(K, a, a_rs, a_cs, b, b_step, c, ldc, alpha, beta, m, n);
}

}  // namespace fastmlp

#endif
