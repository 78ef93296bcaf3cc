// GEMM on the device: C (M,N) = alpha op(A) (M,K) @ op(B) (K,N) + beta C, row-major.
//   sgemm_simt   float32 on the SIMT cores: BMxBN block tiles staged in shared memory
//                (A transposed there so both operands are read along the tile), a TMxTN
//                register block of C per thread, float4 loads along the contiguous
//                dimension when the operand is 16-byte aligned.
//   gemm_tc      tensor cores through WMMA: TF32 or BF16 inputs rounded while staged in
//                shared memory, float32 accumulation, a 2x2 block of 16x16 fragments per warp.
// Edges are zero-padded on load and masked on store, so any M, N, K works. beta == 0
// never reads C (it may hold NaN). Tested against the CPU GEMM in tests/test_cuda.py.
#include <cuda_bf16.h>
#include <mma.h>

#include "cuda/kernels.cuh"

namespace fastmlp {
namespace cuda {

namespace {

// v[0..3] = p[0..3], the ones at or past `remaining` (or all of them when !ok) as zero.
__device__ __forceinline__ void load4(float v[4], const float* p, bool ok, int64_t remaining,
                                      bool vec) {
  if (ok && vec && remaining >= 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
    return;
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) v[i] = (ok && i < remaining) ? p[i] : 0.0f;
}

template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    sgemm_simt(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
               const float* __restrict__ A, int64_t lda, const float* __restrict__ B,
               int64_t ldb, float beta, float* __restrict__ C, int64_t ldc, bool vec_a,
               bool vec_b) {
  constexpr int kThreads = (BM / TM) * (BN / TN);
  static_assert(BM % TM == 0 && BN % TN == 0, "the thread tile must divide the block tile");
  static_assert(BK % 4 == 0 && BM % 4 == 0 && BN % 4 == 0,
                "tiles are loaded in float4 groups along either dimension");
  static_assert(TM % 4 == 0 && TN % 4 == 0, "fragments are read from shared memory as float4");
  static_assert(kThreads % 32 == 0 && kThreads <= 1024, "whole warps, one block");
  __shared__ __align__(16) float As[BK][BM];  // op(A) tile, k-major
  __shared__ __align__(16) float Bs[BK][BN];  // op(B) tile, k-major
  const int tid = threadIdx.x;
  const int tr = tid / (BN / TN), tc = tid % (BN / TN);
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    float v[4];
    for (int g = tid; g < BM * BK / 4; g += kThreads) {
      if (!ta) {  // A (M,K): contiguous along k
        const int r = g / (BK / 4), c = (g % (BK / 4)) * 4;
        const int64_t gm = m0 + r, gk = k0 + c;
        load4(v, A + gm * lda + gk, gm < M, K - gk, vec_a);
#pragma unroll
        for (int i = 0; i < 4; ++i) As[c + i][r] = v[i];
      } else {  // A stored (K,M): contiguous along m
        const int r = g / (BM / 4), c = (g % (BM / 4)) * 4;
        const int64_t gk = k0 + r, gm = m0 + c;
        load4(v, A + gk * lda + gm, gk < K, M - gm, vec_a);
        *reinterpret_cast<float4*>(&As[r][c]) = make_float4(v[0], v[1], v[2], v[3]);
      }
    }
    for (int g = tid; g < BN * BK / 4; g += kThreads) {
      if (!tb) {  // B (K,N): contiguous along n
        const int r = g / (BN / 4), c = (g % (BN / 4)) * 4;
        const int64_t gk = k0 + r, gn = n0 + c;
        load4(v, B + gk * ldb + gn, gk < K, N - gn, vec_b);
        *reinterpret_cast<float4*>(&Bs[r][c]) = make_float4(v[0], v[1], v[2], v[3]);
      } else {  // B stored (N,K): contiguous along k
        const int r = g / (BK / 4), c = (g % (BK / 4)) * 4;
        const int64_t gn = n0 + r, gk = k0 + c;
        load4(v, B + gn * ldb + gk, gn < N, K - gk, vec_b);
#pragma unroll
        for (int i = 0; i < 4; ++i) Bs[c + i][r] = v[i];
      }
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; i += 4) {
        const float4 q = *reinterpret_cast<const float4*>(&As[k][tr * TM + i]);
        a[i] = q.x; a[i + 1] = q.y; a[i + 2] = q.z; a[i + 3] = q.w;
      }
#pragma unroll
      for (int j = 0; j < TN; j += 4) {
        const float4 q = *reinterpret_cast<const float4*>(&Bs[k][tc * TN + j]);
        b[j] = q.x; b[j + 1] = q.y; b[j + 2] = q.z; b[j + 3] = q.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t gm = m0 + tr * TM + i;
    if (gm >= M) break;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t gn = n0 + tc * TN + j;
      if (gn < N) {
        float* c = C + gm * ldc + gn;
        *c = beta == 0.0f ? alpha * acc[i][j] : fmaf(beta, *c, alpha * acc[i][j]);
      }
    }
  }
}

// Tensor-core element types: what shared memory holds and the WMMA fragment k depth.
template <GemmPrecision P>
struct TcTraits;
template <>
struct TcTraits<GemmPrecision::tf32> {
  using Elem = float;
  using Frag = nvcuda::wmma::precision::tf32;
  static constexpr int kK = 8;
  __device__ static float convert(float x) { return x; }  // rounded in the fragment
};
template <>
struct TcTraits<GemmPrecision::bf16> {
  using Elem = __nv_bfloat16;
  using Frag = __nv_bfloat16;
  static constexpr int kK = 16;
  __device__ static __nv_bfloat16 convert(float x) { return __float2bfloat16_rn(x); }
};

template <GemmPrecision P, int BM, int BN, int BK, int WM, int WN>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32)
    gemm_tc(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
            const float* __restrict__ A, int64_t lda, const float* __restrict__ B, int64_t ldb,
            float beta, float* __restrict__ C, int64_t ldc) {
  namespace wmma = nvcuda::wmma;
  using Tr = TcTraits<P>;
  using Elem = typename Tr::Elem;
  constexpr int kWarpsN = BN / WN;
  constexpr int kThreads = (BM / WM) * kWarpsN * 32;
  constexpr int kPad = 8;  // keeps rows 32-byte aligned for WMMA and staggers the banks
  static_assert(WM % 16 == 0 && WN % 16 == 0, "a warp tile is a whole number of 16x16 fragments");
  static_assert(BM % WM == 0 && BN % WN == 0, "warp tiles must divide the block tile");
  static_assert(BK % Tr::kK == 0, "the block's k depth must be a multiple of the fragment's");
  __shared__ __align__(32) Elem As[BM][BK + kPad];  // op(A) tile, row-major
  __shared__ __align__(32) Elem Bs[BK][BN + kPad];  // op(B) tile, row-major
  __shared__ __align__(32) float Cs[BM][BN + kPad];
  const int tid = threadIdx.x, warp = tid / 32;
  const int wm = warp / kWarpsN, wn = warp % kWarpsN;
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  wmma::fragment<wmma::accumulator, 16, 16, Tr::kK, float> acc[WM / 16][WN / 16];
#pragma unroll
  for (int i = 0; i < WM / 16; ++i)
#pragma unroll
    for (int j = 0; j < WN / 16; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    // Consecutive threads walk the operand's contiguous dimension: coalesced reads.
    for (int idx = tid; idx < BM * BK; idx += kThreads) {
      const int r = ta ? idx % BM : idx / BK, c = ta ? idx / BM : idx % BK;
      const int64_t gm = m0 + r, gk = k0 + c;
      const float x = (gm < M && gk < K) ? (ta ? A[gk * lda + gm] : A[gm * lda + gk]) : 0.0f;
      As[r][c] = Tr::convert(x);
    }
    for (int idx = tid; idx < BK * BN; idx += kThreads) {
      const int r = tb ? idx % BK : idx / BN, c = tb ? idx / BK : idx % BN;
      const int64_t gk = k0 + r, gn = n0 + c;
      const float x = (gk < K && gn < N) ? (tb ? B[gn * ldb + gk] : B[gk * ldb + gn]) : 0.0f;
      Bs[r][c] = Tr::convert(x);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk += Tr::kK) {
      wmma::fragment<wmma::matrix_a, 16, 16, Tr::kK, typename Tr::Frag, wmma::row_major>
          a[WM / 16];
      wmma::fragment<wmma::matrix_b, 16, 16, Tr::kK, typename Tr::Frag, wmma::row_major>
          b[WN / 16];
#pragma unroll
      for (int i = 0; i < WM / 16; ++i) {
        wmma::load_matrix_sync(a[i], &As[wm * WM + i * 16][kk], BK + kPad);
        if constexpr (P == GemmPrecision::tf32)
          for (int t = 0; t < a[i].num_elements; ++t) a[i].x[t] = wmma::__float_to_tf32(a[i].x[t]);
      }
#pragma unroll
      for (int j = 0; j < WN / 16; ++j) {
        wmma::load_matrix_sync(b[j], &Bs[kk][wn * WN + j * 16], BN + kPad);
        if constexpr (P == GemmPrecision::tf32)
          for (int t = 0; t < b[j].num_elements; ++t) b[j].x[t] = wmma::__float_to_tf32(b[j].x[t]);
      }
#pragma unroll
      for (int i = 0; i < WM / 16; ++i)
#pragma unroll
        for (int j = 0; j < WN / 16; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < WM / 16; ++i)
#pragma unroll
    for (int j = 0; j < WN / 16; ++j)
      wmma::store_matrix_sync(&Cs[wm * WM + i * 16][wn * WN + j * 16], acc[i][j], BN + kPad,
                              wmma::mem_row_major);
  __syncthreads();
  for (int idx = tid; idx < BM * BN; idx += kThreads) {
    const int r = idx / BN, c = idx % BN;
    const int64_t gm = m0 + r, gn = n0 + c;
    if (gm < M && gn < N) {
      float* p = C + gm * ldc + gn;
      *p = beta == 0.0f ? alpha * Cs[r][c] : fmaf(beta, *p, alpha * Cs[r][c]);
    }
  }
}

bool aligned16(const float* p, int64_t ld) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && ld % 4 == 0;
}

template <int BM, int BN, int BK, int TM, int TN>
void run_simt(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
              cudaStream_t stream) {
  const dim3 grid(unsigned((N + BN - 1) / BN), unsigned((M + BM - 1) / BM));
  sgemm_simt<BM, BN, BK, TM, TN><<<grid, (BM / TM) * (BN / TN), 0, stream>>>(
      ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, aligned16(A, lda), aligned16(B, ldb));
}

template <GemmPrecision P>
void run_tc(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
            int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
            cudaStream_t stream) {
  constexpr int BM = 64, BN = 64, BK = 32, WM = 32, WN = 32;
  const dim3 grid(unsigned((N + BN - 1) / BN), unsigned((M + BM - 1) / BM));
  gemm_tc<P, BM, BN, BK, WM, WN><<<grid, (BM / WM) * (BN / WN) * 32, 0, stream>>>(
      ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

void launch_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc, GemmPrecision precision, cudaStream_t stream) {
  if (M <= 0 || N <= 0) return;  // K == 0 leaves C = beta C (an empty k loop)
  switch (precision) {
    case GemmPrecision::tf32:
      run_tc<GemmPrecision::tf32>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                                  stream);
      break;
    case GemmPrecision::bf16:
      run_tc<GemmPrecision::bf16>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                                  stream);
      break;
    case GemmPrecision::f32:
      // Large products fill the GPU with 128x128 tiles; mini-batch shapes (a few hundred
      // rows) need the smaller tiles to have enough blocks.
      if ((M / 128) * (N / 128) >= 128)
        run_simt<128, 128, 8, 8, 8>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                    ldc, stream);
      else
        run_simt<64, 64, 8, 4, 4>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                  ldc, stream);
      break;
  }
  check_launch("gemm");
}

GemmPrecision parse_gemm_precision(const std::string& name) {
  if (name == "float32" || name == "f32") return GemmPrecision::f32;
  if (name == "tf32") return GemmPrecision::tf32;
  if (name == "bf16" || name == "bfloat16") return GemmPrecision::bf16;
  throw std::invalid_argument("unknown GEMM precision '" + name +
                              "' (expected 'float32', 'tf32' or 'bf16')");
}

}  // namespace cuda
}  // namespace fastmlp
