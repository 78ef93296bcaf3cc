// The micro-kernel interface shared by the GEMM driver and the per-ISA kernel files.
// A micro-kernel computes one MR x NR tile: C (m,n) = alpha * a (MR,K) @ b (K,NR) + beta * C,
// where a holds K columns of MR values (k-major) and b holds K rows of NR values, and
// m <= MR, n <= NR say how much of the tile lies inside C. beta == 0 never reads C. Each
// ISA's kernels live in their own file, compiled with their own flags, and only the plain
// functions below cross file boundaries.
//
// The float/double kernels take where the values of a and b lie: a (r, k) at
// a[r * a_rs + k * a_cs] and b (k, j) at b[k * b_step + j]. Zero-padded packed panels have
// a_rs = 1, a_cs = MR and b_step = NR; a full panel read in place has the strides of the
// matrix itself: a from op(A) = A^T (a_rs = 1, a_cs = lda) or from A (a_rs = lda,
// a_cs = 1), b from B (b_step = ldb); see gemm.cpp. The sums are the same either way
// (the same FMAs in the same order), only where the values come from differs.
#pragma once
#include <cstdint>

namespace fastmlp {

// P is the packed element: T itself, or for the bf16 kernel a pair of bfloat16 along K in
// one 32-bit word (then K counts pairs).
template <typename T, typename P = T>
using UkernelFn = void (*)(int64_t K, const P* a, const P* b, T* c, int64_t ldc, T alpha,
                           T beta, int64_t m, int64_t n);
// a_rs, a_cs, b_step: see above (a_rs == 1 or a_cs == 1).
template <typename T>
using UkernelStridedFn = void (*)(int64_t K, const T* a, int64_t a_rs, int64_t a_cs,
                                  const T* b, int64_t b_step, T* c, int64_t ldc, T alpha,
                                  T beta, int64_t m, int64_t n);

// Register tiles (MR rows x NR columns). A SIMD tile is MR rows of NR / lanes vectors of
// accumulators, sized to leave registers for the B vectors: AVX2 has 16 ymm registers
// (6 x 2 accumulators + 2 B + 1 broadcast), AVX-512 has 32 zmm (see ukernel_avx512.cpp).
template <typename T>
struct ScalarTile {
  static constexpr int64_t mr = 4, nr = 8;
};
template <typename T>
struct Avx2Tile {
  static constexpr int64_t mr = 6, nr = 64 / sizeof(T);
};
template <typename T>
struct Avx512Tile;
template <>
struct Avx512Tile<float> {
  static constexpr int64_t mr = 12, nr = 32;
};
template <>
struct Avx512Tile<double> {
  static constexpr int64_t mr = 12, nr = 16;
};

// bf16 inputs, float32 accumulators and C: 12 x 32, like the float AVX-512 tile, since a
// vdpbf16ps does what an FMA does for twice the depth (a pair along K per 32-bit lane).
struct Avx512Bf16Tile {
  static constexpr int64_t mr = 12, nr = 32;
};

#define FASTMLP_DECLARE_UKERNEL(name, T)                                                   \
  void name(int64_t K, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t b_step, \
            T* c, int64_t ldc, T alpha, T beta, int64_t m, int64_t n);
FASTMLP_DECLARE_UKERNEL(ukernel_scalar, float)
FASTMLP_DECLARE_UKERNEL(ukernel_scalar, double)
FASTMLP_DECLARE_UKERNEL(ukernel_avx2, float)
FASTMLP_DECLARE_UKERNEL(ukernel_avx2, double)
FASTMLP_DECLARE_UKERNEL(ukernel_avx512, float)
FASTMLP_DECLARE_UKERNEL(ukernel_avx512, double)
#undef FASTMLP_DECLARE_UKERNEL

// KP pairs along K (see pack_a_bf16 / pack_b_bf16); needs AVX-512 BF16.
void ukernel_avx512_bf16(int64_t KP, const uint32_t* a, const uint32_t* b, float* c,
                         int64_t ldc, float alpha, float beta, int64_t m, int64_t n);

// AMX-BF16: one 64-byte tile row, 16 words of bf16 pairs along K. The packed element of
// the AMX panels (pack_a_amx / pack_b_amx): a k chunk of 32 values is one AmxBlock per row
// of an A panel, and 16 rows of NR pair words (NR / 16 blocks each) of a B panel.
struct alignas(64) AmxBlock {
  uint32_t w[16];
};

// 32 x 32: four 16 x 16 float accumulator tiles, two A and two B tiles, the 8 tiles AMX
// has. One TDPBF16PS does 16 x 16 x 32 multiply-adds.
struct AmxTile {
  static constexpr int64_t mr = 32, nr = 32, k_chunk = 32;
};

// KD k chunks of 32 (zero-padded); needs cpu_has_amx_bf16() and, on the calling thread,
// amx_tiles_begin() since the last amx_tiles_end() (the tile configuration).
void ukernel_amx(int64_t KD, const AmxBlock* a, const AmxBlock* b, float* c, int64_t ldc,
                 float alpha, float beta, int64_t m, int64_t n);
// Loading the tile configuration costs ~100 ns, a tenth of a micro-tile, so the driver
// does it once per thread around a run of micro-kernel calls rather than in each call;
// the end releases the tiles (the OS then skips their 8 KB on context switches).
void amx_tiles_begin();
void amx_tiles_end();

}  // namespace fastmlp
