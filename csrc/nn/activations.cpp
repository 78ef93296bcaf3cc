// Activations forward (in place) and backward (delta *= derivative from the outputs).
#include "nn/activations.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "common/parallel.h"

namespace fastmlp {

Activation parse_activation(const std::string& name) {
  if (name == "identity") return Activation::identity;
  if (name == "logistic") return Activation::logistic;
  if (name == "tanh") return Activation::tanh;
  if (name == "relu") return Activation::relu;
  if (name == "softmax") return Activation::softmax;
  if (name == "exp") return Activation::exp;
  if (name == "leaky_relu") return Activation::leaky_relu;
  if (name == "gelu") return Activation::gelu;
  if (name == "silu") return Activation::silu;
  if (name == "elu") return Activation::elu;
  if (name == "softplus") return Activation::softplus;
  throw std::invalid_argument("unknown activation '" + name + "'");
}

namespace {

// exp(-|x|) never overflows, so both branches stay finite for any input.
template <typename T>
inline T expit(T x) {
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

// gelu, tanh approximation: 0.5 x (1 + tanh(c (x + k x^3))), c = sqrt(2/pi), k = 0.044715.
constexpr double kGeluC = 0.7978845608028654;
constexpr double kGeluK = 0.044715;

template <typename T>
inline T gelu(T x) {
  return T(0.5) * x * (T(1) + std::tanh(T(kGeluC) * (x + T(kGeluK) * x * x * x)));
}

template <typename T>
inline T gelu_derivative(T x) {
  const T t = std::tanh(T(kGeluC) * (x + T(kGeluK) * x * x * x));
  return T(0.5) * (T(1) + t) +
         T(0.5) * x * (T(1) - t * t) * T(kGeluC) * (T(1) + T(3 * kGeluK) * x * x);
}

// log(1 + exp(x)) without overflow for large x nor loss of precision for very negative x.
template <typename T>
inline T softplus(T x) {
  return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

template <typename T>
void softmax_rows(T* a, const T* bias, int64_t n, int64_t width) {
#pragma omp parallel for schedule(static) if (worth_parallel(n * width))
  for (int64_t i = 0; i < n; ++i) {
    T* row = a + i * width;
    if (bias)
      for (int64_t j = 0; j < width; ++j) row[j] += bias[j];
    T mx = *std::max_element(row, row + width);
    T sum = 0;
    for (int64_t j = 0; j < width; ++j) {
      row[j] = std::exp(row[j] - mx);
      sum += row[j];
    }
    T inv = T(1) / sum;
    for (int64_t j = 0; j < width; ++j) row[j] *= inv;
  }
}

// a = f(a + bias) row by row; one pass over a.
template <typename T, typename F>
void map_rows(T* a, const T* bias, int64_t n, int64_t width, F f) {
#pragma omp parallel for schedule(static) if (worth_parallel(n * width))
  for (int64_t i = 0; i < n; ++i) {
    T* row = a + i * width;
    if (bias) {
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) row[j] = f(row[j] + bias[j]);
    } else {
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) row[j] = f(row[j]);
    }
  }
}

}  // namespace

template <typename T>
void activation_forward(Activation f, T* a, int64_t n, int64_t width, const T* bias) {
  switch (f) {
    case Activation::identity:
      if (bias) map_rows(a, bias, n, width, [](T x) { return x; });
      return;
    case Activation::logistic: return map_rows(a, bias, n, width, [](T x) { return expit(x); });
    case Activation::tanh: return map_rows(a, bias, n, width, [](T x) { return std::tanh(x); });
    case Activation::relu:
      // NaN stays NaN, as numpy's maximum(x, 0) in scikit-learn
      return map_rows(a, bias, n, width, [](T x) { return x < T(0) ? T(0) : x; });
    case Activation::exp: return map_rows(a, bias, n, width, [](T x) { return std::exp(x); });
    case Activation::softmax: return softmax_rows(a, bias, n, width);
    case Activation::leaky_relu:
      return map_rows(a, bias, n, width, [](T x) { return x < T(0) ? T(0.01) * x : x; });
    case Activation::gelu: return map_rows(a, bias, n, width, [](T x) { return gelu(x); });
    case Activation::silu: return map_rows(a, bias, n, width, [](T x) { return x * expit(x); });
    case Activation::elu:
      return map_rows(a, bias, n, width, [](T x) { return x > T(0) ? x : std::expm1(x); });
    case Activation::softplus: return map_rows(a, bias, n, width, [](T x) { return softplus(x); });
  }
}

template <typename T>
void activation_backward(Activation f, T* delta, const T* a, int64_t n, int64_t width,
                         const T* z) {
  const int64_t count = n * width;
  switch (f) {
    case Activation::identity: return;
    case Activation::logistic:
#pragma omp parallel for schedule(static) if (worth_parallel(count))
      for (int64_t i = 0; i < count; ++i) delta[i] *= a[i] * (T(1) - a[i]);
      return;
    case Activation::tanh:
#pragma omp parallel for schedule(static) if (worth_parallel(count))
      for (int64_t i = 0; i < count; ++i) delta[i] *= T(1) - a[i] * a[i];
      return;
    case Activation::relu:
#pragma omp parallel for schedule(static) if (worth_parallel(count))
      for (int64_t i = 0; i < count; ++i) delta[i] = a[i] == T(0) ? T(0) : delta[i];  // as sklearn: NaN stays NaN
      return;
    case Activation::leaky_relu:
#pragma omp parallel for schedule(static) if (worth_parallel(count))
      for (int64_t i = 0; i < count; ++i) delta[i] *= a[i] < T(0) ? T(0.01) : T(1);
      return;
    case Activation::elu:  // f'(z) = exp(z) = a + 1 for z <= 0
#pragma omp parallel for schedule(static) if (worth_parallel(count))
      for (int64_t i = 0; i < count; ++i) delta[i] *= a[i] > T(0) ? T(1) : a[i] + T(1);
      return;
    case Activation::softplus:  // f'(z) = expit(z) = 1 - exp(-a)
#pragma omp parallel for schedule(static) if (worth_parallel(count))
      for (int64_t i = 0; i < count; ++i) delta[i] *= -std::expm1(-a[i]);
      return;
    case Activation::gelu:
#pragma omp parallel for schedule(static) if (worth_parallel(count))
      for (int64_t i = 0; i < count; ++i) delta[i] *= gelu_derivative(z[i]);
      return;
    case Activation::silu:  // s (1 + z (1 - s)), s = expit(z)
#pragma omp parallel for schedule(static) if (worth_parallel(count))
      for (int64_t i = 0; i < count; ++i) {
        const T s = expit(z[i]);
        delta[i] *= s * (T(1) + z[i] * (T(1) - s));
      }
      return;
    case Activation::softmax:
    case Activation::exp:
      // Output activations: their derivative is folded into the loss gradient (p - y).
      return;
  }
}

template void activation_forward<float>(Activation, float*, int64_t, int64_t, const float*);
template void activation_forward<double>(Activation, double*, int64_t, int64_t, const double*);
template void activation_backward<float>(Activation, float*, const float*, int64_t, int64_t,
                                         const float*);
template void activation_backward<double>(Activation, double*, const double*, int64_t, int64_t,
                                          const double*);

}  // namespace fastmlp
