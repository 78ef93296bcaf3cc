// GEMM: C (M,N) = alpha * op(A) @ op(B) + beta * C, row-major, float and double.
// BLIS-style: five loops around one MR x NR micro-kernel on zero-padded packed panels;
// the micro-kernel (portable, AVX2+FMA or AVX-512) is chosen at run time.
// Tested against numpy in tests/test_gemm.py; timed against gemm_ref and numpy in benchmarks/.
#pragma once
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "common/aligned_buffer.h"

namespace fastmlp {

enum class GemmKernel { automatic, scalar, avx2, avx512 };

// "auto", "scalar", "avx2" or "avx512"; anything else throws std::invalid_argument.
GemmKernel parse_gemm_kernel(const std::string& name);
const char* gemm_kernel_name(GemmKernel kernel);
// `automatic` becomes FASTMLP_GEMM_KERNEL when set (read at every call, so tests can switch
// it), else the best kernel this CPU runs. A kernel the CPU cannot run throws.
GemmKernel resolve_gemm_kernel(GemmKernel kernel);
std::vector<std::string> available_gemm_kernels();

// Packing buffers, reused across calls so that training allocates nothing per batch. They
// grow on demand (the first call, or a larger shape) and never shrink.
class GemmWorkspace {
 public:
  // Room for n values of T, 64-byte aligned, contents undefined.
  template <typename T>
  T* get(size_t n) {
    buf_.reserve((n * sizeof(T) + sizeof(double) - 1) / sizeof(double));
    return reinterpret_cast<T*>(buf_.data());
  }

 private:
  AlignedBuffer<double> buf_;
};

// op(A) is (M,K): A is (M,K) with row stride lda, or (K,M) when trans_a; likewise op(B)
// is (K,N). beta == 0 overwrites C without reading it (C may hold NaN); K == 0 (or
// alpha == 0) gives C = beta * C without reading A or B; M or N == 0 does nothing. Each
// element of C is summed by one thread in a fixed order: results do not depend on the
// thread count. `kernel` other than automatic forces that micro-kernel (throws
// std::invalid_argument if this CPU cannot run it).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, GemmWorkspace& ws,
          GemmKernel kernel = GemmKernel::automatic);

// C (M,N) = alpha * bf16(op(A)) @ bf16(op(B)) + beta * C: A and B are float32, rounded to
// bfloat16 (nearest even, denormals to zero) as they are packed; the products of the bf16
// values are summed in float32 (vdpbf16ps) and C is float32. Arguments, edge cases and
// thread-count independence as gemm<float>. Needs AVX-512 BF16: throws
// std::invalid_argument naming the missing feature where !cpu_has_avx512_bf16().
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc, GemmWorkspace& ws);

// The inputs of a network's products: the values' own type (float or double), or float
// values rounded to bfloat16 with float32 sums (gemm_bf16). See gemm_as below.
enum class Precision { native, bf16 };

// gemm<T>, or gemm_bf16 for float with Precision::bf16 (double ignores the precision:
// Network<double> refuses bf16 when it is built).
template <typename T>
void gemm_as(Precision precision, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
             T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C,
             int64_t ldc, GemmWorkspace& ws) {
  if constexpr (std::is_same_v<T, float>) {
    if (precision == Precision::bf16)
      return gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
  }
  gemm<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

// The naive triple loop: the oracle the tests and benchmarks compare against.
template <typename T>
void gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
              int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace fastmlp
