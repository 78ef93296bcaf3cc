// Packing into micro-panels. The contiguous direction of the source is read in the inner
// loop where the layout allows it.
#include "gemm/pack.h"

#include <cstring>

namespace fastmlp {

template <typename T>
void pack_a_panel(T* dst, const T* A, int64_t lda, bool trans_a, int64_t i0, int64_t m,
                  int64_t p0, int64_t kc, int64_t mr) {
  if (trans_a) {  // op(A)(i, k) = A[k, i]: each k is a contiguous run of rows i
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = A + (p0 + k) * lda + i0;
      T* d = dst + k * mr;
      std::memcpy(d, src, sizeof(T) * m);
      for (int64_t r = m; r < mr; ++r) d[r] = T(0);
    }
    return;
  }
  for (int64_t r = 0; r < m; ++r) {
    const T* src = A + (i0 + r) * lda + p0;
    for (int64_t k = 0; k < kc; ++k) dst[k * mr + r] = src[k];
  }
  for (int64_t r = m; r < mr; ++r)
    for (int64_t k = 0; k < kc; ++k) dst[k * mr + r] = T(0);
}

template <typename T>
void pack_b_panel(T* dst, const T* B, int64_t ldb, bool trans_b, int64_t p0, int64_t kc,
                  int64_t j0, int64_t n, int64_t nr) {
  if (!trans_b) {  // op(B)(k, j) = B[k, j]: each k is a contiguous run of columns j
    for (int64_t k = 0; k < kc; ++k) {
      T* d = dst + k * nr;
      std::memcpy(d, B + (p0 + k) * ldb + j0, sizeof(T) * n);
      for (int64_t j = n; j < nr; ++j) d[j] = T(0);
    }
    return;
  }
  for (int64_t j = 0; j < n; ++j) {
    const T* src = B + (j0 + j) * ldb + p0;
    for (int64_t k = 0; k < kc; ++k) dst[k * nr + j] = src[k];
  }
  for (int64_t j = n; j < nr; ++j)
    for (int64_t k = 0; k < kc; ++k) dst[k * nr + j] = T(0);
}

template void pack_a_panel<float>(float*, const float*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
template void pack_a_panel<double>(double*, const double*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
template void pack_b_panel<float>(float*, const float*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);
template void pack_b_panel<double>(double*, const double*, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t);

}  // namespace fastmlp
