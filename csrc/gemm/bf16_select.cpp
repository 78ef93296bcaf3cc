// Which products precision='bfloat16' runs on this CPU, decided by measurement: on AMD Zen 5
// vdpbf16ps (twice an FMA's multiply-adds) issues at the FMA's rate, while on Intel Sapphire
// Rapids it issues at a quarter of it (so bf16 products there lose to float32: 0.5-0.6x)
// and AMX tiles win by far (bench_peak). Feature flags cannot tell these apart; a few
// milliseconds of timing can. Tested by tests/test_bf16.py (forced kernels, FASTMLP_AMX=0,
// the float32 fallback, a first use from several threads at once).
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/cpu_features.h"
#include "gemm/gemm.h"

namespace fastmlp {

Bf16Kernel parse_bf16_kernel(const std::string& name) {
  if (name == "auto") return Bf16Kernel::automatic;
  if (name == "avx512") return Bf16Kernel::avx512;
  if (name == "amx") return Bf16Kernel::amx;
  if (name == "float32") return Bf16Kernel::float32;
  throw std::invalid_argument("unknown bfloat16 GEMM kernel '" + name +
                              "' (expected auto, avx512, amx or float32)");
}

const char* bf16_kernel_name(Bf16Kernel kernel) {
  switch (kernel) {
    case Bf16Kernel::avx512: return "avx512";
    case Bf16Kernel::amx: return "amx";
    case Bf16Kernel::float32: return "float32";
    default: return "auto";
  }
}

std::vector<std::string> available_bf16_kernels() {
  if (!cpu_has_avx512_bf16()) return {};
  std::vector<std::string> out{"avx512"};
  if (cpu_has_amx_bf16()) out.push_back("amx");
  out.push_back("float32");
  return out;
}

namespace {

constexpr const char* kNoBf16Message =
    "bfloat16 GEMM needs a CPU with AVX-512 BF16 (avx512_bf16: Intel Cooper Lake or Sapphire "
    "Rapids and later, AMD Zen 4 and later); this CPU does not have it (or FASTMLP_BF16=0)";

// One thread for the calibration, whatever the caller's thread count: the choice is per
// core type, and one thread is what a busy 2-core machine measures least noisily.
class SerialScope {
 public:
  SerialScope() {
#ifdef _OPENMP
    saved_ = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
  }
  ~SerialScope() {
#ifdef _OPENMP
    omp_set_num_threads(saved_);
#endif
  }

 private:
  int saved_ = 1;
};

struct Shape {
  int64_t m, n, k;
  bool ta, tb;
};
// One mini-batch step of a 256-wide hidden layer at batch 64: forward x @ w, the weight
// gradient x^T @ delta and the input gradient delta @ w^T. 4 MFLOP each: 20-70 us per
// product on one core here, so the whole calibration takes 2-3 ms.
constexpr Shape kShapes[] = {{64, 256, 256, false, false},
                             {256, 256, 64, true, false},
                             {64, 256, 256, false, true}};
constexpr int kRounds = 3;  // timed, after one warm-up round; the best counts

Bf16Calibration calibrate() {
  const auto start = std::chrono::steady_clock::now();
  SerialScope serial;
  std::vector<float> a(256 * 256), b(256 * 256), c(256 * 256);
  uint32_t state = 12345;  // values in [-1, 1): no denormals, no cancellation to zero
  for (auto* v : {&a, &b})
    for (float& x : *v) {
      state = state * 1664525u + 1013904223u;
      x = float(state >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
  GemmWorkspace ws;
  std::vector<Bf16Kernel> kernels{Bf16Kernel::float32, Bf16Kernel::avx512};
  if (cpu_has_amx_bf16()) kernels.push_back(Bf16Kernel::amx);
  std::vector<double> best(kernels.size(), 1e30);
  for (int round = 0; round <= kRounds; ++round)
    for (size_t i = 0; i < kernels.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      for (const Shape& s : kShapes) {
        const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
        if (kernels[i] == Bf16Kernel::float32)
          gemm<float>(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f,
                      c.data(), s.n, ws);
        else
          gemm_bf16(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f,
                    c.data(), s.n, ws, kernels[i]);
      }
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (round > 0 && t < best[i]) best[i] = t;
    }
  Bf16Calibration cal;
  for (size_t i = 0; i < kernels.size(); ++i) {
    if (kernels[i] == Bf16Kernel::float32) cal.float32_s = best[i];
    if (kernels[i] == Bf16Kernel::avx512) cal.avx512_s = best[i];
    if (kernels[i] == Bf16Kernel::amx) cal.amx_s = best[i];
  }
  cal.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return cal;
}

}  // namespace

const Bf16Calibration& bf16_calibration() {
  if (!cpu_has_avx512_bf16()) throw std::invalid_argument(kNoBf16Message);
  static const Bf16Calibration cal = calibrate();
  return cal;
}

Bf16Kernel measured_bf16_kernel() {
  const Bf16Calibration& cal = bf16_calibration();
  Bf16Kernel best = Bf16Kernel::avx512;
  double best_s = cal.avx512_s;
  if (cal.amx_s > 0 && cal.amx_s < best_s && cpu_has_amx_bf16()) {
    best = Bf16Kernel::amx;
    best_s = cal.amx_s;
  }
  return cal.float32_s >= kBf16MinSpeedup * best_s ? best : Bf16Kernel::float32;
}

Bf16Kernel resolve_bf16_kernel(Bf16Kernel kernel) {
  if (!cpu_has_avx512_bf16()) throw std::invalid_argument(kNoBf16Message);
  if (kernel == Bf16Kernel::automatic) {
    const char* env = std::getenv("FASTMLP_BF16_KERNEL");
    if (env && *env) kernel = parse_bf16_kernel(env);
  }
  if (kernel == Bf16Kernel::automatic) return measured_bf16_kernel();
  if (kernel == Bf16Kernel::amx && !cpu_has_amx_bf16())
    throw std::invalid_argument(
        "the amx bfloat16 GEMM kernel needs AMX-BF16 tiles that this process may use (Intel "
        "Sapphire Rapids and later, Linux 5.16+ granting the tile permission); not here (or "
        "FASTMLP_AMX=0)");
  return kernel;
}

}  // namespace fastmlp
