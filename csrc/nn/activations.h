// Activation functions applied in place to a (n, width) row-major block, and the
// derivative step of backpropagation. Tested against numpy in tests/test_ops.py.
#pragma once
#include <cstdint>
#include <string>

namespace fastmlp {

// Hidden layers use identity/logistic/tanh/relu (as scikit-learn) or, beyond it,
// leaky_relu (slope 0.01), gelu (tanh approximation), silu, elu (alpha 1) and softplus;
// the output layer uses identity (squared, absolute and Huber error), logistic (binary and
// multilabel), softmax (multiclass) or exp (Poisson).
enum class Activation {
  identity, logistic, tanh, relu, softmax, exp, leaky_relu, gelu, silu, elu, softplus
};

// gelu and silu are not invertible, so their derivative cannot be written with the output
// alone: activation_backward needs the pre-activation z for them, and the network keeps
// it in an extra buffer per hidden layer (only for these two).
constexpr bool activation_needs_preactivation(Activation f) {
  return f == Activation::gelu || f == Activation::silu;
}

Activation parse_activation(const std::string& name);  // throws std::invalid_argument

// a (n,width) = f(a + bias) in place; bias (width) may be null. Adding the bias here
// saves the dense layer a separate pass over its output.
template <typename T>
void activation_forward(Activation f, T* a, int64_t n, int64_t width, const T* bias = nullptr);

// delta (n,width) *= f'(z), written with the activation output a = f(z) as scikit-learn
// does; gelu and silu read the pre-activation z (n,width) instead, which must then be
// non-null (see activation_needs_preactivation). Only hidden activations have one. The
// formulas of both directions are in nn/activation_math.h, shared with the CUDA kernels.
template <typename T>
void activation_backward(Activation f, T* delta, const T* a, int64_t n, int64_t width,
                         const T* z = nullptr);

}  // namespace fastmlp
