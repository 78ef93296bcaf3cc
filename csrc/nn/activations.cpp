// Activations forward (in place) and backward (delta *= derivative from the outputs): the
// loops, built per activation, around the scalar formulas of nn/activation_math.h.
#include "nn/activations.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "common/parallel.h"
#include "common/simd_clones.h"
#include "nn/activation_math.h"

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

// Softmax of rows [0, n) of a (n, width), with bias: each row shifted by its maximum,
// then exp over the whole block in one loop (it vectorizes at full width even when rows
// are as narrow as 10 classes), then each row's sum in index order and the scaling.
template <typename T>
FASTMLP_SIMD_CLONES void softmax_block(T* a, const T* bias, int64_t n, int64_t width) {
  for (int64_t i = 0; i < n; ++i) {
    T* row = a + i * width;
    if (bias) {
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) row[j] += bias[j];
    }
    // Any maximum does: a row with a NaN comes out all NaN whichever one is taken.
    T mx = row[0];
#pragma omp simd reduction(max : mx)
    for (int64_t j = 1; j < width; ++j) mx = std::max(mx, row[j]);
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) row[j] -= mx;
  }
  const int64_t count = n * width;
#pragma omp simd
  for (int64_t k = 0; k < count; ++k) a[k] = fast_exp(a[k]);
  for (int64_t i = 0; i < n; ++i) {
    T* row = a + i * width;
    T sum = 0;
    for (int64_t j = 0; j < width; ++j) sum += row[j];
    const T inv = T(1) / sum;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) row[j] *= inv;
  }
}

template <typename T>
void softmax_rows(T* a, const T* bias, int64_t n, int64_t width) {
  parallel_rows(n, width, [&](int64_t i0, int64_t i1) {
    softmax_block(a + i0 * width, bias, i1 - i0, width);
  });
}

// One row of a = f(a + bias).
template <Activation F, typename T>
FASTMLP_SIMD_CLONES void map_row(T* row, const T* bias, int64_t width) {
  if (bias) {
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) row[j] = activation_value<F>(row[j] + bias[j]);
  } else {
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) row[j] = activation_value<F>(row[j]);
  }
}

// a = f(a + bias) row by row; one pass over a.
template <Activation F, typename T>
void map_rows(T* a, const T* bias, int64_t n, int64_t width) {
  parallel_rows(n, width, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) map_row<F>(a + i * width, bias, width);
  });
}

// delta[i] *= f'(z[i]) for i < count; z is read only by gelu and silu.
template <Activation F, typename T>
FASTMLP_SIMD_CLONES void scale_range(T* delta, const T* a, const T* z, int64_t count) {
  if constexpr (activation_needs_preactivation(F)) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) delta[i] = activation_delta<F>(delta[i], a[i], z[i]);
  } else {
    (void)z;
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) delta[i] = activation_delta<F>(delta[i], a[i], T(0));
  }
}

// delta *= f'(z) over count elements, in chunks shared among the threads.
template <Activation F, typename T>
void scale_by_derivative(T* delta, const T* a, const T* z, int64_t count) {
  parallel_rows(count, 1, [&](int64_t begin, int64_t end) {
    scale_range<F>(delta + begin, a + begin, z ? z + begin : z, end - begin);
  });
}

}  // namespace

template <typename T>
void activation_forward(Activation f, T* a, int64_t n, int64_t width, const T* bias) {
  visit_activation(f, [&](auto tag) {
    constexpr Activation F = decltype(tag)::value;
    if constexpr (F == Activation::softmax) softmax_rows(a, bias, n, width);
    else if (F != Activation::identity || bias) map_rows<F>(a, bias, n, width);
  });
}

template <typename T>
void activation_backward(Activation f, T* delta, const T* a, int64_t n, int64_t width,
                         const T* z) {
  visit_activation(f, [&](auto tag) {
    constexpr Activation F = decltype(tag)::value;
    // identity; softmax and exp, output activations whose derivative is folded into the
    // loss gradient (p - y): nothing to do.
    if constexpr (F != Activation::identity && F != Activation::softmax && F != Activation::exp)
      scale_by_derivative<F>(delta, a, z, n * width);
  });
}

template void activation_forward<float>(Activation, float*, int64_t, int64_t, const float*);
template void activation_forward<double>(Activation, double*, int64_t, int64_t, const double*);
template void activation_backward<float>(Activation, float*, const float*, int64_t, int64_t,
                                         const float*);
template void activation_backward<double>(Activation, double*, const double*, int64_t, int64_t,
                                          const double*);

}  // namespace fastmlp
