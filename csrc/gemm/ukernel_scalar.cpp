// Portable GEMM micro-kernel (4 x 8) in plain C++: runs on any CPU, is what the SIMD
// kernels fall back to, and is checked like them by tests/test_gemm.py. The compiler may
// vectorise it with the baseline instruction set; nothing here depends on that.
#include "gemm/ukernel.h"

namespace fastmlp {
namespace {

template <typename T, int MR, int NR>
void ukernel(int64_t K, const T* __restrict a, int64_t a_rs, int64_t a_cs,
             const T* __restrict b, int64_t b_step, T* __restrict c, int64_t ldc, T alpha,
             T beta, int64_t m, int64_t n) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < K; ++k) {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] += a[r * a_rs] * b[j];
    a += a_cs;
    b += b_step;
  }
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j) {
      T* p = c + r * ldc + j;
      *p = beta == T(0) ? alpha * acc[r][j] : alpha * acc[r][j] + beta * *p;
    }
}

}  // namespace

void ukernel_scalar(int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                    int64_t b_step, float* c, int64_t ldc, float alpha, float beta, int64_t m,
                    int64_t n) {
  ukernel<float, ScalarTile<float>::mr, ScalarTile<float>::nr>(K, a, a_rs, a_cs, b, b_step, c,
                                                               ldc, alpha, beta, m, n);
}

void ukernel_scalar(int64_t K, const double* a, int64_t a_rs, int64_t a_cs, const double* b,
                    int64_t b_step, double* c, int64_t ldc, double alpha, double beta,
                    int64_t m, int64_t n) {
  ukernel<double, ScalarTile<double>::mr, ScalarTile<double>::nr>(K, a, a_rs, a_cs, b, b_step,
                                                                  c, ldc, alpha, beta, m, n);
}

}  // namespace fastmlp
