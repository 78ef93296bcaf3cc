// The per-element formulas of every loss, written once for both sides: nn/losses.cpp and
// the CUDA loss kernel (cuda/layers.cu) inline these very functions, so the CPU tests
// (tests/test_ops.py, test_extra_activations.py, test_gradcheck.py) check the formulas
// the GPU runs, and tests/test_cuda.py compares the GPU with the CPU.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "common/host_device.h"
#include "nn/log_math.h"
#include "nn/losses.h"

namespace fastmlp {

// scipy.special.xlogy: 0 where x == 0, unless y is NaN (then NaN). The log is taken either
// way and then dropped, so that loops over these terms vectorize.
FASTMLP_HOST_DEVICE double xlogy(double x, double y) {
  const double t = x * fast_log(y);
  return x == 0.0 && y == y ? 0.0 : t;
}

// numpy's clip in selects, which vectorize: NaN stays NaN, so a NaN probability gives a
// NaN loss, as scikit-learn's.
FASTMLP_HOST_DEVICE double clip(double p, double lo, double hi) {
  const double q = p < lo ? lo : p;
  return q > hi ? hi : q;
}

// Output j's term of one sample's loss, in double, for values of an array whose dtype has
// machine epsilon eps (sklearn clips probabilities to [eps, 1 - eps]); a sample's loss is
// loss_from_terms(sum of its terms over the outputs, out).
template <Loss L>
FASTMLP_HOST_DEVICE double loss_term(double pj, double yj, double eps) {
  if constexpr (L == Loss::squared_error) {
    const double d = yj - pj;
    return d * d;
  } else if constexpr (L == Loss::log_loss) {
    // A zero target's term (most terms of one-hot targets) is -0.0, unless its
    // probability is NaN: a row's sum keeps its bits whether the term is added or skipped.
    return -xlogy(yj, clip(pj, eps, 1.0 - eps));
  } else if constexpr (L == Loss::binary_log_loss) {
    const double q = clip(pj, eps, 1.0 - eps);
    return -(xlogy(yj, q) + xlogy(1.0 - yj, 1.0 - q));
  } else if constexpr (L == Loss::poisson) {
    return xlogy(yj, yj / pj) - yj + pj;
  } else if constexpr (L == Loss::absolute_error) {
    return std::fabs(yj - pj);
  } else {
    static_assert(L == Loss::huber, "a loss without a formula");
    const double r = std::fabs(yj - pj);
    return r <= 1.0 ? 0.5 * r * r : r - 0.5;
  }
}

// The same for values p, y of an array of T.
template <Loss L, typename T>
FASTMLP_HOST_DEVICE double loss_term(T p, T y) {
  return loss_term<L>(double(p), double(y), double(std::numeric_limits<T>::epsilon()));
}

// One sample's loss from the sum s of its terms over `out` outputs: squared error
// (halved), absolute error and huber report the mean over outputs, as scikit-learn's
// squared error, while their gradient is that of the sum; the others the sum.
template <Loss L>
FASTMLP_HOST_DEVICE double loss_from_terms(double s, int64_t out) {
  if constexpr (L == Loss::squared_error) return 0.5 * s / double(out);
  else if constexpr (L == Loss::absolute_error || L == Loss::huber) return s / double(out);
  else return s;
}

// d loss / d (output pre-activation) for one element, before the sample weight: p - y for
// the canonical pairs (the output activation's derivative folds into it), its sign for
// absolute_error (0 at 0) and p - y clipped to [-1, 1] for huber (delta 1).
template <Loss L, typename T>
FASTMLP_HOST_DEVICE T loss_gradient(T p, T y) {
  const T r = p - y;
  if constexpr (L == Loss::absolute_error) return r > T(0) ? T(1) : (r < T(0) ? T(-1) : T(0));
  else if constexpr (L == Loss::huber) return std::fmax(T(-1), std::fmin(T(1), r));
  else return r;
}

// fn(std::integral_constant<Loss, L>{}) for the run-time loss: the one switch over the
// losses, so that each CPU loop and the CUDA kernel are built per loss.
template <typename Fn>
void visit_loss(Loss loss, Fn&& fn) {
  switch (loss) {
    case Loss::squared_error: return fn(std::integral_constant<Loss, Loss::squared_error>{});
    case Loss::log_loss: return fn(std::integral_constant<Loss, Loss::log_loss>{});
    case Loss::binary_log_loss: return fn(std::integral_constant<Loss, Loss::binary_log_loss>{});
    case Loss::poisson: return fn(std::integral_constant<Loss, Loss::poisson>{});
    case Loss::absolute_error: return fn(std::integral_constant<Loss, Loss::absolute_error>{});
    case Loss::huber: return fn(std::integral_constant<Loss, Loss::huber>{});
  }
}

}  // namespace fastmlp
