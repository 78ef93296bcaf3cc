// One 512-bit vector of float or double and the AVX-512 operations fastmlp's AVX-512 files
// use on it, so a kernel is written once for both dtypes. Only files compiled with the
// AVX-512 flags (CMakeLists.txt) may include this header, and its names have internal
// linkage: an inline function holding AVX-512 code must never be merged by the linker with
// a copy that a baseline file could call.
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <cstdint>

namespace fastmlp {
namespace {

template <typename T>
struct Zmm;

template <>
struct Zmm<float> {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int lanes = 16;
  static constexpr Mask all = Mask(0xffff);
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V load(Mask k, const float* p) { return _mm512_maskz_loadu_ps(k, p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void store(float* p, Mask k, V v) { _mm512_mask_storeu_ps(p, k, v); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V sqrt(V a) { return _mm512_sqrt_ps(a); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V abs(V a) { return _mm512_abs_ps(a); }
  static V rsqrt14(V a) { return _mm512_rsqrt14_ps(a); }
  static V rcp14(V a) { return _mm512_rcp14_ps(a); }
  static V blend(Mask k, V a, V b) { return _mm512_mask_blend_ps(k, a, b); }  // k ? b : a
  static V permute2(V a, __m512i idx, V b) { return _mm512_permutex2var_ps(a, idx, b); }
  template <int Cmp>
  static Mask cmp(V a, V b) { return _mm512_cmp_ps_mask(a, b, Cmp); }
  // Lanes whose significand is all ones (the exponent and sign may be anything).
  static Mask all_ones_significand(V a) {
    const __m512i m = _mm512_set1_epi32(0x007fffff);
    return _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(a), m), m);
  }
};

template <>
struct Zmm<double> {
  using V = __m512d;
  using Mask = __mmask8;
  static constexpr int lanes = 8;
  static constexpr Mask all = Mask(0xff);
  static V zero() { return _mm512_setzero_pd(); }
  static V set1(double x) { return _mm512_set1_pd(x); }
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static V load(Mask k, const double* p) { return _mm512_maskz_loadu_pd(k, p); }
  static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static void store(double* p, Mask k, V v) { _mm512_mask_storeu_pd(p, k, v); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
  static V div(V a, V b) { return _mm512_div_pd(a, b); }
  static V sqrt(V a) { return _mm512_sqrt_pd(a); }
  static V max(V a, V b) { return _mm512_max_pd(a, b); }
  static V abs(V a) { return _mm512_abs_pd(a); }
  static V rsqrt14(V a) { return _mm512_rsqrt14_pd(a); }
  static V rcp14(V a) { return _mm512_rcp14_pd(a); }
  static V blend(Mask k, V a, V b) { return _mm512_mask_blend_pd(k, a, b); }  // k ? b : a
  static V permute2(V a, __m512i idx, V b) { return _mm512_permutex2var_pd(a, idx, b); }
  template <int Cmp>
  static Mask cmp(V a, V b) { return _mm512_cmp_pd_mask(a, b, Cmp); }
  static Mask all_ones_significand(V a) {
    const __m512i m = _mm512_set1_epi64(0x000fffffffffffffLL);
    return _mm512_cmpeq_epi64_mask(_mm512_and_si512(_mm512_castpd_si512(a), m), m);
  }
};

}  // namespace
}  // namespace fastmlp

#endif
