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

// The products behind gemm_bf16: AVX-512 BF16's vdpbf16ps, AMX-BF16 tiles, or float32
// products (gemm<float> on the unrounded inputs) where neither beats float32 on this CPU.
enum class Bf16Kernel { automatic, avx512, amx, float32 };

// "auto", "avx512", "amx" or "float32"; anything else throws std::invalid_argument.
Bf16Kernel parse_bf16_kernel(const std::string& name);
const char* bf16_kernel_name(Bf16Kernel kernel);
// `automatic` becomes FASTMLP_BF16_KERNEL when set (read at every call, so tests can switch
// it), else measured_bf16_kernel(). Throws
// std::invalid_argument where the CPU lacks AVX-512 BF16 (every bf16 product needs it) or
// a forced kernel cannot run here (amx without cpu_has_amx_bf16()).
Bf16Kernel resolve_bf16_kernel(Bf16Kernel kernel);
std::vector<std::string> available_bf16_kernels();  // [] without AVX-512 BF16

// The measurement behind the automatic choice, taken once per process at its first use
// (thread-safe; later calls return the cached result): one thread runs three mini-batch
// products (forward, both gradients) with each kernel usable at that moment, interleaved,
// best of three rounds after a warm-up. Seconds per round; 0 for a kernel not measured.
struct Bf16Calibration {
  double float32_s = 0, avx512_s = 0, amx_s = 0;
  double elapsed_s = 0;  // the whole calibration, warm-up included
};
const Bf16Calibration& bf16_calibration();
// The fastest measured bf16 kernel still usable now (FASTMLP_AMX=0 removes amx), or
// float32 where none is at least kBf16MinSpeedup times as fast as float32 products: the
// margin keeps timing noise from flipping a close call towards the slower side.
constexpr double kBf16MinSpeedup = 1.1;
Bf16Kernel measured_bf16_kernel();

// C (M,N) = alpha * bf16(op(A)) @ bf16(op(B)) + beta * C: A and B are float32, rounded to
// bfloat16 (nearest even, denormals to zero) as they are packed; the products of the bf16
// values are summed in float32 (vdpbf16ps or TDPBF16PS) and C is float32. With
// Bf16Kernel::float32 (chosen where bf16 is not faster here) it is gemm<float> instead:
// unrounded inputs. Arguments, edge cases and thread-count independence as gemm<float>.
// Throws std::invalid_argument as resolve_bf16_kernel does.
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc, GemmWorkspace& ws, Bf16Kernel kernel = Bf16Kernel::automatic);

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
