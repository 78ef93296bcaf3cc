// Packing op(A) and op(B) blocks into the zero-padded micro-panels the micro-kernels read
// (see ukernel.h). Serial: the driver decides which thread packs what.
#pragma once
#include <cstdint>

namespace fastmlp {

// dst = rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) as ceil(mc/mr) panels of (kc, mr),
// k-major, rows past mc zero. op(A) is A, or A^T when trans_a (A is then (K, M)).
template <typename T>
void pack_a(T* dst, const T* A, int64_t lda, bool trans_a, int64_t i0, int64_t mc, int64_t p0,
            int64_t kc, int64_t mr);

// dst = rows [p0, p0+kc) x cols [j0, j0+nc) of op(B) as ceil(nc/nr) panels of (kc, nr),
// columns past nc zero. op(B) is B, or B^T when trans_b (B is then (N, K)).
template <typename T>
void pack_b(T* dst, const T* B, int64_t ldb, bool trans_b, int64_t p0, int64_t kc, int64_t j0,
            int64_t nc, int64_t nr);

// The same panels for the AVX-512 float/double kernels, the transposing cases (A, B^T) done
// in registers (pack_avx512.cpp, built with AVX-512 flags): call only when cpu_has_avx512().
template <typename T>
void pack_a_avx512(T* dst, const T* A, int64_t lda, bool trans_a, int64_t i0, int64_t mc,
                   int64_t p0, int64_t kc, int64_t mr);
template <typename T>
void pack_b_avx512(T* dst, const T* B, int64_t ldb, bool trans_b, int64_t p0, int64_t kc,
                   int64_t j0, int64_t nc, int64_t nr);

// The same panels for the bf16 GEMM (gemm_bf16), rounded to bfloat16 as they are packed
// (round to nearest even, denormals to zero: vcvtne2ps2bf16). Along K the values go in
// pairs, one 32-bit word each (the even k in the low half, as vdpbf16ps reads them), so a
// panel is (ceil(kc/2), w) words; an odd kc gets a zero partner. Defined in pack_bf16.cpp,
// which needs AVX-512 BF16: call only when cpu_has_avx512_bf16().
void pack_a_bf16(uint32_t* dst, const float* A, int64_t lda, bool trans_a, int64_t i0,
                 int64_t mc, int64_t p0, int64_t kc, int64_t mr);
void pack_b_bf16(uint32_t* dst, const float* B, int64_t ldb, bool trans_b, int64_t p0,
                 int64_t kc, int64_t j0, int64_t nc, int64_t nr);

// The AMX-BF16 panels (ukernel_amx), rounded as above, K zero-padded to chunks of 32
// (KD = ceil(kc/32)). An A panel is (KD, mr) AmxBlocks, chunk-major: block (q, r) holds
// row r's pairs 16q .. 16q+15, so 16 consecutive blocks are one A tile. A B panel is
// pack_b_bf16's (kp, nr) pair words with kp padded to 16 KD rows: 16 rows of a chunk are
// a B tile per 16 columns (row stride nr words). Defined in pack_amx.cpp (AVX-512 BF16).
struct AmxBlock;
void pack_a_amx(AmxBlock* dst, const float* A, int64_t lda, bool trans_a, int64_t i0,
                int64_t mc, int64_t p0, int64_t kc, int64_t mr);
void pack_b_amx(AmxBlock* dst, const float* B, int64_t ldb, bool trans_b, int64_t p0,
                int64_t kc, int64_t j0, int64_t nc, int64_t nr);

}  // namespace fastmlp
