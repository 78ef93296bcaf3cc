// SGD (momentum, Nesterov) and Adam updates, one pass over the flat parameters; and the
// same steps fused with the L2 penalty and the 1/S scaling of the gradient, so a training
// step reads and writes the parameters and optimizer state once.
#include "nn/optimizers.h"

#include <algorithm>
#include <cmath>

#include "common/parallel.h"
#include "common/simd_clones.h"

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

// One block of the fused step: returns the block's sum of squared weights. `step` is a
// copy held by value, so stores through w cannot alias its fields and the loops vectorize.
template <typename T, typename Step>
FASTMLP_SIMD_CLONES double penalized_block(const Step step, T* w, T* a, T* b, const T* grad,
                                           int64_t n, int64_t n_coefs, T alpha, T scale) {
  double sq = 0.0;
#pragma omp simd reduction(+ : sq)
  for (int64_t i = 0; i < n_coefs; ++i) sq += double(w[i]) * double(w[i]);
  // simd: elements are independent (a and b may be one array, but only element i of it
  // is touched in iteration i).
#pragma omp simd
  for (int64_t i = 0; i < n_coefs; ++i) step(w[i], a[i], b[i], (grad[i] + alpha * w[i]) * scale);
#pragma omp simd
  for (int64_t i = n_coefs; i < n; ++i) step(w[i], a[i], b[i], grad[i] * scale);
  return sq;
}

template <typename T, typename Step>
double apply_penalized(const Step& step, T* w, T* a, T* b, const T* grad, int64_t n,
                       int64_t n_coefs, double alpha, double scale,
                       std::vector<double>& partial) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  partial.assign(size_t(blocks), 0.0);
#pragma omp parallel for schedule(static) if (worth_parallel(n))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t begin = blk * kBlock, end = std::min(n, begin + kBlock);
    const int64_t coef_end = std::min(end, std::max(begin, n_coefs));
    partial[size_t(blk)] = penalized_block(step, w + begin, a + begin, b + begin, grad + begin,
                                           end - begin, coef_end - begin, T(alpha), T(scale));
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace

template <typename T>
void sgd_update(T* w, T* velocity, const T* grad, int64_t n, double lr, double momentum,
                bool nesterov) {
  std::vector<double> unused;
  if (nesterov)
    apply_penalized(SgdStep<T, true>(lr, momentum), w, velocity, velocity, grad, n, 0, 0.0, 1.0,
                    unused);
  else
    apply_penalized(SgdStep<T, false>(lr, momentum), w, velocity, velocity, grad, n, 0, 0.0, 1.0,
                    unused);
}

template <typename T>
void adam_update(T* w, T* m, T* v, const T* grad, int64_t n, int64_t t, double lr,
                 double beta_1, double beta_2, double epsilon) {
  std::vector<double> unused;
  apply_penalized(AdamStep<T>(t, lr, beta_1, beta_2, epsilon), w, m, v, grad, n, 0, 0.0, 1.0,
                  unused);
}

template <typename T>
double penalized_update(const OptimizerConfig& opt, int64_t t, T* w, T* state_a, T* state_b,
                        const T* grad, int64_t n, int64_t n_coefs, double alpha, double scale,
                        std::vector<double>& partial) {
  if (opt.solver == Solver::sgd && opt.nesterov)
    return apply_penalized(SgdStep<T, true>(opt.learning_rate, opt.momentum), w, state_a,
                           state_a, grad, n, n_coefs, alpha, scale, partial);
  if (opt.solver == Solver::sgd)
    return apply_penalized(SgdStep<T, false>(opt.learning_rate, opt.momentum), w, state_a,
                           state_a, grad, n, n_coefs, alpha, scale, partial);
  return apply_penalized(AdamStep<T>(t, opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon),
                         w, state_a, state_b, grad, n, n_coefs, alpha, scale, partial);
}

template void sgd_update<float>(float*, float*, const float*, int64_t, double, double, bool);
template void sgd_update<double>(double*, double*, const double*, int64_t, double, double, bool);
template void adam_update<float>(float*, float*, float*, const float*, int64_t, int64_t, double,
                                 double, double, double);
template void adam_update<double>(double*, double*, double*, const double*, int64_t, int64_t,
                                  double, double, double, double);
template double penalized_update<float>(const OptimizerConfig&, int64_t, float*, float*, float*,
                                        const float*, int64_t, int64_t, double, double,
                                        std::vector<double>&);
template double penalized_update<double>(const OptimizerConfig&, int64_t, double*, double*,
                                         double*, const double*, int64_t, int64_t, double, double,
                                         std::vector<double>&);

}  // namespace fastmlp
