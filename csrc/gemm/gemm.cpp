// GEMM driver: kernel selection, cache blocking and threads.
//   jc (nc columns of C) > pc (kc deep, packs B) > ic (mc rows, packs A)
//     > jr (NR) x ir (MR) micro-tiles.
// Each thread runs this loop nest on its own slab of C (see gemm() below). K is never
// split, so results do not depend on the thread count. The same driver runs gemm_bf16,
// whose packers round to bfloat16 pairs along K and whose micro-kernel is vdpbf16ps or
// AMX's TDPBF16PS (which one: bf16_select.cpp).
#include "gemm/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/cpu_features.h"
#include "common/simd_clones.h"
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

bool cpu_runs(GemmKernel kernel) {
  switch (kernel) {
    case GemmKernel::avx512: return cpu_has_avx512();
    case GemmKernel::avx2: return cpu_has_avx2_fma();
    default: return true;
  }
}

// Cache blocking, sized for Zen 4/5 cores (32-48 KB L1d, 1 MB L2 each) and fine elsewhere:
//  - kc = 512: each k block re-reads and re-writes the C tiles, so fewer blocks save C
//    traffic (float32 2048^3 on 1 thread: 217-222 GFLOPS with kc = 256, 224-236 with 512,
//    OpenBLAS 235-242, same runs). The kc x NR panel of B (64 KB for the AVX-512 float
//    tile) then outgrows L1 and streams from L2 with the A panel: two loads per 24 FMAs.
//  - the mc x kc block of A fills half the L2, leaving the rest for B panels and C.
//  - the kc x nc block of B (nc up to 4096) sits in L2/L3; a wide nc packs A fewer times,
//    which matters for the transposing A packer.
// Each is an upper bound: the driver splits a dimension into equal blocks (even_block).
constexpr int64_t kKC = 512;
constexpr int64_t kL2HalfBytes = 512 * 1024;
constexpr int64_t kNC = 4096;

// How one GEMM flavour packs and multiplies: T is the type of A, B and C, P the packed
// element (T, or a bf16 pair along K in a uint32 word: then k_unit = 2 values of K per
// packed element; AMX: a 64-byte block of 32). nc and kc are the caps for the blocks of N
// and K; the cap for M follows from the k block in use (the A block fills half the L2).
// begin/end, where set, bracket each thread's run of micro-kernel calls (AMX: the tile
// configuration is per thread state).
template <typename T, typename P>
struct Plan {
  using PackFn = void (*)(P*, const T*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
  PackFn pack_a, pack_b;
  UkernelFn<T, P> fn;
  int64_t mr, nr, nc, kc, k_unit;
  void (*begin)() = nullptr;
  void (*end)() = nullptr;
  int64_t depth(int64_t k) const { return (k + k_unit - 1) / k_unit; }  // packed rows
};

template <typename T, typename Tile>
Plan<T, T> make_plan(UkernelFn<T> fn) {
  return {&pack_a<T>, &pack_b<T>, fn, Tile::mr, Tile::nr, kNC / Tile::nr * Tile::nr, kKC, 1};
}

template <typename T>
Plan<T, T> plan_for(GemmKernel kernel) {
  switch (kernel) {
    case GemmKernel::avx512: return make_plan<T, Avx512Tile<T>>(&ukernel_avx512);
    case GemmKernel::avx2: return make_plan<T, Avx2Tile<T>>(&ukernel_avx2);
    default: return make_plan<T, ScalarTile<T>>(&ukernel_scalar);
  }
}

// bf16: k blocks of 512 values (256 pairs), so the kc x NR panel of B is 32 KB and stays
// in L1 (and the A block is half the L2).
Plan<float, uint32_t> bf16_plan() {
  using Tile = Avx512Bf16Tile;
  constexpr int64_t kc = 512;
  return {&pack_a_bf16, &pack_b_bf16, &ukernel_avx512_bf16, Tile::mr, Tile::nr,
          kNC / Tile::nr * Tile::nr, kc, 2};
}

// AMX: k blocks of 512 values as for vdpbf16ps: the kc x NR panel of B (32 KB) stays in L1
// across the ir loop. 1 thread, Sapphire Rapids, best of 40: 200x256x784 (the first layer's
// forward) 611-629 GFLOPS against 558-572 with blocks of 1024, the other mini-batch shapes
// within noise, 1024^3 543-561 against 619-655.
Plan<float, AmxBlock> amx_plan() {
  using Tile = AmxTile;
  constexpr int64_t kc = 512;
  Plan<float, AmxBlock> plan{&pack_a_amx, &pack_b_amx, &ukernel_amx, Tile::mr, Tile::nr,
                             kNC / Tile::nr * Tile::nr, kc, Tile::k_chunk};
  plan.begin = &amx_tiles_begin;
  plan.end = &amx_tiles_end;
  return plan;
}

// Below this many multiply-adds waking the thread team costs more than it saves.
constexpr int64_t kParallelMinFlops = int64_t(1) << 22;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Splits n into equal blocks of at most `cap`, each a multiple of `unit`, so the last block
// is never a sliver.
int64_t even_block(int64_t n, int64_t cap, int64_t unit) {
  const int64_t per_block = ceil_div(n, ceil_div(n, cap));
  return ceil_div(per_block, unit) * unit;
}

template <typename T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
}

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
                                gemm_kernel_name(kernel) + " GEMM kernel (available: " +
                                (cpu_has_avx512() ? "scalar, avx2, avx512)"
                                 : cpu_has_avx2_fma() ? "scalar, avx2)" : "scalar)"));
  return kernel;
}

std::vector<std::string> available_gemm_kernels() {
  std::vector<std::string> out{"scalar"};
  if (cpu_has_avx2_fma()) out.push_back("avx2");
  if (cpu_has_avx512()) out.push_back("avx512");
  return out;
}

namespace {

// The loop nest for the C block (M,N) on the calling thread alone, with its own packing
// buffers (a_buf MC*KC, b_buf KC*NC).
template <typename T, typename P>
void gemm_block(const Plan<T, P>& plan, bool trans_a, bool trans_b, int64_t M, int64_t N,
                int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta,
                T* C, int64_t ldc, int64_t MC, int64_t KC, int64_t NC, P* a_buf, P* b_buf) {
  const int64_t MR = plan.mr, NR = plan.nr;
  if (plan.begin) plan.begin();
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    const int64_t n_panels = ceil_div(nc, NR);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc), kd = plan.depth(kc);
      // Later k blocks add onto what the first one stored.
      const T beta_pc = pc == 0 ? beta : T(1);
      plan.pack_b(b_buf, B, ldb, trans_b, pc, kc, jc, nc, NR);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        const int64_t m_panels = ceil_div(mc, MR);
        plan.pack_a(a_buf, A, lda, trans_a, ic, mc, pc, kc, MR);
        // jr-major: each B panel stays in L1 across the ir loop; the A block comes from L2.
        for (int64_t jp = 0; jp < n_panels; ++jp)
          for (int64_t ip = 0; ip < m_panels; ++ip) {
            const int64_t i = ip * MR, j = jp * NR;
            plan.fn(kd, a_buf + i * kd, b_buf + j * kd, C + (ic + i) * ldc + jc + j, ldc, alpha,
                    beta_pc, std::min(MR, mc - i), std::min(NR, nc - j));
          }
      }
    }
  }
  if (plan.end) plan.end();
}

// A C only a few columns wide (a regression output layer: N = 1) would waste most of an
// NR-wide micro-tile and its packing; dot products over K serve it better. Each element is
// summed over K in one fixed order whatever the thread count.
constexpr int64_t kNarrowN = 2;
constexpr int64_t kNarrowRows = 256;  // rows of C per task; also the A^T accumulator size

// x rounded to bfloat16 as vcvtne2ps2bf16 rounds (nearest even, denormals to zero, NaN
// kept quiet), returned as the float of the same value.
inline float round_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7F800000u) == 0) {
    u &= 0x80000000u;
  } else if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
    u |= 0x00400000u;
  } else {
    u += 0x7FFFu + ((u >> 16) & 1u);
  }
  u &= 0xFFFF0000u;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

template <typename T>
T round_input(T x, bool bf16) {
  if constexpr (std::is_same_v<T, float>) return bf16 ? round_bf16(x) : x;
  return x;
}

// Rows [0, m) of a narrow C. With A^T the dot products would read A with a stride, so they
// run as axpys over A's contiguous rows instead, into a small accumulator. Bf16 rounds the
// inputs as the bf16 packers do, so gemm_bf16 means the same product on every path.
template <typename T, bool Bf16>
FASTMLP_SIMD_CLONES void narrow_rows(bool trans_a, bool trans_b, int64_t m, int64_t N, int64_t K,
                                     T alpha, const T* A, int64_t lda, const T* B, int64_t ldb,
                                     T beta, T* C, int64_t ldc) {
  const int64_t sb = trans_b ? 1 : ldb;  // stride of B along K
  for (int64_t j = 0; j < N; ++j) {
    const T* b = trans_b ? B + j * ldb : B + j;
    T acc[kNarrowRows];
    if (trans_a) {
      std::fill(acc, acc + m, T(0));
      for (int64_t k = 0; k < K; ++k) {
        const T* a = A + k * lda;
        const T bk = round_input(b[k * sb], Bf16);
#pragma omp simd
        for (int64_t i = 0; i < m; ++i) acc[i] += round_input(a[i], Bf16) * bk;
      }
    } else {
      for (int64_t i = 0; i < m; ++i) {
        const T* a = A + i * lda;
        T s = 0;
        if (sb == 1) {  // the usual case, spelled out so that it vectorizes without gathers
#pragma omp simd reduction(+ : s)
          for (int64_t k = 0; k < K; ++k) s += round_input(a[k], Bf16) * round_input(b[k], Bf16);
        } else {
          for (int64_t k = 0; k < K; ++k)
            s += round_input(a[k], Bf16) * round_input(b[k * sb], Bf16);
        }
        acc[i] = s;
      }
    }
    for (int64_t i = 0; i < m; ++i) {
      T* c = C + i * ldc + j;
      *c = beta == T(0) ? alpha * acc[i] : alpha * acc[i] + beta * *c;
    }
  }
}

template <typename T>
void gemm_narrow(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                 const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
                 bool bf16) {
  const int64_t tasks = ceil_div(M, kNarrowRows);
  const auto run = [&](int64_t t) {
    const int64_t i0 = t * kNarrowRows, m = std::min(kNarrowRows, M - i0);
    const T* a = trans_a ? A + i0 : A + i0 * lda;
    if (bf16)
      narrow_rows<T, true>(trans_a, trans_b, m, N, K, alpha, a, lda, B, ldb, beta,
                           C + i0 * ldc, ldc);
    else
      narrow_rows<T, false>(trans_a, trans_b, m, N, K, alpha, a, lda, B, ldb, beta,
                            C + i0 * ldc, ldc);
  };
  if (tasks == 1 || M * N * K < kParallelMinFlops) {
    for (int64_t t = 0; t < tasks; ++t) run(t);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tasks; ++t) run(t);
}

// [lo, hi) of part t out of nt, cut at multiples of `tile`.
void split_range(int64_t extent, int64_t tile, int t, int nt, int64_t* lo, int64_t* hi) {
  const int64_t tiles = ceil_div(extent, tile);
  *lo = std::min(extent, tiles * t / nt * tile);
  *hi = std::min(extent, tiles * (t + 1) / nt * tile);
}

// The threaded driver for one plan.
template <typename T, typename P>
void gemm_threaded(const Plan<T, P>& plan, bool trans_a, bool trans_b, int64_t M, int64_t N,
                   int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta,
                   T* C, int64_t ldc, GemmWorkspace& ws) {
  const int64_t MR = plan.mr, NR = plan.nr;
  int threads = 1;
#ifdef _OPENMP
  if (M * N * K >= kParallelMinFlops) threads = omp_get_max_threads();
#endif
  // Threads own slabs of whole micro-tiles of C -- rows or columns, whichever gives the
  // busiest thread fewer tiles (200 x 256 on 2 threads: 9 of 17 row panels x 8 would be
  // 72 tiles, 17 x 4 of 8 column panels is 68) -- and run the loop nest on their slab with
  // private packing buffers. No barrier inside the product: a thread that the OS preempts
  // (a busy machine) delays only its own slab instead of stalling every barrier. Each
  // element of C is still summed over K in one fixed order, so the results do not depend
  // on the thread count.
  const int64_t m_panels = ceil_div(M, MR), n_panels = ceil_div(N, NR);
  const bool split_rows =
      ceil_div(m_panels, threads) * n_panels <= m_panels * ceil_div(n_panels, threads);
  const int64_t slab_m = split_rows ? ceil_div(ceil_div(M, MR), threads) * MR : M;
  const int64_t slab_n = split_rows ? N : ceil_div(ceil_div(N, NR), threads) * NR;
  // k blocks start at multiples of k_unit, so bf16 pairs never straddle two blocks.
  const int64_t KC = even_block(K, plan.kc, plan.k_unit);
  // The A block (MC x KC packed) fills half the L2 whatever the k block turned out to be.
  const int64_t mc_cap =
      std::max(MR, kL2HalfBytes / (plan.depth(KC) * int64_t(sizeof(P))) / MR * MR);
  const int64_t MC = even_block(slab_m, mc_cap, MR);
  const int64_t NC = even_block(slab_n, plan.nc, NR);
  const int64_t per_thread = (MC + NC) * plan.depth(KC);
  P* bufs = ws.get<P>(size_t(per_thread * threads));

#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    P* a_buf = bufs + per_thread * t;
    P* b_buf = a_buf + MC * plan.depth(KC);
    int64_t lo, hi;
    if (split_rows) {
      split_range(M, MR, t, nt, &lo, &hi);
      if (hi > lo)
        gemm_block(plan, trans_a, trans_b, hi - lo, N, K, alpha, A + (trans_a ? lo : lo * lda),
                   lda, B, ldb, beta, C + lo * ldc, ldc, MC, KC, NC, a_buf, b_buf);
    } else {
      split_range(N, NR, t, nt, &lo, &hi);
      if (hi > lo)
        gemm_block(plan, trans_a, trans_b, M, hi - lo, K, alpha, A, lda,
                   B + (trans_b ? lo * ldb : lo), ldb, beta, C + lo, ldc, MC, KC, NC, a_buf,
                   b_buf);
    }
  }
}

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, GemmWorkspace& ws,
          GemmKernel kernel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) return scale_c(M, N, beta, C, ldc);
  const GemmKernel chosen = resolve_gemm_kernel(kernel);  // validates a forced kernel too
  if (N <= kNarrowN)
    return gemm_narrow(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, false);
  gemm_threaded(plan_for<T>(chosen), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc, ws);
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc, GemmWorkspace& ws, Bf16Kernel kernel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);
  const Bf16Kernel chosen = resolve_bf16_kernel(kernel);  // validates a forced kernel too
  if (chosen == Bf16Kernel::float32)
    return gemm<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
  if (N <= kNarrowN)
    return gemm_narrow(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, true);
  if (chosen == Bf16Kernel::amx)
    return gemm_threaded(amx_plan(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
                         ldc, ws);
  gemm_threaded(bf16_plan(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t, GemmWorkspace&, GemmKernel);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t, GemmWorkspace&,
                           GemmKernel);

}  // namespace fastmlp
