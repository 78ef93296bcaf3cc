// exp, expm1 and tanh in plain arithmetic, for the CPU loops of the activations: libm's
// scalar calls kept those loops from vectorizing (a tanh network trained only 1.2x faster
// than scikit-learn's, whose numpy tanh is SIMD). On the device fast_exp, fast_expm1 and
// fast_tanh are CUDA's own functions.
//
// Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, with n found by the shifter trick
// (x log2(e) + 1.5 2^52 leaves n in the low bits, so no float-to-int conversion is
// needed and every width vectorizes); expm1(r) by its Taylor series through r^13
// (float: r^8), whose truncation error is below half an ulp; 2^n built in the exponent
// bits. Measured: at most 1 ulp (exp) and 3 ulps (tanh, logistic) for normal results;
// 0 (exp) or -1 (expm1) below the smallest normal result, inf above the largest, NaN kept.
// Tested against numpy element by element in tests/test_ops.py.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/host_device.h"

namespace fastmlp {

template <typename T>
struct ExpTraits;

template <>
struct ExpTraits<double> {
  using Bits = uint64_t;
  static constexpr int kMantissa = 52, kBias = 1023, kTerms = 13;
  static constexpr double kShifter = 0x1.8p52;
  static constexpr double kLo = -708.0, kHi = 709.0;  // 2^n stays a normal number
  static constexpr double kLn2Hi = 0x1.62e42fefa39efp-1, kLn2Lo = 0x1.abc9e3b39803fp-56;
};

template <>
struct ExpTraits<float> {
  using Bits = uint32_t;
  static constexpr int kMantissa = 23, kBias = 127, kTerms = 8;
  static constexpr float kShifter = 0x1.8p23f;
  static constexpr float kLo = -87.0f, kHi = 88.0f;
  static constexpr float kLn2Hi = 0x1.62e4p-1f, kLn2Lo = 0x1.7f7d1cp-20f;
};

constexpr double inv_factorial(int k) {
  double f = 1;
  for (int i = 2; i <= k; ++i) f *= i;
  return 1.0 / f;
}

// 1/K! + r/(K+1)! + ... + r^(kTerms-K)/kTerms!, by Horner, with constant coefficients
// (spelled out by recursion: a loop here kept the callers' loops from vectorizing).
template <typename T, int K>
inline T taylor_from(T r) {
  constexpr T c = T(inv_factorial(K));
  if constexpr (K == ExpTraits<T>::kTerms) {
    (void)r;
    return c;
  } else {
    return taylor_from<T, K + 1>(r) * r + c;
  }
}

// exp(x) = s (1 + p) for x in [kLo, kHi]: s = 2^n, p = expm1(r).
template <typename T>
inline void exp_parts(T x, T& s, T& p) {
  using E = ExpTraits<T>;
  using Bits = typename E::Bits;
  const T m = x * T(1.4426950408889634) + E::kShifter;
  const T n = m - E::kShifter;
  const T r = (x - n * E::kLn2Hi) - n * E::kLn2Lo;
  p = taylor_from<T, 1>(r) * r;
  Bits bits;
  std::memcpy(&bits, &m, sizeof bits);
  bits = (bits + Bits(E::kBias)) << E::kMantissa;
  std::memcpy(&s, &bits, sizeof s);
}

// x limited to [kLo, kHi] with selects (std::fmin/fmax are library calls that block
// vectorization); NaN passes through, and the callers' selects return it.
template <typename T>
inline T clamp_exp_arg(T x) {
  using E = ExpTraits<T>;
  return x < E::kLo ? E::kLo : x > E::kHi ? E::kHi : x;
}

template <typename T>
FASTMLP_HOST_DEVICE T fast_exp(T x) {
#if defined(__CUDA_ARCH__)
  return std::exp(x);
#else
  using E = ExpTraits<T>;
  T s, p;
  exp_parts(clamp_exp_arg(x), s, p);
  const T y = s * p + s;
  return x > E::kHi ? std::numeric_limits<T>::infinity() : x < E::kLo ? T(0) : x != x ? x : y;
#endif
}

template <typename T>
FASTMLP_HOST_DEVICE T fast_expm1(T x) {
#if defined(__CUDA_ARCH__)
  return std::expm1(x);
#else
  using E = ExpTraits<T>;
  T s, p;
  exp_parts(clamp_exp_arg(x), s, p);
  const T y = s * p + (s - T(1));
  return x > E::kHi ? std::numeric_limits<T>::infinity() : x < E::kLo ? T(-1) : x != x ? x : y;
#endif
}

// tanh |x| = -t / (2 + t), t = expm1(-2|x|) in (-1, 0]: no cancellation near 0.
template <typename T>
FASTMLP_HOST_DEVICE T fast_tanh(T x) {
#if defined(__CUDA_ARCH__)
  return std::tanh(x);
#else
  const T t = fast_expm1(T(-2) * std::fabs(x));
  return std::copysign(-t / (T(2) + t), x);
#endif
}

}  // namespace fastmlp
