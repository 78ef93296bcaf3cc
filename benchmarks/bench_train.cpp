// Google Benchmark: one training epoch (adam, batch 200) of the mnist784-shaped network
// 784-256-128-10 on 12,000 random rows, float, double and (where the CPU has AVX-512 BF16)
// float with bf16 products; counter GFLOPS of its products.
//   build as in bench_gemm.cpp, then build/bench/bench_train
#include <benchmark/benchmark.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "common/cpu_features.h"
#include "nn/network.h"
#include "bench_main.h"

namespace {

template <typename T>
void epoch(benchmark::State& state, fastmlp::Precision precision) {
  using namespace fastmlp;
  const int64_t n = 12000, batch = 200;
  NetworkSpec spec;
  spec.sizes = {784, 256, 128, 10};
  spec.hidden = Activation::relu;
  spec.output = Activation::softmax;
  spec.loss = Loss::log_loss;
  Network<T> net(spec, batch, {}, precision);
  std::mt19937 gen(0);
  std::normal_distribution<double> dist(0, 1);
  std::vector<T> X(size_t(n * 784)), Y(size_t(n * 10), T(0));
  for (auto& x : X) x = T(dist(gen));
  for (int64_t i = 0; i < n; ++i) Y[size_t(i * 10 + i % 10)] = T(1);
  std::vector<T> params(size_t(spec.n_params())), m(params.size()), v(params.size());
  for (auto& p : params) p = T(0.05 * dist(gen));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), gen);
  InputMatrix<T> input;
  input.dense = X.data();
  input.n = n;
  input.d = 784;
  OptimizerConfig opt;
  int64_t t = 0;
  bool interrupted = false;
  for (auto _ : state) {
    benchmark::DoNotOptimize(net.train_epoch(params.data(), m.data(), v.data(), t, opt, input,
                                             Y.data(), nullptr, order.data(), n, batch, 1e-4,
                                             0, 0, InterruptCheck(), &interrupted));
  }
  // forward 784*256 + 256*128 + 128*10, weight gradients the same, input gradients of the
  // two upper layers: multiply-adds per row.
  const double macs = 2.0 * (784 * 256 + 256 * 128 + 128 * 10) + 256 * 128 + 128 * 10;
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * macs * n,
                                                benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}

void register_all() {
  using fastmlp::Precision;
  benchmark::RegisterBenchmark("epoch<float>", [](benchmark::State& st) {
    epoch<float>(st, Precision::native);
  })->UseRealTime()->Unit(benchmark::kMillisecond);
  if (fastmlp::cpu_has_avx512_bf16()) {
    benchmark::RegisterBenchmark("epoch<float>/bf16", [](benchmark::State& st) {
      epoch<float>(st, Precision::bf16);
    })->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("epoch<double>", [](benchmark::State& st) {
    epoch<double>(st, Precision::native);
  })->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

FASTMLP_BENCHMARK_MAIN(register_all)
