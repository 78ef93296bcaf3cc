// The scalar formulas of every activation, written once for both sides: the CPU loops of
// nn/activations.cpp and the CUDA kernels of cuda/layers.cu inline these very functions.
// So the CPU tests (tests/test_ops.py, test_extra_activations.py, test_gradcheck.py) check
// the formulas the GPU runs, and tests/test_cuda.py compares the GPU with the CPU.
#pragma once
#include <cmath>
#include <type_traits>

#include "common/host_device.h"
#include "nn/activations.h"
#include "nn/exp_math.h"

namespace fastmlp {

constexpr double kLeakyReluSlope = 0.01;
// gelu, tanh approximation: 0.5 x (1 + tanh(c (x + k x^3))), c = sqrt(2/pi), k = 0.044715.
constexpr double kGeluC = 0.7978845608028654;
constexpr double kGeluK = 0.044715;

// exp(-|x|) never overflows, so both branches stay finite for any input.
template <typename T>
FASTMLP_HOST_DEVICE T expit(T x) {
  const T e = fast_exp(-std::fabs(x));
  return (x >= T(0) ? T(1) : e) / (T(1) + e);
}

template <typename T>
FASTMLP_HOST_DEVICE T gelu(T x) {
  return T(0.5) * x * (T(1) + fast_tanh(T(kGeluC) * (x + T(kGeluK) * x * x * x)));
}

template <typename T>
FASTMLP_HOST_DEVICE T gelu_derivative(T x) {
  const T t = fast_tanh(T(kGeluC) * (x + T(kGeluK) * x * x * x));
  return T(0.5) * (T(1) + t) +
         T(0.5) * x * (T(1) - t * t) * T(kGeluC) * (T(1) + T(3 * kGeluK) * x * x);
}

// log(1 + exp(x)) without overflow for large x nor loss of precision for very negative x.
template <typename T>
FASTMLP_HOST_DEVICE T softplus(T x) {
  return x > T(0) ? x + std::log1p(fast_exp(-x)) : std::log1p(fast_exp(x));
}

// a = f(x), element by element. Softmax normalises whole rows: its callers do that, and
// it maps to x here like identity.
template <Activation F, typename T>
FASTMLP_HOST_DEVICE T activation_value(T x) {
  if constexpr (F == Activation::logistic) return expit(x);
  else if constexpr (F == Activation::tanh) return fast_tanh(x);
  // relu: NaN stays NaN, as numpy's maximum(x, 0) in scikit-learn
  else if constexpr (F == Activation::relu) return x < T(0) ? T(0) : x;
  else if constexpr (F == Activation::exp) return fast_exp(x);
  else if constexpr (F == Activation::leaky_relu) return x < T(0) ? T(kLeakyReluSlope) * x : x;
  else if constexpr (F == Activation::gelu) return gelu(x);
  else if constexpr (F == Activation::silu) return x * expit(x);
  else if constexpr (F == Activation::elu) return x > T(0) ? x : fast_expm1(x);
  else if constexpr (F == Activation::softplus) return softplus(x);
  else return x;  // identity, softmax
}

// delta * f'(z), written with the output a = f(z) as scikit-learn does, except for gelu
// and silu, which read the pre-activation z (activation_needs_preactivation); the other
// activations ignore z. Output activations (softmax, exp) leave delta as it is: their
// derivative is folded into the loss gradient (p - y).
template <Activation F, typename T>
FASTMLP_HOST_DEVICE T activation_delta(T delta, T a, T z) {
  if constexpr (F == Activation::logistic) return delta * (a * (T(1) - a));
  else if constexpr (F == Activation::tanh) return delta * (T(1) - a * a);
  else if constexpr (F == Activation::relu) return a == T(0) ? T(0) : delta;  // NaN stays NaN
  else if constexpr (F == Activation::leaky_relu)
    return delta * (a < T(0) ? T(kLeakyReluSlope) : T(1));
  else if constexpr (F == Activation::elu)  // f'(z) = exp(z) = a + 1 for z <= 0
    return delta * (a > T(0) ? T(1) : a + T(1));
  else if constexpr (F == Activation::softplus)  // f'(z) = expit(z) = 1 - exp(-a)
    return delta * -fast_expm1(-a);
  else if constexpr (F == Activation::gelu) return delta * gelu_derivative(z);
  else if constexpr (F == Activation::silu) {  // s (1 + z (1 - s)), s = expit(z)
    const T s = expit(z);
    return delta * (s * (T(1) + z * (T(1) - s)));
  } else {
    (void)a;
    (void)z;
    return delta;  // identity, softmax, exp
  }
}

// fn(std::integral_constant<Activation, F>{}) for the run-time f: the one switch over the
// activations, so that each CPU loop and each CUDA kernel is built per activation with
// its formula inlined (no branch per element).
template <typename Fn>
void visit_activation(Activation f, Fn&& fn) {
  using A = Activation;
  switch (f) {
    case A::identity: return fn(std::integral_constant<A, A::identity>{});
    case A::logistic: return fn(std::integral_constant<A, A::logistic>{});
    case A::tanh: return fn(std::integral_constant<A, A::tanh>{});
    case A::relu: return fn(std::integral_constant<A, A::relu>{});
    case A::softmax: return fn(std::integral_constant<A, A::softmax>{});
    case A::exp: return fn(std::integral_constant<A, A::exp>{});
    case A::leaky_relu: return fn(std::integral_constant<A, A::leaky_relu>{});
    case A::gelu: return fn(std::integral_constant<A, A::gelu>{});
    case A::silu: return fn(std::integral_constant<A, A::silu>{});
    case A::elu: return fn(std::integral_constant<A, A::elu>{});
    case A::softplus: return fn(std::integral_constant<A, A::softplus>{});
  }
}

}  // namespace fastmlp
