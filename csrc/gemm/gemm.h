// GEMM: C (M,N) = alpha * op(A) @ op(B) + beta * C, row-major, float and double.
// BLIS-style: five loops around one MR x NR micro-kernel on zero-padded packed panels;
// the micro-kernel (portable, AVX2+FMA or AVX-512) is chosen at run time.
// Tested against numpy in tests/test_gemm.py; timed against gemm_ref and numpy in benchmarks/.
#pragma once
#include <cstdint>
#include <string>
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

// The naive triple loop: the oracle the tests and benchmarks compare against.
template <typename T>
void gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
              int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace fastmlp
