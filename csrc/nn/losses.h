// Losses of the output layer, as scikit-learn defines them (sklearn/neural_network/_base.py),
// and their gradient with respect to the output pre-activation. Tested in tests/test_ops.py.
#pragma once
#include <cstdint>
#include <string>

namespace fastmlp {

// Each loss is paired with its canonical output activation, which makes the gradient
// with respect to the pre-activation simply p - y:
//   squared_error + identity, log_loss + softmax, binary_log_loss + logistic, poisson + exp.
enum class Loss { squared_error, log_loss, binary_log_loss, poisson };

Loss parse_loss(const std::string& name);  // throws std::invalid_argument

// Sum over samples of sw[i] * loss_i, where loss_i is the per-sample loss
// (squared error: half the mean over outputs; the others: the sum over outputs).
// sw may be null (all ones). Accumulated in double, serially: the order is fixed.
// p, y (n,out)
template <typename T>
double loss_forward(Loss loss, const T* p, const T* y, const T* sw, int64_t n, int64_t out);

// delta (n,out) = (p - y) * sw[:, None]
template <typename T>
void loss_backward(T* delta, const T* p, const T* y, const T* sw, int64_t n, int64_t out);

}  // namespace fastmlp
