// GEMM driver: kernel selection, cache blocking and threads.
//   jc (NC columns of C) > pc (KC deep) > ic (MC rows) > jr (NR) x ir (MR) micro-tiles.
// One parallel region per call; threads pack panels together, then split the jr x ir
// tiles of each macro block statically. K is never split, so results do not depend on
// the thread count.
#include "gemm/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "common/cpu_features.h"
#include "gemm/pack.h"
#include "gemm/ukernel.h"

namespace fastmlp {

GemmKernel parse_gemm_kernel(const std::string& name) {
  if (name == "auto") return GemmKernel::automatic;
  if (name == "scalar") return GemmKernel::scalar;
  if (name == "avx2") return GemmKernel::avx2;
  if (name == "avx512") return GemmKernel::avx512;
  throw std::invalid_argument("unknown GEMM kernel '" + name +
                              "' (expected auto, scalar, avx2 or avx512)");
}

const char* gemm_kernel_name(GemmKernel kernel) {
  switch (kernel) {
    case GemmKernel::scalar: return "scalar";
    case GemmKernel::avx2: return "avx2";
    case GemmKernel::avx512: return "avx512";
    default: return "auto";
  }
}

namespace {

bool cpu_runs(GemmKernel k) {
  switch (k) {
    case GemmKernel::avx512: return cpu_has_avx512();
    case GemmKernel::avx2: return cpu_has_avx2_fma();
    default: return true;
  }
}

template <typename T>
Ukernel<T> ukernel_for(GemmKernel k) {
  constexpr int64_t s = sizeof(T);
  switch (k) {
    case GemmKernel::avx512: return {&ukernel_avx512, kAvx512MR, kAvx512NV * kAvx512Bytes / s};
    case GemmKernel::avx2: return {&ukernel_avx2, kAvx2MR, kAvx2NV * kAvx2Bytes / s};
    default: return {&ukernel_scalar, kScalarMR, kScalarNV * kScalarBytes / s};
  }
}

// Blocking for Zen 4 class cores (32 KB L1d, 1 MB L2): a KC x NR panel of B stays in L1
// across the ir loop, the MC x KC block of A in L2.
template <typename T>
constexpr int64_t kKC = 256;
constexpr int64_t kMCRows = 192;   // rounded down to a multiple of MR
constexpr int64_t kNC = 4096;      // rounded down to a multiple of NR

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kParallelMinFlops = 1 << 20;

}  // namespace

GemmKernel resolve_gemm_kernel(GemmKernel kernel) {
  if (kernel == GemmKernel::automatic) {
    const char* env = std::getenv("FASTMLP_GEMM_KERNEL");
    if (env && *env) kernel = parse_gemm_kernel(env);
  }
  if (kernel == GemmKernel::automatic) {
    if (cpu_has_avx512()) return GemmKernel::avx512;
    if (cpu_has_avx2_fma()) return GemmKernel::avx2;
    return GemmKernel::scalar;
  }
  if (!cpu_runs(kernel))
    throw std::invalid_argument(std::string("this CPU cannot run the ") +
                                gemm_kernel_name(kernel) + " GEMM kernel");
  return kernel;
}

std::vector<std::string> available_gemm_kernels() {
  std::vector<std::string> out{"scalar"};
  if (cpu_has_avx2_fma()) out.push_back("avx2");
  if (cpu_has_avx512()) out.push_back("avx512");
  return out;
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, GemmWorkspace& ws,
          GemmKernel kernel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  const Ukernel<T> uk = ukernel_for<T>(resolve_gemm_kernel(kernel));
  const int64_t MR = uk.mr, NR = uk.nr;
  const int64_t KC = std::min<int64_t>(kKC<T>, K);
  const int64_t MC = std::min(kMCRows / MR * MR, (M + MR - 1) / MR * MR);
  const int64_t NC = std::min(kNC / NR * NR, (N + NR - 1) / NR * NR);
  T* a_buf = ws.get<T>(size_t(MC * KC + NC * KC));
  T* b_buf = a_buf + MC * KC;
  const bool parallel = M * N * K >= kParallelMinFlops;

#pragma omp parallel if (parallel)
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    const int64_t n_panels = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      const T beta_pc = pc == 0 ? beta : T(1);
#pragma omp for schedule(static)
      for (int64_t jp = 0; jp < n_panels; ++jp)
        pack_b_panel(b_buf + jp * NR * kc, B, ldb, trans_b, pc, kc, jc + jp * NR,
                     std::min(NR, nc - jp * NR), NR);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        const int64_t m_panels = (mc + MR - 1) / MR;
#pragma omp for schedule(static)
        for (int64_t ip = 0; ip < m_panels; ++ip)
          pack_a_panel(a_buf + ip * MR * kc, A, lda, trans_a, ic + ip * MR,
                       std::min(MR, mc - ip * MR), pc, kc, MR);
#pragma omp for collapse(2) schedule(static)
        for (int64_t jp = 0; jp < n_panels; ++jp)
          for (int64_t ip = 0; ip < m_panels; ++ip) {
            const int64_t i = ic + ip * MR, j = jc + jp * NR;
            uk.fn(kc, a_buf + ip * MR * kc, b_buf + jp * NR * kc, C + i * ldc + j, ldc, alpha,
                  beta_pc, std::min(MR, M - i), std::min(NR, N - j));
          }
      }
    }
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t, GemmWorkspace&, GemmKernel);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t, GemmWorkspace&,
                           GemmKernel);

}  // namespace fastmlp
