// Output-layer losses (forward) and their pre-activation gradient (backward): the loops,
// built per loss, around the per-element formulas of nn/loss_math.h.
#include "nn/losses.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "common/parallel.h"
#include "common/simd_clones.h"
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

namespace {

// Elements per block of rows in loss_forward.
constexpr int64_t kTermBlock = 1024;

// terms[k] = L's term of (p[k], y[k]) for an array of machine epsilon eps, in one pass the
// compiler vectorizes (no library call: the log is nn/log_math.h's).
template <Loss L>
FASTMLP_SIMD_CLONES void loss_terms(double* __restrict terms, const double* __restrict p,
                                    const double* __restrict y, int64_t count, double eps) {
#pragma omp simd
  for (int64_t k = 0; k < count; ++k) terms[k] = loss_term<L>(p[k], y[k], eps);
}

}  // namespace

template <typename T>
double loss_forward(Loss loss, const T* p, const T* y, const T* sw, int64_t n, int64_t out) {
  double total = 0.0;
  const auto add_row = [&](int64_t i, double li) { total += sw ? double(sw[i]) * li : li; };
  visit_loss(loss, [&](auto tag) {
    constexpr Loss L = decltype(tag)::value;
    if (out > kTermBlock) {  // rows wider than a block: term by term
      for (int64_t i = 0; i < n; ++i) {
        double s = 0.0;
        for (int64_t j = 0; j < out; ++j) s += loss_term<L>(p[i * out + j], y[i * out + j]);
        add_row(i, loss_from_terms<L>(s, out));
      }
      return;
    }
    // A block of rows' values are copied (widened to double) without a branch, their
    // terms computed 8 at a time, then each row's terms added in output order: the sums
    // of the term-by-term loop. The log loss copies only the nonzero targets: a zero
    // target's term is -0.0, which leaves a row's sum as it is. (A libm log per row
    // behind a branch over the targets made the log loss 4-6% of a digits epoch.)
    double pd[kTermBlock], yd[kTermBlock], terms[kTermBlock];
    int64_t first[kTermBlock + 1];
    const int64_t rows = kTermBlock / std::max<int64_t>(out, 1);
    for (int64_t i0 = 0; i0 < n; i0 += rows) {
      const int64_t i1 = std::min(n, i0 + rows);
      int64_t count = 0;
      for (int64_t i = i0; i < i1; ++i) {
        first[i - i0] = count;
        if constexpr (L == Loss::log_loss) {
          for (int64_t e = i * out; e < (i + 1) * out; ++e) {
            pd[count] = double(p[e]);
            yd[count] = double(y[e]);
            count += y[e] != T(0);
          }
        } else {
          for (int64_t k = 0; k < out; ++k) {
            pd[count + k] = double(p[i * out + k]);
            yd[count + k] = double(y[i * out + k]);
          }
          count += out;
        }
      }
      first[i1 - i0] = count;
      loss_terms<L>(terms, pd, yd, count, double(std::numeric_limits<T>::epsilon()));
      for (int64_t i = i0; i < i1; ++i) {
        double s = 0.0;
        for (int64_t t = first[i - i0]; t < first[i - i0 + 1]; ++t) s += terms[t];
        add_row(i, loss_from_terms<L>(s, out));
      }
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
