// AMX-BF16 GEMM micro-kernel (32 x 32): bfloat16 inputs, float32 accumulator tiles and C.
// This file alone is compiled with -mamx-tile -mamx-bf16 (and the AVX-512 flags for the
// epilogue) and is only called when cpu_has_amx_bf16(). Tested against numpy on the
// bf16-rounded inputs by tests/test_bf16.py.
//
// Eight tiles of 16 rows x 64 bytes: C's four 16 x 16 float quarters (tmm0-3), A's two
// 16-row halves (tmm4-5: 16 rows x 32 bf16 along K) and B's two 16-column halves (tmm6-7:
// 16 pairs along K x 16 columns). Per k chunk of 32: four tile loads, four TDPBF16PS
// (16 x 16 x 32 multiply-adds each; float32 sums, like vdpbf16ps: products of bf16 are
// exact in float32, bf16 denormals read as zero, denormal sums flushed to zero).
#include "gemm/ukernel.h"

#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
#include <immintrin.h>

namespace fastmlp {
namespace {

static_assert(AmxTile::mr == 32 && AmxTile::nr == 32 && AmxTile::k_chunk == 32,
              "the kernel below hard-codes 2 x 2 tiles of 16 rows x 64 bytes");

// LDTILECFG's 64-byte operand, palette 1.
struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];  // bytes per row of each tile
  uint8_t rows[16];
};

TileConfig make_config() {
  TileConfig cfg{};
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  return cfg;
}

const TileConfig kConfig = make_config();

}  // namespace

void amx_tiles_begin() { _tile_loadconfig(&kConfig); }
void amx_tiles_end() { _tile_release(); }

void ukernel_amx(int64_t KD, const AmxBlock* a, const AmxBlock* b, float* c, int64_t ldc,
                 float alpha, float beta, int64_t m, int64_t n) {
  constexpr int64_t MR = AmxTile::mr, NR = AmxTile::nr;
  constexpr int64_t kBRowBytes = NR * 4;  // a B panel row: NR pair words
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t q = 0; q < KD; ++q) {
    const AmxBlock* aq = a + q * MR;
    const char* bq = reinterpret_cast<const char*>(b + q * NR);
    _tile_loadd(4, aq, 64);
    _tile_loadd(6, bq, kBRowBytes);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, bq + 64, kBRowBytes);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, aq + 16, 64);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  const int64_t ldc_bytes = ldc * int64_t(sizeof(float));
  if (m == MR && n == NR && alpha == 1.0f && beta == 0.0f) {  // C = the sums, as they are
    _tile_stored(0, c, ldc_bytes);
    _tile_stored(1, c + 16, ldc_bytes);
    _tile_stored(2, c + 16 * ldc, ldc_bytes);
    _tile_stored(3, c + 16 * ldc + 16, ldc_bytes);
    return;
  }
  // C = alpha * sums + beta * C through a 4 KB buffer in L1; masks keep edge tiles in C.
  alignas(64) float acc[MR][NR];
  _tile_stored(0, &acc[0][0], NR * 4);
  _tile_stored(1, &acc[0][16], NR * 4);
  _tile_stored(2, &acc[16][0], NR * 4);
  _tile_stored(3, &acc[16][16], NR * 4);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 mask[2] = {
      n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1),
      n >= 32 ? __mmask16(0xFFFF) : n <= 16 ? __mmask16(0) : __mmask16((1u << (n - 16)) - 1)};
  for (int64_t r = 0; r < m; ++r)
    for (int v = 0; v < 2; ++v) {
      float* p = c + r * ldc + 16 * v;
      __m512 out = _mm512_mul_ps(va, _mm512_load_ps(&acc[r][16 * v]));
      if (beta != 0.0f) out = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], p), out);
      _mm512_mask_storeu_ps(p, mask[v], out);
    }
}

}  // namespace fastmlp

#else  // not built with AMX: never called (cpu_has_amx_bf16() is false), but must link

namespace fastmlp {

void amx_tiles_begin() {}
void amx_tiles_end() {}
void ukernel_amx(int64_t, const AmxBlock*, const AmxBlock*, float*, int64_t, float, float,
                 int64_t, int64_t) {}

}  // namespace fastmlp

#endif
