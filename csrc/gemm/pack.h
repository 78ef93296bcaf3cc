// Packing op(A) and op(B) blocks into the zero-padded micro-panels the micro-kernel reads.
#pragma once
#include <cstdint>

namespace fastmlp {

// dst (kc, mr) k-major = rows [i0, i0+m) x cols [p0, p0+kc) of op(A), zero rows past m.
template <typename T>
void pack_a_panel(T* dst, const T* A, int64_t lda, bool trans_a, int64_t i0, int64_t m,
                  int64_t p0, int64_t kc, int64_t mr);

// dst (kc, nr) = rows [p0, p0+kc) x cols [j0, j0+n) of op(B), zero columns past n.
template <typename T>
void pack_b_panel(T* dst, const T* B, int64_t ldb, bool trans_b, int64_t p0, int64_t kc,
                  int64_t j0, int64_t n, int64_t nr);

}  // namespace fastmlp
