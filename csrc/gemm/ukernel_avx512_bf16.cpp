// AVX-512 BF16 GEMM micro-kernel (12 x 32): bfloat16 inputs, float32 accumulators and C.
// This file alone (with pack_bf16.cpp) is compiled with -mavx512bf16 on top of the AVX-512
// flags and is only called when cpu_has_avx512_bf16(). Tested against numpy on the
// bf16-rounded inputs by tests/test_bf16.py.
//
// The float AVX-512 kernel with vdpbf16ps in place of the FMA: each 32-bit lane of a and b
// holds a pair of bf16 along K, and acc += a.lo * b.lo + a.hi * b.hi, so one instruction
// does 32 multiply-adds (twice an FMA's) and the loop runs K/2 times. 24 accumulators + 2 b
// vectors use 26 of the 32 zmm registers; a values are broadcast straight from memory.
#include "gemm/ukernel.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace fastmlp {
namespace {

template <int MR, int NV>
void ukernel(int64_t KP, const uint32_t* __restrict a, const uint32_t* __restrict b,
             float* __restrict c, int64_t ldc, float alpha, float beta, int64_t m, int64_t n) {
  constexpr int W = 16, NR = NV * W;
  static_assert(MR * NV + NV <= 32, "accumulators and b vectors must fit in 32 zmm registers");

  for (int64_t r = 0; r < m; ++r)
    for (int v = 0; v < NV; ++v)
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + v * W), _MM_HINT_T0);

  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();

#pragma GCC unroll 4
  for (int64_t k = 0; k < KP; ++k) {
    __m512bh bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(b + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512bh ar = (__m512bh)_mm512_set1_epi32(int(a[r]));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], ar, bv[v]);
    }
    a += MR;
    b += NR;
  }

  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  if (m == MR && n == NR) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        float* p = c + r * ldc + v * W;
        __m512 out = _mm512_mul_ps(va, acc[r][v]);
        if (beta != 0.0f) out = _mm512_fmadd_ps(vb, _mm512_loadu_ps(p), out);
        _mm512_storeu_ps(p, out);
      }
    return;
  }
  // Edge tile: masked loads and stores keep every access inside C.
  __mmask16 mask[NV];
  for (int v = 0; v < NV; ++v) {
    const int64_t cols = n - v * W;
    mask[v] = cols >= W ? __mmask16(0xFFFF) : cols <= 0 ? 0 : __mmask16((1u << cols) - 1);
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= m) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* p = c + r * ldc + v * W;
      __m512 out = _mm512_mul_ps(va, acc[r][v]);
      if (beta != 0.0f) out = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], p), out);
      _mm512_mask_storeu_ps(p, mask[v], out);
    }
  }
}

}  // namespace

void ukernel_avx512_bf16(int64_t KP, const uint32_t* a, const uint32_t* b, float* c,
                         int64_t ldc, float alpha, float beta, int64_t m, int64_t n) {
  ukernel<Avx512Bf16Tile::mr, Avx512Bf16Tile::nr / 16>(KP, a, b, c, ldc, alpha, beta, m, n);
}

}  // namespace fastmlp

#else  // not x86-64: never called (cpu_has_avx512_bf16() is false), but must link

namespace fastmlp {

void ukernel_avx512_bf16(int64_t, const uint32_t*, const uint32_t*, float*, int64_t, float,
                         float, int64_t, int64_t) {}

}  // namespace fastmlp

#endif
