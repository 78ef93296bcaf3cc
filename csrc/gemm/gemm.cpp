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
#include <numeric>
#include <stdexcept>
#include <type_traits>

#include "common/cpu_features.h"
#include "common/parallel.h"
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

// Cache blocking, tuned on Zen 4/5 (32-48 KB L1d, 1 MB L2 per core) and Sapphire Rapids
// (48 KB L1d, 2 MB L2) cores; the L2 size comes from the OS (cache_geometry()):
//  - kc = 512: each k block re-reads and re-writes the C tiles, so fewer blocks save C
//    traffic (float32 2048^3 on 1 thread: 217-222 GFLOPS with kc = 256, 224-236 with 512,
//    OpenBLAS 235-242, same runs). The kc x NR panel of B (64 KB for the AVX-512 float
//    tile) then outgrows L1 and streams from L2 with the A panel: two loads per 24 FMAs.
//  - the mc x kc block of A fills half the L2 (as reported), leaving the rest for B
//    panels and C.
//  - the kc x nc block of B (nc up to 4096) sits in L2/L3; a wide nc packs A fewer times,
//    which matters for the transposing A packer.
// Each is an upper bound: the driver splits a dimension into equal blocks (even_block).
constexpr int64_t kKC = 512;
constexpr int64_t kNC = 4096;

// How one GEMM flavour packs and multiplies: T is the type of A, B and C, P the packed
// element (T, or a bf16 pair along K in a uint32 word: then k_unit = 2 values of K per
// packed element; AMX: a 64-byte block of 32). nc and kc are the caps for the blocks of N
// and K; the cap for M follows from the k block in use (the A block fills half the L2).
// float/double kernels (`strided`) can also read a full panel in place (see gemm_block);
// the bf16 ones (`fn`) read packed panels only.
// begin/end, where set, bracket each thread's run of micro-kernel calls (AMX: the tile
// configuration is per thread state).
template <typename T, typename P>
struct Plan {
  using PackFn = void (*)(P*, const T*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
  PackFn pack_a, pack_b;
  UkernelFn<T, P> fn;
  UkernelStridedFn<T> strided;
  int64_t mr, nr, nc, kc, k_unit;
  void (*begin)() = nullptr;
  void (*end)() = nullptr;
  // The strided kernel loads an edge panel of B (fewer than NR columns) through masks, so
  // that panel too can be read in place (see InPlace).
  bool edge_b_in_place = false;
  int64_t depth(int64_t k) const { return (k + k_unit - 1) / k_unit; }  // packed rows
};

template <typename T, typename Tile>
Plan<T, T> make_plan(UkernelStridedFn<T> fn, typename Plan<T, T>::PackFn pa = &pack_a<T>,
                     typename Plan<T, T>::PackFn pb = &pack_b<T>) {
  return {pa, pb, nullptr, fn, Tile::mr, Tile::nr, kNC / Tile::nr * Tile::nr, kKC, 1};
}

template <typename T>
Plan<T, T> plan_for(GemmKernel kernel) {
  switch (kernel) {
    case GemmKernel::avx512: {
      Plan<T, T> plan =
          make_plan<T, Avx512Tile<T>>(&ukernel_avx512, &pack_a_avx512<T>, &pack_b_avx512<T>);
      plan.edge_b_in_place = true;
      return plan;
    }
    case GemmKernel::avx2: return make_plan<T, Avx2Tile<T>>(&ukernel_avx2);
    default: return make_plan<T, ScalarTile<T>>(&ukernel_scalar);
  }
}

// bf16: k blocks of 512 values (256 pairs), so the kc x NR panel of B is 32 KB and stays
// in L1 (and the A block is half the L2).
Plan<float, uint32_t> bf16_plan() {
  using Tile = Avx512Bf16Tile;
  constexpr int64_t kc = 512;
  return {&pack_a_bf16, &pack_b_bf16, &ukernel_avx512_bf16, nullptr, Tile::mr, Tile::nr,
          kNC / Tile::nr * Tile::nr, kc, 2};
}

// AMX: k blocks of 512 values as for vdpbf16ps: the kc x NR panel of B (32 KB) stays in L1
// across the ir loop. 1 thread, Sapphire Rapids, best of 40: 200x256x784 (the first layer's
// forward) 611-629 GFLOPS against 558-572 with blocks of 1024, the other mini-batch shapes
// within noise, 1024^3 543-561 against 619-655.
Plan<float, AmxBlock> amx_plan() {
  using Tile = AmxTile;
  constexpr int64_t kc = 512;
  Plan<float, AmxBlock> plan{&pack_a_amx,  &pack_b_amx, &ukernel_amx,
                             nullptr,      Tile::mr,    Tile::nr,
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

// Whether `rows` rows of `row_bytes` each, `stride` bytes apart, fit in the L2 together. A
// stride that is a multiple of a large power of two maps every row to a few cache sets:
// 512 x 512 float64 with B read in place (rows 4096 bytes apart) ran at half the speed of
// packed panels on the Xeon of benchmarks/RESULTS.md, while 64 x 100 (800 bytes apart)
// ran 4% faster than packed.
bool rows_share_l2(int64_t rows, int64_t row_bytes, int64_t stride) {
  const CacheGeometry& g = cache_geometry();
  const int64_t sets = std::max<int64_t>(1, g.l2 / (g.l2_ways * g.line));
  const int64_t reached = stride % g.line ? sets : sets / std::gcd(stride / g.line, sets);
  const int64_t lines_per_row = row_bytes / g.line + 2;  // straddling both ends
  return rows * lines_per_row <= reached * g.l2_ways;
}

// FASTMLP_GEMM_PACK=all (read at every call, a test hook) packs every panel: the tests
// check that reading in place gives the same bits.
bool pack_everything() {
  const char* env = std::getenv("FASTMLP_GEMM_PACK");
  return env && std::strcmp(env, "all") == 0;
}

// Which operands a product reads in place instead of packing them: full panels of op(A)
// (MR rows of A, or MR consecutive values of each row of A^T) and of a non-transposed B
// (NR consecutive values of each row of B), when the block the loops reuse stays in the
// L2. Edge panels are packed (zero padding), but for B's where the kernel masks its loads
// (Plan::edge_b_in_place): an output layer of 10 classes is then never packed. Packing
// costs one pass over each operand, as much as the products themselves for the small
// layers of a network (a 100-row slice of load_digits' 64-100-10 network), and buys
// contiguous panels that the large products need.
struct InPlace {
  bool a = false, b = false;
};

// The loop nest for the C block (M,N) on the calling thread alone, with its own packing
// buffers (a_buf MC*KC, b_buf KC*NC).
template <typename T, typename P>
void gemm_block(const Plan<T, P>& plan, InPlace in_place, bool trans_a, bool trans_b, int64_t M,
                int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb,
                T beta, T* C, int64_t ldc, int64_t MC, int64_t KC, int64_t NC, P* a_buf,
                P* b_buf) {
  const int64_t MR = plan.mr, NR = plan.nr;
  if (plan.begin) plan.begin();
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    const int64_t n_panels = ceil_div(nc, NR);
    const int64_t n_full = !in_place.b ? 0 : plan.edge_b_in_place ? n_panels : nc / NR;
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc), kd = plan.depth(kc);
      // Later k blocks add onto what the first one stored.
      const T beta_pc = pc == 0 ? beta : T(1);
      if (n_full < n_panels)  // the panels not read in place
        plan.pack_b(b_buf, B, ldb, trans_b, pc, kc, jc + n_full * NR, nc - n_full * NR, NR);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        const int64_t m_panels = ceil_div(mc, MR), m_full = in_place.a ? mc / MR : 0;
        if (m_full < m_panels)
          plan.pack_a(a_buf, A, lda, trans_a, ic + m_full * MR, mc - m_full * MR, pc, kc, MR);
        // jr-major: each B panel stays in L1 across the ir loop; the A block comes from L2.
        for (int64_t jp = 0; jp < n_panels; ++jp)
          for (int64_t ip = 0; ip < m_panels; ++ip) {
            const int64_t i = ip * MR, j = jp * NR;
            T* c = C + (ic + i) * ldc + jc + j;
            const int64_t m = std::min(MR, mc - i), n = std::min(NR, nc - j);
            if constexpr (std::is_same_v<T, P>) {
              const bool a_here = ip < m_full, b_here = jp < n_full;
              const T* b = b_here ? B + pc * ldb + jc + j : b_buf + (jp - n_full) * NR * kd;
              if (!a_here)
                plan.strided(kd, a_buf + (ip - m_full) * MR * kd, 1, MR, b, b_here ? ldb : NR, c,
                             ldc, alpha, beta_pc, m, n);
              else if (trans_a)  // rows of A^T: MR consecutive values per k
                plan.strided(kd, A + pc * lda + ic + i, 1, lda, b, b_here ? ldb : NR, c, ldc,
                             alpha, beta_pc, m, n);
              else  // rows of A: kc consecutive values per row
                plan.strided(kd, A + (ic + i) * lda + pc, lda, 1, b, b_here ? ldb : NR, c, ldc,
                             alpha, beta_pc, m, n);
            } else {
              plan.fn(kd, a_buf + ip * MR * kd, b_buf + jp * NR * kd, c, ldc, alpha, beta_pc, m,
                      n);
            }
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
    } else if (sb == 1) {  // the usual case, spelled out so that it vectorizes without gathers
      for (int64_t i = 0; i < m; ++i) {
        const T* a = A + i * lda;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < K; ++k) s += round_input(a[k], Bf16) * round_input(b[k], Bf16);
        acc[i] = s;
      }
    } else {
      // A strided column of B (a generator's 2-value output layer): each row's dot product
      // is a chain of dependent multiply-adds in k order, so kChains rows run side by side
      // (the same chains, the same bits, without waiting on each other's latency).
      constexpr int64_t kChains = 8;
      for (int64_t i0 = 0; i0 < m; i0 += kChains) {
        const int64_t rows = std::min(kChains, m - i0);
        T s[kChains] = {};
        for (int64_t k = 0; k < K; ++k) {
          const T bk = round_input(b[k * sb], Bf16);
          for (int64_t r = 0; r < rows; ++r)
            s[r] += round_input(A[(i0 + r) * lda + k], Bf16) * bk;
        }
        for (int64_t r = 0; r < rows; ++r) acc[i0 + r] = s[r];
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
  parallel_for(tasks, M * N * K < kParallelMinFlops ? 1 : max_threads(), run);
}

// [lo, hi) of part t out of nt, cut at multiples of `tile`.
void split_range(int64_t extent, int64_t tile, int t, int nt, int64_t* lo, int64_t* hi) {
  const int64_t tiles = ceil_div(extent, tile);
  *lo = std::min(extent, tiles * t / nt * tile);
  *hi = std::min(extent, tiles * (t + 1) / nt * tile);
}

// How one thread's slab of C is blocked and which operands it reads in place.
struct Blocking {
  bool split_rows = true;
  int64_t MC = 0, NC = 0, KC = 0;
  InPlace in_place;
  double cost = 0;  // the busiest thread's work, in multiply-adds
};

// The blocking of a slab of slab_m x slab_n, and what the busiest thread then does:
// its micro-tiles' multiply-adds (padding included) plus its packing, a packed value
// costing about NR/2 multiply-adds (one load and one store against two FMA vectors a
// cycle).
template <typename T, typename P>
Blocking plan_slab(const Plan<T, P>& plan, bool split_rows, bool trans_a, bool trans_b,
                   int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int threads) {
  const int64_t MR = plan.mr, NR = plan.nr;
  const int64_t m_panels = ceil_div(M, MR), n_panels = ceil_div(N, NR);
  const int64_t mp = split_rows ? ceil_div(m_panels, threads) : m_panels;
  const int64_t np = split_rows ? n_panels : ceil_div(n_panels, threads);
  const int64_t slab_m = std::min(M, mp * MR), slab_n = std::min(N, np * NR);
  Blocking b;
  b.split_rows = split_rows;
  // k blocks start at multiples of k_unit, so bf16 pairs never straddle two blocks.
  b.KC = even_block(K, plan.kc, plan.k_unit);
  const int64_t kd = plan.depth(b.KC);
  // The A block (MC x KC packed) fills half the L2 whatever the k block turned out to be.
  const int64_t mc_cap =
      std::max(MR, cache_geometry().l2 / 2 / (kd * int64_t(sizeof(P))) / MR * MR);
  b.MC = even_block(slab_m, mc_cap, MR);
  b.NC = even_block(slab_n, plan.nc, NR);
  if (plan.strided && !pack_everything()) {  // float/double: see InPlace
    const int64_t size = int64_t(sizeof(T));
    // The block of A (MC x KC) and a panel of B (KC x NR) are what the loops reuse. Rows
    // of A itself only from a k block of 32 up: a micro-tile then sets up MR row pointers,
    // which cost more than packing when K is tiny (100 x 10 @ 10 x 100: 6.8 us in place,
    // 5.3 packed; 100 x 100 @ 100 x 10: 5.4 in place, 7.7 packed).
    b.in_place.a = trans_a ? rows_share_l2(kd, b.MC * size, lda * size)
                           : b.KC >= 32 && rows_share_l2(b.MC, b.KC * size, lda * size);
    b.in_place.b = !trans_b && rows_share_l2(kd, NR * size, ldb * size);
  }
  // Panels packed: all but the full ones read in place; B once per block of A rows.
  const int64_t a_packed = b.in_place.a ? slab_m % MR : slab_m;
  const int64_t b_edge = plan.edge_b_in_place ? 0 : slab_n % NR;
  const int64_t b_packed = (b.in_place.b ? b_edge : slab_n) * ceil_div(slab_m, b.MC);
  b.cost = double(mp * np * MR * NR) * double(K) + double(a_packed + b_packed) * double(K) * double(NR) / 2;
  return b;
}

// The threaded driver for one plan.
template <typename T, typename P>
void gemm_threaded(const Plan<T, P>& plan, bool trans_a, bool trans_b, int64_t M, int64_t N,
                   int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta,
                   T* C, int64_t ldc, GemmWorkspace& ws) {
  const int64_t MR = plan.mr, NR = plan.nr;
  const int threads = M * N * K >= kParallelMinFlops ? max_threads() : 1;
  // Threads own slabs of whole micro-tiles of C -- rows or columns, whichever leaves the
  // busiest thread less to do (plan_slab: its tiles and its packing; 200 x 256 @ 256 x 128
  // in float32 on 2 threads: rows, 36 tiles and half of A packed each, where columns
  // would be 34 tiles but all of A packed by both threads) -- and run the
  // loop nest on their slab with private packing buffers. No barrier inside the product:
  // a thread that the OS preempts (a busy machine) delays only its own slab, and the caller
  // takes the slabs no other thread has claimed (common/parallel.h). Each element of C is
  // still summed over K in one fixed order, so the results do not depend on the thread
  // count.
  Blocking bl = plan_slab(plan, true, trans_a, trans_b, M, N, K, lda, ldb, threads);
  if (threads > 1) {
    const Blocking cols = plan_slab(plan, false, trans_a, trans_b, M, N, K, lda, ldb, threads);
    if (cols.cost < bl.cost) bl = cols;
  }
  const int64_t MC = bl.MC, NC = bl.NC, KC = bl.KC;
  const int64_t per_thread = (MC + NC) * plan.depth(KC);
  P* bufs = ws.get<P>(size_t(per_thread * threads));

  const int nt = threads;
  parallel_for(nt, threads, [&](int64_t t) {
    P* a_buf = bufs + per_thread * t;
    P* b_buf = a_buf + MC * plan.depth(KC);
    int64_t lo, hi;
    if (bl.split_rows) {
      split_range(M, MR, t, nt, &lo, &hi);
      if (hi > lo)
        gemm_block(plan, bl.in_place, trans_a, trans_b, hi - lo, N, K, alpha,
                   A + (trans_a ? lo : lo * lda), lda, B, ldb, beta, C + lo * ldc, ldc, MC, KC,
                   NC, a_buf, b_buf);
    } else {
      split_range(N, NR, t, nt, &lo, &hi);
      if (hi > lo)
        gemm_block(plan, bl.in_place, trans_a, trans_b, M, hi - lo, K, alpha, A, lda,
                   B + (trans_b ? lo * ldb : lo), ldb, beta, C + lo, ldc, MC, KC, NC, a_buf,
                   b_buf);
    }
  });
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
