// Adam's step over a span of the flat parameters with AVX-512 (nn/adam_avx512.cpp), for
// the fused step in nn/optimizers.cpp: the same IEEE operations in the same order as its
// scalar AdamStep, so the same bits, but the square root and the division come from
// approximate reciprocals refined with FMAs instead of the divider (vsqrtpd and vdivpd
// took most of a digits step: about 13 cycles a double on Intel Xeon 6/207).
#pragma once
#include <cstdint>

namespace fastmlp {

// mi = b1*m + c1*g;  vi = b2*v + (c2*g)*g;  w = w*keep (Decay);  w -= (step*mi) / (sqrt(vi) + eps)
template <typename T>
struct AdamConstants {
  T b1, b2, c1, c2, step, eps, keep;
};

// One Adam step on the leading entries of a span of n, with g = ((grad + more) + alpha*w) *
// scale, where `+ more` is there only with Merge and `+ alpha*w` only with Penalty.
// Returns how many entries it stepped: n rounded down to whole vectors, or 0 where eps is
// outside the range the refinements are exact in. Call it only where cpu_has_avx512().
template <typename T, bool Merge, bool Penalty, bool Decay>
int64_t adam_span_avx512(const AdamConstants<T>& k, T* w, T* m, T* v, const T* grad,
                         const T* more, int64_t n, T alpha, T scale);

}  // namespace fastmlp
