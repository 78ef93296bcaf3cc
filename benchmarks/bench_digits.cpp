// Google Benchmark: where a load_digits epoch goes (the default MLPClassifier: 64-100-10,
// relu, softmax, adam, batch 200, float64; 1,797 rows shuffled, as compare.py's "digits").
//   build as in bench_gemm.cpp, then build/bench/bench_digits
//
// - floor/dgemm1024: the float64 GEMM rate of the FLOP floor (compare.py probes squares of
//   512-2048 and keeps the best; here one square, in the same run as the epochs).
// - op/*: each piece of one row slice (100 rows, one thread), alone and hot in cache.
// - slice: the whole slice (Network::loss_grad on one thread, hot): about the sum of op/*.
// - step/*: the optimizer step over all 7,510 parameters on one thread (the slices' second
//   gradient merged in, as in training).
// - epoch: Network::train_epoch with the process's threads, a fresh shuffle each time; its
//   GFLOPS over floor/dgemm's is 1 / (epoch / floor) of compare.py (C++ only: no Python).
// GFLOPS counts multiply-adds x 2, zero padding excluded.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "common/parallel.h"
#include "gemm/gemm.h"
#include "nn/activations.h"
#include "nn/dense.h"
#include "nn/losses.h"
#include "nn/network.h"
#include "nn/optimizers.h"
#include "nn/train_loop.h"
#include "bench_main.h"

namespace {

using namespace fastmlp;

constexpr int64_t kRows = 1797, kIn = 64, kHidden = 100, kOut = 10, kBatch = 200;
constexpr int64_t kSlice = kBatch / kRowSlices;

NetworkSpec digits_spec() {
  NetworkSpec spec;
  spec.sizes = {kIn, kHidden, kOut};
  spec.hidden = Activation::relu;
  spec.output = Activation::softmax;
  spec.loss = Loss::log_loss;
  return spec;
}

// Random features in [0, 1) (load_digits / 16 is in [0, 1]), one-hot targets, a shuffled
// order, small random weights and, for the ops, the arrays of one slice.
struct Digits {
  std::vector<double> X, Y, params, grad;
  std::vector<int64_t> order;
  std::vector<double> x, h, p, delta, dh, w_grad;
  Digits() : X(size_t(kRows * kIn)), Y(size_t(kRows * kOut), 0.0) {
    std::mt19937 gen(0);
    std::uniform_real_distribution<double> u(0, 1);
    for (auto& v : X) v = u(gen);
    for (int64_t i = 0; i < kRows; ++i) Y[size_t(i * kOut + i % kOut)] = 1.0;
    params.resize(size_t(digits_spec().n_params()));
    for (auto& v : params) v = 0.1 * (u(gen) - 0.5);
    grad.resize(2 * params.size());
    for (auto& v : grad) v = 1e-3 * (u(gen) - 0.5);
    order.resize(size_t(kRows));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), gen);
    x.assign(X.begin(), X.begin() + kSlice * kIn);
    h.resize(size_t(kSlice * kHidden));
    for (auto& v : h) v = u(gen) - 0.5;
    p.assign(size_t(kSlice * kOut), 0.1);
    delta.resize(p.size());
    for (auto& v : delta) v = u(gen) - 0.5;
    dh.resize(h.size());
    w_grad.resize(size_t(kIn * kHidden));
  }
  InputMatrix<double> input() const {
    InputMatrix<double> in;
    in.dense = X.data();
    in.n = kRows;
    in.d = kIn;
    return in;
  }
  const double* w1() const { return params.data(); }
  const double* w2() const { return params.data() + kIn * kHidden; }
  const double* b1() const { return params.data() + kIn * kHidden + kHidden * kOut; }
};

Digits& data() {
  static Digits d;
  return d;
}

void set_gflops(benchmark::State& state, double macs) {
  if (macs == 0) return;
  state.counters["GFLOPS"] = benchmark::Counter(
      2.0 * macs, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// One piece of a slice, on one thread.
template <typename Fn>
void op(benchmark::State& state, double macs, Fn&& fn) {
  SerialScope serial;
  for (auto _ : state) {
    fn();
    benchmark::ClobberMemory();
  }
  set_gflops(state, macs);
}

void register_ops() {
  Digits& d = data();
  static GemmWorkspace ws;
  static AlignedBuffer<double> gathered;
  const auto reg = [](const char* name, double macs, auto fn) {
    benchmark::RegisterBenchmark(name, [macs, fn](benchmark::State& st) { op(st, macs, fn); })
        ->Unit(benchmark::kMicrosecond);
  };
  reg("op/gather_x", 0, [&d] {
    benchmark::DoNotOptimize(gather_rows(gathered, d.X.data(), kIn, d.order.data(), 0, kSlice));
  });
  reg("op/forward_hidden", double(kSlice * kIn * kHidden), [&d] {
    gemm<double>(false, false, kSlice, kHidden, kIn, 1, d.x.data(), kIn, d.w1(), kHidden, 0,
                 d.h.data(), kHidden, ws);
  });
  reg("op/bias_relu", 0, [&d] {
    activation_forward(Activation::relu, d.h.data(), kSlice, kHidden, d.b1());
  });
  reg("op/forward_output", double(kSlice * kHidden * kOut), [&d] {
    gemm<double>(false, false, kSlice, kOut, kHidden, 1, d.h.data(), kHidden, d.w2(), kOut, 0,
                 d.p.data(), kOut, ws);
  });
  reg("op/bias_softmax", 0, [&d] {  // the output of the last call is as good an input
    activation_forward(Activation::softmax, d.p.data(), kSlice, kOut, d.b1());
  });
  reg("op/loss", 0, [&d] {
    benchmark::DoNotOptimize(
        loss_forward(Loss::log_loss, d.p.data(), d.Y.data(), (const double*)nullptr, kSlice, kOut));
    loss_backward(Loss::log_loss, d.delta.data(), d.p.data(), d.Y.data(), (const double*)nullptr,
                  kSlice, kOut);
  });
  reg("op/grad_output", double(kSlice * kHidden * kOut), [&d] {
    dense_backward_weights(d.w_grad.data(), d.w_grad.data() + kHidden * kOut, d.h.data(),
                           d.delta.data(), kSlice, kHidden, kOut, false, ws, Precision::native);
  });
  reg("op/grad_hidden_out", double(kSlice * kHidden * kOut), [&d] {
    dense_backward_input(d.dh.data(), d.delta.data(), d.w2(), kSlice, kHidden, kOut, ws,
                         Precision::native);
  });
  reg("op/relu_grad_bias", 0, [&d] {
    dense_backward_activation(Activation::relu, d.dh.data(), d.h.data(), (const double*)nullptr,
                              d.w_grad.data(), kSlice, kHidden, false);
  });
  reg("op/grad_hidden", double(kSlice * kIn * kHidden), [&d] {
    gemm<double>(true, false, kIn, kHidden, kSlice, 1, d.x.data(), kIn, d.dh.data(), kHidden, 0,
                 d.w_grad.data(), kHidden, ws);
  });
}

// Multiply-adds of one row: forward, weight gradients, the hidden layer's input gradient.
constexpr double kMacsPerRow = 2.0 * (kIn * kHidden + kHidden * kOut) + kHidden * kOut;

void slice(benchmark::State& state) {
  Digits& d = data();
  SerialScope serial;
  Network<double> net(digits_spec(), kSlice, {}, Precision::native, false);
  const InputMatrix<double> in = d.input();
  for (auto _ : state)
    benchmark::DoNotOptimize(net.loss_grad(d.params.data(), d.grad.data(), in, d.Y.data(),
                                           nullptr, d.order.data(), kSlice, 1e-4));
  set_gflops(state, kMacsPerRow * kSlice);
}

void step(benchmark::State& state, Solver solver) {
  Digits& d = data();
  SerialScope serial;
  const int64_t n = digits_spec().n_params(), n_coefs = digits_spec().n_coefs();
  std::vector<double> w = d.params, a(size_t(n), 0.0), b(size_t(n), 0.0), partial;
  std::vector<double> g(d.grad.begin(), d.grad.begin() + n);  // unclipped: left as it is
  OptimizerConfig opt;
  opt.solver = solver;
  int64_t t = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(penalized_update(opt, ++t, w.data(), a.data(), b.data(), g.data(),
                                              d.grad.data() + n, n, n_coefs, 1e-4, 1.0 / kBatch,
                                              partial));
  }
}

void epoch(benchmark::State& state, Solver solver) {
  Digits& d = data();
  Network<double> net(digits_spec(), kBatch);
  const InputMatrix<double> in = d.input();
  std::vector<double> w = d.params, a(w.size(), 0.0), b(w.size(), 0.0);
  std::vector<int64_t> order = d.order;
  std::mt19937 gen(1);
  OptimizerConfig opt;
  opt.solver = solver;
  int64_t t = 0;
  bool interrupted = false;
  for (auto _ : state) {
    state.PauseTiming();
    std::shuffle(order.begin(), order.end(), gen);
    state.ResumeTiming();
    benchmark::DoNotOptimize(net.train_epoch(w.data(), a.data(), b.data(), t, opt, in,
                                             d.Y.data(), nullptr, order.data(), kRows, kBatch,
                                             1e-4, 0, 0, InterruptCheck(), &interrupted));
  }
  set_gflops(state, kMacsPerRow * kRows);
}

void floor_dgemm(benchmark::State& state) {
  const int64_t n = 1024;
  std::vector<double> a(size_t(n * n), 0.5), b(a), c(a);
  GemmWorkspace ws;
  for (auto _ : state) {
    gemm<double>(false, false, n, n, n, 1.0, a.data(), n, b.data(), n, 0.0, c.data(), n, ws);
    benchmark::ClobberMemory();
  }
  set_gflops(state, double(n) * n * n);
}

void register_all() {
  benchmark::RegisterBenchmark("floor/dgemm1024", floor_dgemm)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  register_ops();
  benchmark::RegisterBenchmark("slice", slice)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("step/adam", [](benchmark::State& st) { step(st, Solver::adam); })
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("step/sgd", [](benchmark::State& st) { step(st, Solver::sgd); })
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("epoch/adam", [](benchmark::State& st) { epoch(st, Solver::adam); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("epoch/sgd", [](benchmark::State& st) { epoch(st, Solver::sgd); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

FASTMLP_BENCHMARK_MAIN(register_all)
