// Parameter updates over the flat parameter vector, exactly as scikit-learn's
// SGDOptimizer and AdamOptimizer (sklearn/neural_network/_stochastic_optimizers.py).
// Tested against a numpy transcription in tests/test_ops.py.
#pragma once
#include <cstdint>
#include <vector>

namespace fastmlp {

enum class Solver { sgd, adam };

// Everything an update step reads; learning-rate schedules live in Python (per epoch).
struct OptimizerConfig {
  Solver solver = Solver::adam;
  double learning_rate = 1e-3;  // sgd: current rate; adam: learning_rate_init
  double momentum = 0.9;
  bool nesterov = true;
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-8;
};

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
// Returns sum(w^2) over the weights before the step, summed in fixed blocks.
template <typename T>
double penalized_update(const OptimizerConfig& opt, int64_t t, T* w, T* state_a, T* state_b,
                        const T* grad, int64_t n, int64_t n_coefs, double alpha, double scale,
                        std::vector<double>& partial);

// penalized_update compiled for AVX-512 (optimizers_avx512.cpp): call only where
// cpu_has_avx512(). penalized_update picks it by itself.
template <typename T>
double penalized_update_avx512(const OptimizerConfig& opt, int64_t t, T* w, T* state_a,
                               T* state_b, const T* grad, int64_t n, int64_t n_coefs,
                               double alpha, double scale, std::vector<double>& partial);

}  // namespace fastmlp
