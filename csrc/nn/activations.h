// Activation functions applied in place to a (n, width) row-major block, and the
// derivative step of backpropagation. Tested against numpy in tests/test_ops.py.
#pragma once
#include <cstdint>
#include <string>

namespace fastmlp {

// Hidden layers use identity/logistic/tanh/relu; the output layer uses identity
// (squared error), logistic (binary and multilabel), softmax (multiclass) or exp (Poisson).
enum class Activation { identity, logistic, tanh, relu, softmax, exp };

Activation parse_activation(const std::string& name);  // throws std::invalid_argument

// a (n,width) = f(a + bias) in place; bias (width) may be null. Adding the bias here
// saves the dense layer a separate pass over its output.
template <typename T>
void activation_forward(Activation f, T* a, int64_t n, int64_t width, const T* bias = nullptr);

// delta (n,width) *= f'(z), written with the activation output a = f(z) as scikit-learn
// does: logistic a(1-a), tanh 1-a^2, relu [a>0]. Only hidden activations have one.
template <typename T>
void activation_backward(Activation f, T* delta, const T* a, int64_t n, int64_t width);

}  // namespace fastmlp
