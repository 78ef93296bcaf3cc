// Google Benchmark: the register-only throughput of one core's multiply-add instructions,
// the ceilings the GEMM micro-kernels work under -- float32 FMA (ukernel_avx512), AVX-512
// BF16 vdpbf16ps (ukernel_avx512_bf16) and AMX TDPBF16PS (ukernel_amx) -- each with enough
// independent accumulators to hide its latency; counter GFLOPS (2 per multiply-add).
// On Sapphire Rapids vdpbf16ps does twice an FMA's work at under half its issue rate:
// that, not packing or the tile shape, is why bf16 products lose to float32 there.
//   build as in bench_gemm.cpp, then build/bench/bench_peak
#include <benchmark/benchmark.h>

#if defined(__AVX512BF16__) && defined(__AMX_TILE__) && defined(__AMX_BF16__)
#include <immintrin.h>

#include <cstdint>

#include "common/cpu_features.h"

namespace {

constexpr int kAcc = 24;        // 24 zmm accumulators, as in the 12 x 32 tiles
constexpr int64_t kIters = 1 << 16;

void fma_f32(benchmark::State& state) {
  __m512 acc[kAcc];
  for (auto& a : acc) a = _mm512_setzero_ps();
  __m512 x = _mm512_set1_ps(1.0f);
  const __m512 y = _mm512_set1_ps(1e-3f);
  for (auto _ : state)
    for (int64_t i = 0; i < kIters; ++i) {
#pragma GCC unroll 24
      for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_fmadd_ps(x, y, acc[j]);
      __asm__ volatile("" : "+v"(x));
    }
  for (auto& a : acc) benchmark::DoNotOptimize(a);
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * 16 * kAcc * kIters,
                                                benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}

void vdpbf16ps(benchmark::State& state) {
  __m512 acc[kAcc];
  for (auto& a : acc) a = _mm512_setzero_ps();
  __m512bh x = (__m512bh)_mm512_set1_epi32(0x3A803A80);  // pairs of bf16 0.0009765625
  const __m512bh y = (__m512bh)_mm512_set1_epi32(0x3F803F80);  // pairs of 1.0
  for (auto _ : state)
    for (int64_t i = 0; i < kIters; ++i) {
#pragma GCC unroll 24
      for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], x, y);
      __asm__ volatile("" : "+v"(x));
    }
  for (auto& a : acc) benchmark::DoNotOptimize(a);
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * 32 * kAcc * kIters,
                                                benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}

struct alignas(64) TileConfig {
  uint8_t palette_id, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

void tdpbf16ps(benchmark::State& state) {
  if (!fastmlp::cpu_has_amx_bf16()) return state.SkipWithError("no AMX-BF16 here");
  TileConfig cfg{};
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  alignas(64) static uint16_t ones[16 * 32];
  for (auto& v : ones) v = 0x3A80;
  _tile_loadconfig(&cfg);
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  _tile_loadd(6, ones, 64);
  _tile_loadd(7, ones, 64);
  for (auto _ : state) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t i = 0; i < kIters / 16; ++i) {  // the 2 x 2 tiles of ukernel_amx
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_release();
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * 4 * 16 * 16 * 32 * (kIters / 16),
                                                benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}

}  // namespace

BENCHMARK(fma_f32);
BENCHMARK(vdpbf16ps);
BENCHMARK(tdpbf16ps);

#endif

BENCHMARK_MAIN();
