// GEMM micro-kernel: the AVX2 + FMA kernel; this file is compiled with -mavx2 -mfma.
#include "gemm/ukernel.h"
#include "gemm/ukernel_impl.h"

namespace fastmlp {

void ukernel_avx2(int64_t K, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                  float beta, int64_t m, int64_t n) {
  ukernel_body<float, kAvx2Bytes, kAvx2MR, kAvx2NV>(K, a, b, c, ldc, alpha, beta, m, n);
}

void ukernel_avx2(int64_t K, const double* a, const double* b, double* c, int64_t ldc,
                  double alpha, double beta, int64_t m, int64_t n) {
  ukernel_body<double, kAvx2Bytes, kAvx2MR, kAvx2NV>(K, a, b, c, ldc, alpha, beta, m, n);
}

}  // namespace fastmlp
