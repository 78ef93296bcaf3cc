// Output-layer losses (forward) and their pre-activation gradient (backward).
#include "nn/losses.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "common/parallel.h"

namespace fastmlp {

Loss parse_loss(const std::string& name) {
  if (name == "squared_error") return Loss::squared_error;
  if (name == "log_loss") return Loss::log_loss;
  if (name == "binary_log_loss") return Loss::binary_log_loss;
  if (name == "poisson") return Loss::poisson;
  if (name == "absolute_error") return Loss::absolute_error;
  if (name == "huber") return Loss::huber;
  throw std::invalid_argument("unknown loss '" + name + "'");
}

namespace {

// scipy.special.xlogy: 0 where x == 0, whatever y is.
inline double xlogy(double x, double y) { return x == 0.0 ? 0.0 : x * std::log(y); }

template <typename T>
double sample_loss(Loss loss, const T* p, const T* y, int64_t out) {
  // sklearn clips probabilities to [eps, 1 - eps] with eps of the array's dtype.
  const double eps = std::numeric_limits<T>::epsilon();
  double s = 0.0;
  switch (loss) {
    case Loss::squared_error:
      for (int64_t j = 0; j < out; ++j) {
        double d = double(y[j]) - double(p[j]);
        s += d * d;
      }
      return 0.5 * s / double(out);
    case Loss::log_loss:
      for (int64_t j = 0; j < out; ++j) {
        double q = std::fmin(std::fmax(double(p[j]), eps), 1.0 - eps);
        s -= xlogy(double(y[j]), q);
      }
      return s;
    case Loss::binary_log_loss:
      for (int64_t j = 0; j < out; ++j) {
        double q = std::fmin(std::fmax(double(p[j]), eps), 1.0 - eps);
        s -= xlogy(double(y[j]), q) + xlogy(1.0 - double(y[j]), 1.0 - q);
      }
      return s;
    case Loss::poisson:
      for (int64_t j = 0; j < out; ++j) {
        double yj = double(y[j]), pj = double(p[j]);
        s += xlogy(yj, yj / pj) - yj + pj;
      }
      return s;
    case Loss::absolute_error:
      for (int64_t j = 0; j < out; ++j) s += std::fabs(double(y[j]) - double(p[j]));
      return s / double(out);
    case Loss::huber:
      for (int64_t j = 0; j < out; ++j) {
        double r = std::fabs(double(y[j]) - double(p[j]));
        s += r <= 1.0 ? 0.5 * r * r : r - 0.5;
      }
      return s / double(out);
  }
  return s;
}

}  // namespace

template <typename T>
double loss_forward(Loss loss, const T* p, const T* y, const T* sw, int64_t n, int64_t out) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double li = sample_loss(loss, p + i * out, y + i * out, out);
    total += sw ? double(sw[i]) * li : li;
  }
  return total;
}

template <typename T>
void loss_backward(Loss loss, T* delta, const T* p, const T* y, const T* sw, int64_t n,
                   int64_t out) {
#pragma omp parallel for schedule(static) if (worth_parallel(n * out))
  for (int64_t i = 0; i < n; ++i) {
    const T w = sw ? sw[i] : T(1);
    for (int64_t j = 0; j < out; ++j) {
      T r = p[i * out + j] - y[i * out + j];
      if (loss == Loss::absolute_error)
        r = r > T(0) ? T(1) : (r < T(0) ? T(-1) : T(0));
      else if (loss == Loss::huber)
        r = std::fmax(T(-1), std::fmin(T(1), r));
      delta[i * out + j] = r * w;
    }
  }
}

template double loss_forward<float>(Loss, const float*, const float*, const float*, int64_t, int64_t);
template double loss_forward<double>(Loss, const double*, const double*, const double*, int64_t, int64_t);
template void loss_backward<float>(Loss, float*, const float*, const float*, const float*, int64_t,
                                   int64_t);
template void loss_backward<double>(Loss, double*, const double*, const double*, const double*,
                                    int64_t, int64_t);

}  // namespace fastmlp
