// GEMM micro-kernel: the portable kernel (16-byte vectors: SSE2 on x86-64, NEON elsewhere); always built.
#include "gemm/ukernel.h"
#include "gemm/ukernel_impl.h"

namespace fastmlp {

void ukernel_scalar(int64_t K, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                  float beta, int64_t m, int64_t n) {
  ukernel_body<float, kScalarBytes, kScalarMR, kScalarNV>(K, a, b, c, ldc, alpha, beta, m, n);
}

void ukernel_scalar(int64_t K, const double* a, const double* b, double* c, int64_t ldc,
                  double alpha, double beta, int64_t m, int64_t n) {
  ukernel_body<double, kScalarBytes, kScalarMR, kScalarNV>(K, a, b, c, ldc, alpha, beta, m, n);
}

}  // namespace fastmlp
