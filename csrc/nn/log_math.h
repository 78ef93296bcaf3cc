// The natural log in plain arithmetic, for the CPU loops of the losses: libm's scalar call
// kept them from vectorizing, and the log loss of a digits epoch (one log per sample) took
// 4-6% of the epoch (benchmarks/RESULTS.md). On the device fast_log is CUDA's own log.
//
// fdlibm's e_log.c without its branches: x = 2^k m with m in [sqrt(2)/2, sqrt(2)),
// f = m - 1, s = f / (2 + f), log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)) with fdlibm's
// degree-14 polynomial R, k ln2 added in two parts. Both of fdlibm's final forms are
// computed and the one it would take is selected (the branch is on f's range only).
// Error below 1 ulp (fdlibm's bound); subnormal x scaled by 2^54 first; log(0) = -inf,
// log(inf) = inf, negative x and NaN give NaN. Tested against a long double reference
// element by element in tests/test_ops.py.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/host_device.h"

namespace fastmlp {

FASTMLP_HOST_DEVICE double fast_log(double x) {
#if defined(__CUDA_ARCH__)
  return std::log(x);
#else
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  constexpr double lg1 = 6.666666666666735130e-01, lg2 = 3.999999999940941908e-01;
  constexpr double lg3 = 2.857142874366239149e-01, lg4 = 2.222219843214978396e-01;
  constexpr double lg5 = 1.818357216161805012e-01, lg6 = 1.531383769920937332e-01;
  constexpr double lg7 = 1.479819860511658591e-01;
  // Subnormal x (and 0, negative, NaN: their results are replaced below) scaled by 2^54,
  // in arithmetic rather than a select, which kept some callers' loops from vectorizing.
  const double subnormal = double(x < 0x1p-1022);
  const double xs = x * (1.0 + subnormal * (0x1p54 - 1.0));
  uint64_t bits;
  std::memcpy(&bits, &xs, sizeof bits);
  const uint64_t hx = bits >> 32, mant = hx & 0x000fffff;
  // m >= sqrt(2): take m / 2 and k + 1 (the bit that carries into the exponent field).
  const uint64_t up = (mant + 0x95f64) & 0x100000;
  const uint64_t m_bits = ((mant | (up ^ 0x3ff00000)) << 32) | (bits & 0xffffffffu);
  double m;
  std::memcpy(&m, &m_bits, sizeof m);
  // k as a double without an integer conversion: 2^52 + the biased exponent, less the bias.
  const uint64_t k_bits = 0x4330000000000000ull | ((hx >> 20) + (up >> 20));
  double dk;
  std::memcpy(&dk, &k_bits, sizeof dk);
  dk -= 0x1p52 + 1023.0 + subnormal * 54.0;
  const double f = m - 1.0, s = f / (2.0 + f), z = s * s, w = z * z;
  const double t1 = w * (lg2 + w * (lg4 + w * lg6));
  const double t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)));
  const double r = t2 + t1, hfsq = 0.5 * f * f;
  // fdlibm's test on the high word of x's significand, (i | j) > 0: which form rounds better.
  const int64_t i = int64_t(mant) - 0x6147a, j = 0x6b851 - int64_t(mant);
  const bool wide = (i | j) > 0;
  const double y = wide ? dk * ln2_hi - ((hfsq - (s * (hfsq + r) + dk * ln2_lo)) - f)
                        : dk * ln2_hi - ((s * (f - r) - dk * ln2_lo) - f);
  constexpr double inf = std::numeric_limits<double>::infinity();
  return x > 0.0 && x < inf ? y
         : x == 0.0         ? -inf
         : x == inf         ? inf
                            : std::numeric_limits<double>::quiet_NaN();
#endif
}

}  // namespace fastmlp
