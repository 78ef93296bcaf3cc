// main() for the benchmark programs that register their cases at run time (which cases
// exist depends on what this CPU runs): Google Benchmark's BENCHMARK_MAIN, with the
// registration first.
#pragma once
#include <benchmark/benchmark.h>

#define FASTMLP_BENCHMARK_MAIN(register_fn)  \
  int main(int argc, char** argv) {          \
    register_fn();                           \
    ::benchmark::Initialize(&argc, argv);    \
    ::benchmark::RunSpecifiedBenchmarks();   \
    ::benchmark::Shutdown();                 \
    return 0;                                \
  }
