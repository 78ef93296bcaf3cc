// Output-layer losses (forward) and their pre-activation gradient (backward): the loops,
// built per loss, around the per-element formulas of nn/loss_math.h.
#include "nn/losses.h"

#include <stdexcept>

#include "common/parallel.h"
#include "nn/loss_math.h"

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

template <typename T>
double loss_forward(Loss loss, const T* p, const T* y, const T* sw, int64_t n, int64_t out) {
  double total = 0.0;
  visit_loss(loss, [&](auto tag) {
    constexpr Loss L = decltype(tag)::value;
    for (int64_t i = 0; i < n; ++i) {
      double s = 0.0;
      for (int64_t j = 0; j < out; ++j) {
        // A zero target's log-loss term is -0.0, which leaves s as it is: skipping it
        // keeps the bits and spares a one-hot row 9 of its 10 dependent additions.
        if (L == Loss::log_loss && y[i * out + j] == T(0)) continue;
        s += loss_term<L>(p[i * out + j], y[i * out + j]);
      }
      const double li = loss_from_terms<L>(s, out);
      total += sw ? double(sw[i]) * li : li;
    }
  });
  return total;
}

template <typename T>
void loss_backward(Loss loss, T* delta, const T* p, const T* y, const T* sw, int64_t n,
                   int64_t out) {
  visit_loss(loss, [&](auto tag) {
    constexpr Loss L = decltype(tag)::value;
    parallel_rows(n, out, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const T w = sw ? sw[i] : T(1);
        for (int64_t j = 0; j < out; ++j)
          delta[i * out + j] = loss_gradient<L>(p[i * out + j], y[i * out + j]) * w;
      }
    });
  });
}

template double loss_forward<float>(Loss, const float*, const float*, const float*, int64_t, int64_t);
template double loss_forward<double>(Loss, const double*, const double*, const double*, int64_t, int64_t);
template void loss_backward<float>(Loss, float*, const float*, const float*, const float*, int64_t,
                                   int64_t);
template void loss_backward<double>(Loss, double*, const double*, const double*, const double*,
                                    int64_t, int64_t);

}  // namespace fastmlp
