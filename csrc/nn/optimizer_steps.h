// The per-element optimizer steps and the fused penalized loop, shared by optimizers.cpp
// (baseline instruction set) and optimizers_avx512.cpp (the same loop compiled for AVX-512,
// chosen at run time). Everything here has internal linkage on purpose: each file gets its
// own copy, so the AVX-512 instantiation can never be linked in for the baseline one.
// Elementwise the two copies compute the same IEEE operations (no FMA contraction), so
// they give the same weights; only sum(w^2) may differ in its last bits (simd lanes).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/parallel.h"
#include "nn/optimizers.h"

namespace fastmlp {
namespace {

// Per-element steps in T, so float32 models update in float32 as numpy does for sklearn.
// Nesterov is a template flag so that the loop has no branch and vectorizes.
template <typename T, bool Nesterov>
struct SgdStep {
  T mu, eta;
  SgdStep(double lr, double momentum) : mu(T(momentum)), eta(T(lr)) {}
  void operator()(T& w, T& velocity, T&, T g) const {
    const T v = mu * velocity - eta * g;
    velocity = v;
    w += Nesterov ? mu * v - eta * g : v;
  }
};

template <typename T>
struct AdamStep {
  T b1, b2, c1, c2, step, eps;
  AdamStep(int64_t t, double lr, double beta_1, double beta_2, double epsilon)
      : b1(T(beta_1)), b2(T(beta_2)), c1(T(1.0 - beta_1)), c2(T(1.0 - beta_2)),
        step(T(lr * std::sqrt(1.0 - std::pow(beta_2, double(t))) /
               (1.0 - std::pow(beta_1, double(t))))),
        eps(T(epsilon)) {}
  void operator()(T& w, T& m, T& v, T g) const {
    const T mi = b1 * m + c1 * g;
    const T vi = b2 * v + c2 * g * g;
    m = mi;
    v = vi;
    w -= step * mi / (std::sqrt(vi) + eps);
  }
};

// Blocks of a fixed size, so the sum of squares merges in one order for any thread count.
constexpr int64_t kBlock = 1 << 14;

template <typename T, typename Step>
double apply_penalized(const Step& step_ref, T* w, T* a, T* b, const T* grad, int64_t n,
                       int64_t n_coefs, double alpha, double scale,
                       std::vector<double>& partial) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  partial.assign(size_t(blocks), 0.0);
#pragma omp parallel for schedule(static) if (worth_parallel(n))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    // A copy local to the thread: stores through w then cannot alias the step's fields,
    // which lets the loops below vectorize.
    const Step step = step_ref;
    const T al = T(alpha), sc = T(scale);
    const int64_t begin = blk * kBlock, end = std::min(n, begin + kBlock);
    const int64_t coef_end = std::min(end, std::max(begin, n_coefs));
    double sq = 0.0;
#pragma omp simd reduction(+ : sq)
    for (int64_t i = begin; i < coef_end; ++i) sq += double(w[i]) * double(w[i]);
    // simd: elements are independent (a and b may be one array, but only element i of it
    // is touched in iteration i).
#pragma omp simd
    for (int64_t i = begin; i < coef_end; ++i) step(w[i], a[i], b[i], (grad[i] + al * w[i]) * sc);
#pragma omp simd
    for (int64_t i = coef_end; i < end; ++i) step(w[i], a[i], b[i], grad[i] * sc);
    partial[size_t(blk)] = sq;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

// opt's step fused with the penalty (see penalized_update in optimizers.h).
template <typename T>
double penalized_update_here(const OptimizerConfig& opt, int64_t t, T* w, T* state_a,
                             T* state_b, const T* grad, int64_t n, int64_t n_coefs,
                             double alpha, double scale, std::vector<double>& partial) {
  if (opt.solver == Solver::sgd && opt.nesterov)
    return apply_penalized(SgdStep<T, true>(opt.learning_rate, opt.momentum), w, state_a,
                           state_a, grad, n, n_coefs, alpha, scale, partial);
  if (opt.solver == Solver::sgd)
    return apply_penalized(SgdStep<T, false>(opt.learning_rate, opt.momentum), w, state_a,
                           state_a, grad, n, n_coefs, alpha, scale, partial);
  return apply_penalized(AdamStep<T>(t, opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon),
                         w, state_a, state_b, grad, n, n_coefs, alpha, scale, partial);
}

}  // namespace
}  // namespace fastmlp
