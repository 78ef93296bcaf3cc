// Packing float32 op(A) and op(B) into the bf16 pair panels of the AVX-512 BF16 micro-kernel
// (layout in pack.h), rounding as they go: vcvtne2ps2bf16 turns 32 floats into 32 bf16, i.e.
// 16 consecutive K pairs, so the conversion costs one instruction per 32 values and the
// panels are half the bytes of float ones. Compiled with -mavx512bf16 like the micro-kernel;
// tested through gemm_bf16 by tests/test_bf16.py.
#include "gemm/pack.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>

namespace fastmlp {
namespace {

__mmask16 first_n(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// Words j = (bf16(hi[j]) << 16) | bf16(lo[j]), j < 16: two K rows zipped into pairs.
__m512i zip_pairs(__m512 lo, __m512 hi) {
  // cvtne2ps gives bf16 lo[0..15] then hi[0..15]; the permutation interleaves the halves.
  alignas(64) static const uint16_t kZip[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,
                                                21, 6, 22, 7, 23, 8,  24, 9,  25, 10, 26,
                                                11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
  return _mm512_permutexvar_epi16(_mm512_load_si512(kZip), both);
}

// dst (ceil(kc/2), w) words from src rows [0, kc) of `valid` contiguous floats (the source
// runs along the panel's rows: A^T, B). Columns past valid are zero.
void pack_panel_rows(uint32_t* __restrict dst, const float* __restrict src, int64_t ld,
                     int64_t kc, int64_t valid, int64_t w) {
  for (int64_t k = 0; k < kc; k += 2) {
    const float* r0 = src + k * ld;
    const bool pair = k + 1 < kc;  // an odd kc pairs its last row with zeros
    for (int64_t j = 0; j < w; j += 16) {
      const __mmask16 in = first_n(valid - j);
      const __m512 lo = _mm512_maskz_loadu_ps(in, r0 + j);
      const __m512 hi = pair ? _mm512_maskz_loadu_ps(in, r0 + ld + j) : _mm512_setzero_ps();
      _mm512_mask_storeu_epi32(dst + j, first_n(w - j), zip_pairs(lo, hi));
    }
    dst += w;
  }
}

// dst (ceil(kc/2), W) words = transpose of src (valid, kc) rounded to pairs (the source runs
// along K: A, B^T). Each source row converts 32 floats at a time into 16 pair words, held in
// a small tile that is then written out K-major; rows past valid are zero.
template <int W>
void pack_panel_cols(uint32_t* __restrict dst, const float* __restrict src, int64_t ld,
                     int64_t kc, int64_t valid) {
  alignas(64) uint32_t tile[W][16];
  const int64_t kp = (kc + 1) / 2;
  for (int64_t q0 = 0; q0 < kp; q0 += 16) {
    const int64_t k0 = 2 * q0;
    const __mmask16 m_lo = first_n(kc - k0), m_hi = first_n(kc - k0 - 16);
    for (int r = 0; r < W; ++r) {
      __m512i words = _mm512_setzero_si512();
      if (r < valid) {
        const float* s = src + r * ld + k0;
        const __m512 lo = _mm512_maskz_loadu_ps(m_lo, s);
        const __m512 hi = _mm512_maskz_loadu_ps(m_hi, s + 16);
        words = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // word t = (s[2t], s[2t+1])
      }
      _mm512_store_si512(tile[r], words);
    }
    const int64_t nq = std::min<int64_t>(16, kp - q0);
    for (int64_t q = 0; q < nq; ++q)
#pragma GCC unroll 32
      for (int r = 0; r < W; ++r) dst[(q0 + q) * W + r] = tile[r][q];
  }
}

void pack_cols(uint32_t* dst, const float* src, int64_t ld, int64_t kc, int64_t valid,
               int64_t w) {
  switch (w) {
    case 12: return pack_panel_cols<12>(dst, src, ld, kc, valid);
    case 32: return pack_panel_cols<32>(dst, src, ld, kc, valid);
    default: break;  // the bf16 tile (ukernel.h) is 12 x 32: no other width is packed
  }
}

}  // namespace

void pack_a_bf16(uint32_t* dst, const float* A, int64_t lda, bool trans_a, int64_t i0,
                 int64_t mc, int64_t p0, int64_t kc, int64_t mr) {
  const int64_t panels = (mc + mr - 1) / mr, kp = (kc + 1) / 2;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t i = i0 + p * mr, valid = std::min(mr, i0 + mc - i);
    if (trans_a)
      pack_panel_rows(dst + p * mr * kp, A + p0 * lda + i, lda, kc, valid, mr);
    else
      pack_cols(dst + p * mr * kp, A + i * lda + p0, lda, kc, valid, mr);
  }
}

void pack_b_bf16(uint32_t* dst, const float* B, int64_t ldb, bool trans_b, int64_t p0,
                 int64_t kc, int64_t j0, int64_t nc, int64_t nr) {
  const int64_t panels = (nc + nr - 1) / nr, kp = (kc + 1) / 2;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t j = j0 + p * nr, valid = std::min(nr, j0 + nc - j);
    if (trans_b)
      pack_cols(dst + p * nr * kp, B + j * ldb + p0, ldb, kc, valid, nr);
    else
      pack_panel_rows(dst + p * nr * kp, B + p0 * ldb + j, ldb, kc, valid, nr);
  }
}

}  // namespace fastmlp

#else  // not x86-64: never called (cpu_has_avx512_bf16() is false), but must link

namespace fastmlp {

void pack_a_bf16(uint32_t*, const float*, int64_t, bool, int64_t, int64_t, int64_t, int64_t,
                 int64_t) {}
void pack_b_bf16(uint32_t*, const float*, int64_t, bool, int64_t, int64_t, int64_t, int64_t,
                 int64_t) {}

}  // namespace fastmlp

#endif
