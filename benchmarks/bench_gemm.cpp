// Google Benchmark: our GEMM (each micro-kernel this CPU runs, and each bf16 kernel --
// sgemm/bf16-avx512, sgemm/bf16-amx -- where the CPU has them) against the reference triple
// loop, float and double, square and mini-batch shapes; counter GFLOPS.
//   cmake -S . -B build/bench -DFASTMLP_BENCHMARKS=ON -DFASTMLP_PYTHON=OFF
//   cmake --build build/bench -j2 && build/bench/bench_gemm
#include <benchmark/benchmark.h>

#include <random>
#include <type_traits>
#include <vector>

#include "common/cpu_features.h"
#include "gemm/gemm.h"
#include "bench_main.h"

namespace {

using fastmlp::GemmKernel;

struct Shape {
  int64_t m, n, k;
  bool ta, tb;
};

// Square sizes and the shapes of one mini-batch step of the mnist784 workload.
const Shape kShapes[] = {
    {256, 256, 256, false, false},   {512, 512, 512, false, false},
    {1024, 1024, 1024, false, false}, {2048, 2048, 2048, false, false},
    {200, 256, 784, false, false},   {784, 256, 200, true, false},
    {200, 784, 256, false, true},    {200, 128, 256, false, false},
};

enum class Mode { kernel, reference, bf16 };

template <typename T>
void run(benchmark::State& state, GemmKernel kernel, Mode mode,
         fastmlp::Bf16Kernel bf16 = fastmlp::Bf16Kernel::automatic) {
  const Shape s = kShapes[state.range(0)];
  std::mt19937 gen(0);
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<T> a(size_t(s.m * s.k)), b(size_t(s.k * s.n)), c(size_t(s.m * s.n));
  for (auto& x : a) x = T(dist(gen));
  for (auto& x : b) x = T(dist(gen));
  const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
  fastmlp::GemmWorkspace ws;
  for (auto _ : state) {
    if (mode == Mode::reference) {
      fastmlp::gemm_ref<T>(s.ta, s.tb, s.m, s.n, s.k, T(1), a.data(), lda, b.data(), ldb, T(0),
                           c.data(), s.n);
    } else if (mode == Mode::bf16) {
      if constexpr (std::is_same_v<T, float>)
        fastmlp::gemm_bf16(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f,
                           c.data(), s.n, ws, bf16);
    } else {
      fastmlp::gemm<T>(s.ta, s.tb, s.m, s.n, s.k, T(1), a.data(), lda, b.data(), ldb, T(0),
                       c.data(), s.n, ws, kernel);
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * s.m * s.n * s.k,
                                                benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
  state.SetLabel(std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) +
                 (s.ta ? " A^T" : "") + (s.tb ? " B^T" : ""));
}

void register_all() {
  const int n_shapes = int(sizeof(kShapes) / sizeof(kShapes[0]));
  for (const std::string& name : fastmlp::available_gemm_kernels()) {
    const GemmKernel k = fastmlp::parse_gemm_kernel(name);
    benchmark::RegisterBenchmark(("sgemm/" + name).c_str(), [k](benchmark::State& st) {
      run<float>(st, k, Mode::kernel);
    })->DenseRange(0, n_shapes - 1)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("dgemm/" + name).c_str(), [k](benchmark::State& st) {
      run<double>(st, k, Mode::kernel);
    })->DenseRange(0, n_shapes - 1)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  for (const std::string& name : fastmlp::available_bf16_kernels()) {
    if (name == "float32") continue;  // that is sgemm/avx512 above
    const fastmlp::Bf16Kernel k = fastmlp::parse_bf16_kernel(name);
    benchmark::RegisterBenchmark(("sgemm/bf16-" + name).c_str(), [k](benchmark::State& st) {
      run<float>(st, GemmKernel::automatic, Mode::bf16, k);
    })->DenseRange(0, n_shapes - 1)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  // The oracle only on the shapes it finishes in reasonable time.
  for (int i : {0, 4, 5, 6, 7}) {
    benchmark::RegisterBenchmark("sgemm/reference", [](benchmark::State& st) {
      run<float>(st, GemmKernel::scalar, Mode::reference);
    })->Arg(i)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

FASTMLP_BENCHMARK_MAIN(register_all)
