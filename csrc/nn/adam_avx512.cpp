// AVX-512 Adam step (nn/adam_avx512.h). This file alone is compiled with the AVX-512 flags
// and without FMA contraction: every FMA below is written out and is part of a refinement,
// never of the step's own arithmetic.
//
// Why the bits are IEEE's. sqrt: vrsqrt14 (14 bits) and Goldschmidt steps in FMAs (2 for
// double, 1 for float) give s ~ sqrt(v) and h ~ 1/(2 sqrt(v)); the residual v - s*s is
// exact in an FMA and s + residual*h rounds as sqrt does. Division: vrcp14 and Newton steps
// give q ~ 1/d, and y = num*q corrected by the exact residual num - d*y rounds as num/d
// does (Markstein), except where d's significand is all ones: those lanes take the divider.
// Tested: 10^8 random and 1.6*10^8 hand-picked doubles (significands near all ones, near
// zero, powers of two), 3.2*10^8 floats and every float in [1, 4) matched IEEE sqrt and
// division bit for bit; tests/test_ops.py compares whole steps with numpy bit for bit.
// The residuals must stay normal numbers, so a vector with any value outside the ranges of
// Range<T> (subnormal, huge, inf, NaN) takes vsqrt and vdiv as a whole.
#include "nn/adam_avx512.h"

#if defined(__x86_64__) || defined(_M_X64)
#include "common/prefetch.h"
#include "common/zmm.h"

namespace fastmlp {
namespace {

// Where the refinements are exact: v (or 0) for the square root, the numerator (or 0),
// and eps, which bounds d = sqrt(v) + eps from below, so that num/d and every residual
// stay normal numbers.
template <typename T>
struct Range;
template <>
struct Range<double> {
  static constexpr double v_lo = 0x1p-600, v_hi = 0x1p600;
  static constexpr double num_lo = 0x1p-600, num_hi = 0x1p600;
  static constexpr double eps_lo = 0x1p-300, eps_hi = 0x1p300;
  static constexpr int steps = 2;  // 14 -> 28 -> 56 bits
};
template <>
struct Range<float> {
  static constexpr float v_lo = 0x1p-100f, v_hi = 0x1p40f;
  static constexpr float num_lo = 0x1p-80f, num_hi = 0x1p80f;
  static constexpr float eps_lo = 0x1p-40f, eps_hi = 0x1p20f;
  static constexpr int steps = 1;  // 14 -> 28 bits
};

// num / (sqrt(v) + eps), rounded as the three IEEE operations round it.
template <typename T>
inline typename Zmm<T>::V quotient(typename Zmm<T>::V num, typename Zmm<T>::V v,
                                   typename Zmm<T>::V eps) {
  using Z = Zmm<T>;
  using R = Range<T>;
  using V = typename Z::V;
  using Mask = typename Z::Mask;
  const V zero = Z::zero(), half = Z::set1(T(0.5)), one = Z::set1(T(1));
  const V abs_num = Z::abs(num);
  const Mask v_zero = Z::template cmp<_CMP_EQ_OQ>(v, zero);
  const Mask num_zero = Z::template cmp<_CMP_EQ_OQ>(num, zero);
  Mask fast = (v_zero | (Z::template cmp<_CMP_GE_OQ>(v, Z::set1(R::v_lo)) &
                          Z::template cmp<_CMP_LE_OQ>(v, Z::set1(R::v_hi)))) &
               (num_zero | (Z::template cmp<_CMP_GE_OQ>(abs_num, Z::set1(R::num_lo)) &
                            Z::template cmp<_CMP_LE_OQ>(abs_num, Z::set1(R::num_hi))));
  // sqrt(v); v = 0 lanes (their rsqrt is inf) give 0.
  const V vs = Z::max(v, Z::set1(R::v_lo));
  const V r = Z::rsqrt14(vs);
  V s = Z::mul(vs, r), h = Z::mul(half, r);
  for (int i = 0; i < R::steps; ++i) {
    const V e = Z::fnmadd(s, h, half);
    s = Z::fmadd(s, e, s);
    h = Z::fmadd(h, e, h);
  }
  s = Z::fmadd(Z::fnmadd(s, s, vs), h, s);
  s = Z::blend(v_zero, s, zero);
  const V d = Z::add(s, eps);
  fast &= Mask(~Z::all_ones_significand(d));
  if (fast != Z::all) return Z::div(num, Z::add(Z::sqrt(v), eps));
  V q = Z::rcp14(d);
  for (int i = 0; i < R::steps; ++i) q = Z::fmadd(q, Z::fnmadd(d, q, one), q);
  V y = Z::mul(num, q);
  y = Z::fmadd(Z::fnmadd(d, y, num), q, y);
  return Z::blend(num_zero, y, num);  // 0/d keeps num's sign; the residual would lose it
}

}  // namespace

template <typename T, bool Merge, bool Penalty, bool Decay>
int64_t adam_span_avx512(const AdamConstants<T>& k, T* w, T* m, T* v, const T* grad,
                         const T* more, int64_t n, T alpha, T scale) {
  using Z = Zmm<T>;
  using V = typename Z::V;
  if (!(k.eps >= Range<T>::eps_lo && k.eps <= Range<T>::eps_hi)) return 0;
  const V b1 = Z::set1(k.b1), b2 = Z::set1(k.b2), c1 = Z::set1(k.c1), c2 = Z::set1(k.c2);
  const V step = Z::set1(k.step), eps = Z::set1(k.eps), keep = Z::set1(k.keep);
  const V va = Z::set1(alpha), vscale = Z::set1(scale);
  const int64_t end = n - n % Z::lanes;
  // The row slices have just read w on both cores: ask for its lines 16 vectors ahead in
  // exclusive state, so the stores below do not wait for them (a digits batch's step in
  // the training loop: 11.3-12.1 against 13.0-13.2 µs).
  constexpr int64_t kAhead = 16 * Z::lanes;
  for (int64_t i = 0; i < end; i += Z::lanes) {
    if (i + kAhead < end) prefetch_for_write(w + i + kAhead);
    V wi = Z::load(w + i);
    V g = Z::load(grad + i);
    if (Merge) g = Z::add(g, Z::load(more + i));
    if (Penalty) g = Z::add(g, Z::mul(va, wi));
    g = Z::mul(g, vscale);
    const V mi = Z::add(Z::mul(b1, Z::load(m + i)), Z::mul(c1, g));
    const V vi = Z::add(Z::mul(b2, Z::load(v + i)), Z::mul(Z::mul(c2, g), g));
    Z::store(m + i, mi);
    Z::store(v + i, vi);
    if (Decay) wi = Z::mul(wi, keep);
    Z::store(w + i, Z::sub(wi, quotient<T>(Z::mul(step, mi), vi, eps)));
  }
  return end;
}

}  // namespace fastmlp

#else  // not x86-64: never called (cpu_has_avx512() is false)

namespace fastmlp {
template <typename T, bool Merge, bool Penalty, bool Decay>
int64_t adam_span_avx512(const AdamConstants<T>&, T*, T*, T*, const T*, const T*, int64_t, T,
                         T) {
  return 0;
}
}  // namespace fastmlp

#endif

namespace fastmlp {
#define FASTMLP_ADAM_SPAN(T, M, P, D)                                                   \
  template int64_t adam_span_avx512<T, M, P, D>(const AdamConstants<T>&, T*, T*, T*,    \
                                                const T*, const T*, int64_t, T, T);
#define FASTMLP_ADAM_SPANS(T)                                                           \
  FASTMLP_ADAM_SPAN(T, false, false, false) FASTMLP_ADAM_SPAN(T, false, false, true)    \
  FASTMLP_ADAM_SPAN(T, false, true, false) FASTMLP_ADAM_SPAN(T, false, true, true)      \
  FASTMLP_ADAM_SPAN(T, true, false, false) FASTMLP_ADAM_SPAN(T, true, false, true)      \
  FASTMLP_ADAM_SPAN(T, true, true, false) FASTMLP_ADAM_SPAN(T, true, true, true)
FASTMLP_ADAM_SPANS(float)
FASTMLP_ADAM_SPANS(double)
}  // namespace fastmlp
