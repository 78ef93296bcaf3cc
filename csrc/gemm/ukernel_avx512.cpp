// GEMM micro-kernel: the AVX-512 kernel; this file is compiled with -mavx512f (and friends) -mfma.
#include "gemm/ukernel.h"
#include "gemm/ukernel_impl.h"

namespace fastmlp {

void ukernel_avx512(int64_t K, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                  float beta, int64_t m, int64_t n) {
  ukernel_body<float, kAvx512Bytes, kAvx512MR, kAvx512NV>(K, a, b, c, ldc, alpha, beta, m, n);
}

void ukernel_avx512(int64_t K, const double* a, const double* b, double* c, int64_t ldc,
                  double alpha, double beta, int64_t m, int64_t n) {
  ukernel_body<double, kAvx512Bytes, kAvx512MR, kAvx512NV>(K, a, b, c, ldc, alpha, beta, m, n);
}

}  // namespace fastmlp
