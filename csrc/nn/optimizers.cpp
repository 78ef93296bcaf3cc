// SGD (momentum, Nesterov) and Adam updates, one pass over the flat parameters.
#include "nn/optimizers.h"

#include <cmath>

#include "common/parallel.h"

namespace fastmlp {

template <typename T>
void sgd_update(T* w, T* velocity, const T* grad, int64_t n, double lr, double momentum,
                bool nesterov) {
  // Coefficients in T so that float32 models update in float32, as numpy does for sklearn.
  const T mu = T(momentum), eta = T(lr);
#pragma omp parallel for simd schedule(static) if (worth_parallel(n))
  for (int64_t i = 0; i < n; ++i) {
    T v = mu * velocity[i] - eta * grad[i];
    velocity[i] = v;
    w[i] += nesterov ? mu * v - eta * grad[i] : v;
  }
}

template <typename T>
void adam_update(T* w, T* m, T* v, const T* grad, int64_t n, int64_t t, double lr,
                 double beta_1, double beta_2, double epsilon) {
  const double lr_t =
      lr * std::sqrt(1.0 - std::pow(beta_2, double(t))) / (1.0 - std::pow(beta_1, double(t)));
  const T b1 = T(beta_1), b2 = T(beta_2), c1 = T(1.0 - beta_1), c2 = T(1.0 - beta_2);
  const T step = T(lr_t), eps = T(epsilon);
#pragma omp parallel for simd schedule(static) if (worth_parallel(n))
  for (int64_t i = 0; i < n; ++i) {
    const T g = grad[i];
    const T mi = b1 * m[i] + c1 * g;
    const T vi = b2 * v[i] + c2 * g * g;
    m[i] = mi;
    v[i] = vi;
    w[i] -= step * mi / (std::sqrt(vi) + eps);
  }
}

template void sgd_update<float>(float*, float*, const float*, int64_t, double, double, bool);
template void sgd_update<double>(double*, double*, const double*, int64_t, double, double, bool);
template void adam_update<float>(float*, float*, float*, const float*, int64_t, int64_t, double,
                                 double, double, double);
template void adam_update<double>(double*, double*, double*, const double*, int64_t, int64_t,
                                  double, double, double, double);

}  // namespace fastmlp
