// SGD (momentum, Nesterov), Adam and AdamW updates, one pass over the flat parameters; and
// the same steps fused with the L2 penalty and the 1/S scaling of the gradient, so a
// training step reads and writes the parameters and optimizer state once (twice with
// gradient clipping, which needs the norm first).
#include "nn/optimizers.h"

#include <algorithm>
#include <cmath>

#include "common/cpu_features.h"
#include "common/parallel.h"
#include "common/prefetch.h"
#include "common/simd_clones.h"
#include "nn/adam_avx512.h"

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

// Steps with so little arithmetic per value that their stores wait on memory.
template <typename Step>
constexpr bool kLightStep = false;
template <typename T, bool Nesterov>
constexpr bool kLightStep<SgdStep<T, Nesterov>> = true;

// Decay: AdamW's decoupled weight decay, w *= 1 - lr*decay before the Adam step (as
// torch.optim.AdamW); a template flag so that plain Adam keeps its exact arithmetic.
template <typename T, bool Decay>
struct AdamStep : AdamConstants<T> {
  AdamStep(int64_t t, double lr, double beta_1, double beta_2, double epsilon,
           double decay = 0.0)
      : AdamConstants<T>{T(beta_1), T(beta_2), T(1.0 - beta_1), T(1.0 - beta_2),
                         T(lr * std::sqrt(1.0 - std::pow(beta_2, double(t))) /
                           (1.0 - std::pow(beta_1, double(t)))),
                         T(epsilon), T(1.0 - lr * decay)} {}
  void operator()(T& w, T& m, T& v, T g) const {
    const T mi = this->b1 * m + this->c1 * g;
    const T vi = this->b2 * v + this->c2 * g * g;
    m = mi;
    v = vi;
    if (Decay) w *= this->keep;
    w -= this->step * mi / (std::sqrt(vi) + this->eps);
  }
};

// The leading entries of a span that a vector kernel stepped: Adam's on AVX-512 CPUs
// (nn/adam_avx512.h, the same bits), none for the other steps; the loops below take the rest.
template <bool Merge, bool Penalty, typename Step, typename T>
int64_t kernel_span(const Step&, T*, T*, T*, const T*, const T*, int64_t, T, T) {
  return 0;
}
template <bool Merge, bool Penalty, typename T, bool Decay>
int64_t kernel_span(const AdamStep<T, Decay>& step, T* w, T* m, T* v, const T* grad,
                    const T* more, int64_t n, T alpha, T scale) {
  static const bool avx512 = cpu_has_avx512();
  return avx512 ? adam_span_avx512<T, Merge, Penalty, Decay>(step, w, m, v, grad, more, n,
                                                             alpha, scale)
                : 0;
}

// Blocks of a fixed size, so the sum of squares merges in one order for any thread count.
// A block is a few microseconds of Adam steps (a square root and a division per value):
// two blocks are worth two threads.
constexpr int64_t kBlock = 1 << 12;

int step_threads(int64_t blocks) { return blocks >= 2 ? max_threads() : 1; }

// One block of the fused step: coef_step updates the weights (the first n_coefs entries),
// bias_step the rest (they differ only for AdamW, whose decay spares the biases); returns
// the block's sum of squared weights. Merge: `more` (another slice's gradient) is added
// to grad's value in the same loop, not a pass of its own: SGD's step is too light to hide
// an extra pass over the block (the other thread's gradient comes from its core's cache).
// The sum is not stored back: grad belongs to the slice that the other thread runs, and a
// store would move its lines to this core and back again for the next batch.
// The steps are copies held by value, so stores through w cannot alias their fields and
// the loops vectorize.
template <typename T, bool Merge, typename CoefStep, typename BiasStep>
FASTMLP_SIMD_CLONES double penalized_block(const CoefStep coef_step, const BiasStep bias_step,
                                           T* w, T* a, T* b, const T* grad, const T* more,
                                           int64_t n, int64_t n_coefs, T alpha, T scale) {
  double sq = 0.0;
#pragma omp simd reduction(+ : sq)
  for (int64_t i = 0; i < n_coefs; ++i) sq += double(w[i]) * double(w[i]);
  const int64_t coef_start =
      kernel_span<Merge, true>(coef_step, w, a, b, grad, more, n_coefs, alpha, scale);
  // simd: elements are independent (a and b may be one array, but only element i of it
  // is touched in iteration i).
#pragma omp simd
  for (int64_t i = coef_start; i < n_coefs; ++i) {
    T g = grad[i];
    if (Merge) g = g + more[i];
    coef_step(w[i], a[i], b[i], (g + alpha * w[i]) * scale);
  }
  const int64_t bias_start =
      n_coefs + kernel_span<Merge, false>(bias_step, w + n_coefs, a + n_coefs, b + n_coefs,
                                          grad + n_coefs, Merge ? more + n_coefs : more,
                                          n - n_coefs, alpha, scale);
#pragma omp simd
  for (int64_t i = bias_start; i < n; ++i) {
    T g = grad[i];
    if (Merge) g = g + more[i];
    bias_step(w[i], a[i], b[i], g * scale);
  }
  return sq;
}

template <typename T, typename CoefStep, typename BiasStep>
double apply_penalized(const CoefStep& coef_step, const BiasStep& bias_step, T* w, T* a, T* b,
                       T* grad, const T* more, int64_t n, int64_t n_coefs, double alpha,
                       double scale, std::vector<double>& partial) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  partial.assign(size_t(blocks), 0.0);
  parallel_for(blocks, step_threads(blocks), [&](int64_t blk) {
    const int64_t begin = blk * kBlock, end = std::min(n, begin + kBlock);
    const int64_t coef_end = std::min(end, std::max(begin, n_coefs));
    // The row slices have just read w on every core, so each store of the step waits for
    // its line to be taken back from the other core's cache. A loop as light as SGD's
    // waits for them one at a time (its step: 6 µs alone, 27-38 µs right after the other
    // core read w); asking for every line of the block first lets the transfers overlap
    // (8-9 µs in the training loop, against 25-33). Adam's arithmetic already overlaps
    // them: there the extra pass cost 2 µs.
    if constexpr (kLightStep<CoefStep>) {
      constexpr int64_t kLine = 64 / int64_t(sizeof(T));
      for (int64_t i = begin; i < end; i += kLine) prefetch_for_write(w + i);
    }
    partial[size_t(blk)] =
        more ? penalized_block<T, true>(coef_step, bias_step, w + begin, a + begin, b + begin,
                                        grad + begin, more + begin, end - begin,
                                        coef_end - begin, T(alpha), T(scale))
             : penalized_block<T, false>(coef_step, bias_step, w + begin, a + begin, b + begin,
                                         grad + begin, more, end - begin, coef_end - begin,
                                         T(alpha), T(scale));
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

// grad += more over one block (more: another slice's gradient).
template <typename T>
void merge_block(T* __restrict grad, const T* __restrict more, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) grad[i] += more[i];
}

// One block of penalized_grad_sq.
template <typename T>
FASTMLP_SIMD_CLONES double grad_sq_block(const T* w, const T* grad, int64_t n, int64_t n_coefs,
                                         T alpha, T scale) {
  double sq = 0.0;
#pragma omp simd reduction(+ : sq)
  for (int64_t i = 0; i < n_coefs; ++i) {
    const double g = double((grad[i] + alpha * w[i]) * scale);
    sq += g * g;
  }
#pragma omp simd reduction(+ : sq)
  for (int64_t i = n_coefs; i < n; ++i) {
    const double g = double(grad[i] * scale);
    sq += g * g;
  }
  return sq;
}

// ||g||^2 of the gradient apply_penalized would feed its steps, in the same fixed blocks
// (adding `more` into grad first, as apply_penalized would).
template <typename T>
double penalized_grad_sq(const T* w, T* grad, const T* more, int64_t n, int64_t n_coefs,
                         double alpha, double scale, std::vector<double>& partial) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  partial.assign(size_t(blocks), 0.0);
  parallel_for(blocks, step_threads(blocks), [&](int64_t blk) {
    const int64_t begin = blk * kBlock, end = std::min(n, begin + kBlock);
    const int64_t coef_end = std::min(end, std::max(begin, n_coefs));
    if (more) merge_block(grad + begin, more + begin, end - begin);
    partial[size_t(blk)] = grad_sq_block(w + begin, grad + begin, end - begin,
                                         coef_end - begin, T(alpha), T(scale));
  });
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
    apply_penalized(SgdStep<T, true>(lr, momentum), SgdStep<T, true>(lr, momentum), w, velocity,
                    velocity, const_cast<T*>(grad), static_cast<const T*>(nullptr), n, 0, 0.0, 1.0, unused);
  else
    apply_penalized(SgdStep<T, false>(lr, momentum), SgdStep<T, false>(lr, momentum), w,
                    velocity, velocity, const_cast<T*>(grad), static_cast<const T*>(nullptr), n, 0, 0.0, 1.0, unused);
}

template <typename T>
void adam_update(T* w, T* m, T* v, const T* grad, int64_t n, int64_t t, double lr,
                 double beta_1, double beta_2, double epsilon) {
  std::vector<double> unused;
  const AdamStep<T, false> step(t, lr, beta_1, beta_2, epsilon);
  apply_penalized(step, step, w, m, v, const_cast<T*>(grad), static_cast<const T*>(nullptr), n, 0, 0.0, 1.0, unused);
}

template <typename T>
double penalized_update(const OptimizerConfig& opt, int64_t t, T* w, T* state_a, T* state_b,
                        T* grad, const T* more, int64_t n, int64_t n_coefs, double alpha,
                        double scale, std::vector<double>& partial) {
  const bool adamw = opt.solver == Solver::adamw;
  const double penalty = adamw ? 0.0 : alpha;
  if (opt.max_grad_norm > 0.0) {
    // A NaN norm fails the test and reaches the step unclipped: divergence stays visible.
    const double norm =
        std::sqrt(penalized_grad_sq(w, grad, more, n, n_coefs, penalty, scale, partial));
    if (norm > opt.max_grad_norm) scale *= opt.max_grad_norm / norm;
    more = nullptr;  // added into grad by now
  }
  const double lr = opt.learning_rate;
  if (opt.solver == Solver::sgd && opt.nesterov) {
    const SgdStep<T, true> step(lr, opt.momentum);
    return apply_penalized(step, step, w, state_a, state_a, grad, more, n, n_coefs, penalty, scale,
                           partial);
  }
  if (opt.solver == Solver::sgd) {
    const SgdStep<T, false> step(lr, opt.momentum);
    return apply_penalized(step, step, w, state_a, state_a, grad, more, n, n_coefs, penalty, scale,
                           partial);
  }
  const AdamStep<T, false> adam(t, lr, opt.beta_1, opt.beta_2, opt.epsilon);
  if (adamw)
    return apply_penalized(AdamStep<T, true>(t, lr, opt.beta_1, opt.beta_2, opt.epsilon, alpha),
                           adam, w, state_a, state_b, grad, more, n, n_coefs, penalty, scale, partial);
  return apply_penalized(adam, adam, w, state_a, state_b, grad, more, n, n_coefs, penalty, scale,
                         partial);
}

template void sgd_update<float>(float*, float*, const float*, int64_t, double, double, bool);
template void sgd_update<double>(double*, double*, const double*, int64_t, double, double, bool);
template void adam_update<float>(float*, float*, float*, const float*, int64_t, int64_t, double,
                                 double, double, double);
template void adam_update<double>(double*, double*, double*, const double*, int64_t, int64_t,
                                  double, double, double, double);
template double penalized_update<float>(const OptimizerConfig&, int64_t, float*, float*, float*,
                                        float*, const float*, int64_t, int64_t, double, double,
                                        std::vector<double>&);
template double penalized_update<double>(const OptimizerConfig&, int64_t, double*, double*,
                                         double*, double*, const double*, int64_t, int64_t,
                                         double, double, std::vector<double>&);

}  // namespace fastmlp
