// Packing float32 op(A) and op(B) into the AMX-BF16 panels (layout in pack.h), rounding to
// bfloat16 as pack_bf16.cpp does (vcvtne2ps2bf16: nearest even, denormals to zero), so the
// AMX and AVX-512 BF16 kernels multiply the same values. Compiled with -mavx512bf16; called
// only when cpu_has_amx_bf16(). Tested through gemm_bf16 by tests/test_bf16.py.
//
// AMX reads A row by row along K (a tile row is 32 values of one row of op(A)), the
// transpose of the AVX-512 kernel's k-major A panel:
//  - A as stored (rows along K): each 32 values convert straight into one AmxBlock.
//  - A^T (rows along M, the weight gradient X^T @ delta): pack_a_bf16 zips 32 k values of
//    32 rows into pair words k-major, and 16 x 16 word transposes turn them into blocks.
// B's tile (pairs along K, rows along N) is pack_b_bf16's panel, padded to whole chunks.
#include "gemm/pack.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "gemm/ukernel.h"

namespace fastmlp {
namespace {

constexpr int64_t kChunk = AmxTile::k_chunk, kPairs = kChunk / 2;
static_assert(sizeof(AmxBlock) == 64 && kPairs == 16,
              "an AmxBlock is one 64-byte tile row: 16 pair words, 32 values along K");

__mmask16 first_n(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// out[j] = word j of every r[t], t = 0..15 (a 16 x 16 transpose of 32-bit words): 32-bit
// then 64-bit interleaves within 128-bit lanes, then two rounds of lane shuffles.
void transpose16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {  // u[4g + c], lane L: word 4L + c of rows 4g .. 4g+3
    u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);
    const __m512i w0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xDD);
    const __m512i v1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
    const __m512i w1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xDD);
    r[c] = _mm512_shuffle_i32x4(v0, v1, 0x88);
    r[4 + c] = _mm512_shuffle_i32x4(w0, w1, 0x88);
    r[8 + c] = _mm512_shuffle_i32x4(v0, v1, 0xDD);
    r[12 + c] = _mm512_shuffle_i32x4(w0, w1, 0xDD);
  }
}

// One panel of op(A) = A (rows along K): block (q, r) = row r's values 32q .. 32q+31.
void pack_a_rows_along_k(AmxBlock* __restrict dst, const float* __restrict A, int64_t lda,
                         int64_t kc, int64_t valid, int64_t mr) {
  const int64_t kd = (kc + kChunk - 1) / kChunk;
  for (int64_t q = 0; q < kd; ++q) {
    const int64_t k0 = q * kChunk;
    const __mmask16 m_lo = first_n(kc - k0), m_hi = first_n(kc - k0 - 16);
    for (int64_t r = 0; r < mr; ++r) {
      __m512i words = _mm512_setzero_si512();
      if (r < valid) {
        const float* s = A + r * lda + k0;
        const __m512 lo = _mm512_maskz_loadu_ps(m_lo, s);
        const __m512 hi = _mm512_maskz_loadu_ps(m_hi, s + 16);
        words = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // word t = (s[2t], s[2t+1])
      }
      _mm512_store_si512(dst + q * mr + r, words);
    }
  }
}

// One panel of op(A) = A^T (A is (K, M), rows along M): rows [i, i+valid) of op(A).
void pack_a_rows_along_m(AmxBlock* __restrict dst, const float* A, int64_t lda, int64_t i,
                         int64_t valid, int64_t p0, int64_t kc, int64_t mr) {
  constexpr int64_t kMr = AmxTile::mr;
  alignas(64) uint32_t pairs[kPairs][kMr];  // (pair, row): pack_a_bf16's k-major panel
  const int64_t kd = (kc + kChunk - 1) / kChunk;
  for (int64_t q = 0; q < kd; ++q) {
    const int64_t kq = std::min(kChunk, kc - q * kChunk), filled = (kq + 1) / 2;
    pack_a_bf16(&pairs[0][0], A, lda, true, i, valid, p0 + q * kChunk, kq, kMr);
    std::memset(&pairs[filled][0], 0, sizeof(uint32_t) * size_t((kPairs - filled) * kMr));
    for (int64_t h = 0; h < mr; h += 16) {
      __m512i r[16];
      for (int t = 0; t < 16; ++t) r[t] = _mm512_load_si512(&pairs[t][h]);
      transpose16(r);
      for (int j = 0; j < 16; ++j) _mm512_store_si512(dst + q * mr + h + j, r[j]);
    }
  }
}

}  // namespace

void pack_a_amx(AmxBlock* dst, const float* A, int64_t lda, bool trans_a, int64_t i0,
                int64_t mc, int64_t p0, int64_t kc, int64_t mr) {
  const int64_t panels = (mc + mr - 1) / mr, kd = (kc + kChunk - 1) / kChunk;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t i = i0 + p * mr, valid = std::min(mr, i0 + mc - i);
    if (trans_a)
      pack_a_rows_along_m(dst + p * mr * kd, A, lda, i, valid, p0, kc, mr);
    else
      pack_a_rows_along_k(dst + p * mr * kd, A + i * lda + p0, lda, kc, valid, mr);
  }
}

void pack_b_amx(AmxBlock* dst, const float* B, int64_t ldb, bool trans_b, int64_t p0,
                int64_t kc, int64_t j0, int64_t nc, int64_t nr) {
  const int64_t panels = (nc + nr - 1) / nr, kd = (kc + kChunk - 1) / kChunk;
  const int64_t kp = (kc + 1) / 2;
  for (int64_t p = 0; p < panels; ++p) {
    uint32_t* words = dst[p * nr * kd].w;  // (16 kd, nr) pair words
    const int64_t j = j0 + p * nr;
    pack_b_bf16(words, B, ldb, trans_b, p0, kc, j, std::min(nr, j0 + nc - j), nr);
    std::memset(words + kp * nr, 0, sizeof(uint32_t) * size_t((kd * kPairs - kp) * nr));
  }
}

}  // namespace fastmlp

#else  // not x86-64: never called (cpu_has_amx_bf16() is false), but must link

namespace fastmlp {

void pack_a_amx(AmxBlock*, const float*, int64_t, bool, int64_t, int64_t, int64_t, int64_t,
                int64_t) {}
void pack_b_amx(AmxBlock*, const float*, int64_t, bool, int64_t, int64_t, int64_t, int64_t,
                int64_t) {}

}  // namespace fastmlp

#endif
