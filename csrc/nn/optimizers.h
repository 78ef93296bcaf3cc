// Parameter updates over the flat parameter vector, exactly as scikit-learn's
// SGDOptimizer and AdamOptimizer (sklearn/neural_network/_stochastic_optimizers.py);
// beyond scikit-learn, AdamW (decoupled weight decay), gradient-norm clipping and the
// cosine learning-rate schedule with linear warmup.
// Tested against numpy transcriptions in tests/test_ops.py and
// tests/test_training_extras.py.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace fastmlp {

// adamw: Adam on the data gradient alone, and the weights (not the biases) decayed by
// w *= 1 - lr * alpha before each step (Loshchilov & Hutter, as torch.optim.AdamW).
enum class Solver { sgd, adam, adamw };

// constant: the rate in OptimizerConfig (scikit-learn's per-epoch schedules live in Python);
// cosine: a per-step rate from cosine_learning_rate.
enum class Schedule { constant, cosine };

// Everything an update step reads.
struct OptimizerConfig {
  Solver solver = Solver::adam;
  double learning_rate = 1e-3;  // sgd: current rate; adam(w): learning_rate_init
  double momentum = 0.9;
  bool nesterov = true;
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-8;
  // Global L2 norm the step's gradient is clipped to; 0: no clipping.
  double max_grad_norm = 0.0;
  Schedule schedule = Schedule::constant;
  int64_t warmup_steps = 0, total_steps = 0;  // cosine only
};

// The cosine schedule's rate for step s (0-based) of total_steps S, after warmup_steps W:
//   s < W:  base * (s + 1) / W
//   else:   base * 0.5 * (1 + cos(pi * min(s - W, S - W) / (S - W)))
// Requires 0 <= W < S. Inline: the CPU and the CUDA training loops (on the host, once
// per step) compute the rate with this one definition.
inline double cosine_learning_rate(double base, int64_t step, int64_t warmup_steps,
                                   int64_t total_steps) {
  if (step < warmup_steps) return base * double(step + 1) / double(warmup_steps);
  const double span = double(total_steps - warmup_steps);
  const double done = std::min(double(step - warmup_steps), span);
  constexpr double kPi = 3.14159265358979323846;  // M_PI is not standard C++
  return base * 0.5 * (1.0 + std::cos(kPi * done / span));
}

// v = momentum*v - lr*g;  w += nesterov ? momentum*v - lr*g : v
// w, velocity, grad (n)
template <typename T>
void sgd_update(T* w, T* velocity, const T* grad, int64_t n, double lr, double momentum,
                bool nesterov);

// Step number t (1-based, already incremented).
// m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;  w -= lr_t * m / (sqrt(v) + eps)
// with lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t).  w, m, v, grad (n)
template <typename T>
void adam_update(T* w, T* m, T* v, const T* grad, int64_t n, int64_t t, double lr,
                 double beta_1, double beta_2, double epsilon);

// One training step fused with the penalty: the gradient of the data term `grad` (unscaled)
// becomes g = (grad + alpha*w) * scale on the first n_coefs entries (the weights) and
// grad * scale on the rest (the biases), and feeds the optimizer's step (adam: step t).
// adamw: alpha is the decoupled decay instead, so g = grad * scale everywhere.
// opt.max_grad_norm > 0: when ||g|| exceeds it, g is scaled by max_grad_norm / ||g||
// (the norm needs a pass of its own, in fixed blocks, before the fused one).
// Returns sum(w^2) over the weights before the step, summed in fixed blocks.
// more: null, or a second gradient (another row slice's) added to grad, block by block in
// the same pass, as if added beforehand. grad is scratch: afterwards it holds grad, or the
// sum when max_grad_norm's norm pass has merged them.
template <typename T>
double penalized_update(const OptimizerConfig& opt, int64_t t, T* w, T* state_a, T* state_b,
                        T* grad, const T* more, int64_t n, int64_t n_coefs, double alpha,
                        double scale, std::vector<double>& partial);

}  // namespace fastmlp
