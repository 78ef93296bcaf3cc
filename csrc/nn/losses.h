// Losses of the output layer, as scikit-learn defines them (sklearn/neural_network/_base.py),
// and their gradient with respect to the output pre-activation. The per-element formulas
// are in nn/loss_math.h, shared with the CUDA kernel. Tested in tests/test_ops.py.
#pragma once
#include <cstdint>
#include <string>

namespace fastmlp {

// Each loss is paired with its canonical output activation, which makes the gradient
// with respect to the pre-activation simply p - y:
//   squared_error + identity, log_loss + softmax, binary_log_loss + logistic, poisson + exp.
// Beyond scikit-learn, with identity output: absolute_error (gradient sign(p - y)) and
// huber with delta fixed at 1 (gradient clip(p - y, -1, 1)).
enum class Loss { squared_error, log_loss, binary_log_loss, poisson, absolute_error, huber };

Loss parse_loss(const std::string& name);  // throws std::invalid_argument

// Sum over samples of sw[i] * loss_i, where loss_i is the per-sample loss
// (squared error: half the mean over outputs; absolute error: the mean of |p - y| over
// outputs; huber: the mean over outputs of 0.5 r^2 for |r| <= 1, |r| - 0.5 beyond; the
// others: the sum over outputs). Like scikit-learn's squared error, the three regression
// losses report the mean over outputs while their gradient is that of the sum.
// sw may be null (all ones). Accumulated in double, serially: the order is fixed.
// p, y (n,out)
template <typename T>
double loss_forward(Loss loss, const T* p, const T* y, const T* sw, int64_t n, int64_t out);

// delta (n,out) = g(p - y) * sw[:, None], g the identity for the canonical pairs,
// sign for absolute_error and clip to [-1, 1] for huber.
template <typename T>
void loss_backward(Loss loss, T* delta, const T* p, const T* y, const T* sw, int64_t n,
                   int64_t out);

}  // namespace fastmlp
