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

// Whether L's terms take a log: loss_forward computes those in blocks, 8 at a time.
template <Loss L>
constexpr bool kTakesLog = L == Loss::log_loss || L == Loss::binary_log_loss || L == Loss::poisson;

// Elements per block in loss_forward.
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
  if (n <= 0 || out <= 0) return total;
  visit_loss(loss, [&](auto tag) {
    constexpr Loss L = decltype(tag)::value;
    const auto add_row = [&](int64_t i, double terms_sum) {
      const double li = loss_from_terms<L>(terms_sum, out);
      total += sw ? double(sw[i]) * li : li;
    };
    if constexpr (!kTakesLog<L>) {
      // A multiply or two per term: the loop is bound by the additions into each row's
      // sum, and blocks would only add passes (squared error, 20,000 x 1: 31-63 µs term
      // by term, 84-133 in blocks; 2,000 x 3,072: 10-12 ms, 15-18).
      for (int64_t i = 0; i < n; ++i) {
        double s = 0.0;
        for (int64_t e = i * out; e < (i + 1) * out; ++e) s += loss_term<L>(p[e], y[e]);
        add_row(i, s);
      }
      return;
    }
    // Blocks of elements (whole rows, or pieces of a row wider than a block) are copied,
    // widened to double, without a branch; their terms are computed 8 at a time; then
    // each row's terms are added in output order, a row's sum carried from one block to
    // the next: the sums of the term-by-term loop. The log loss copies only the nonzero
    // targets (and NaN probabilities): a zero target's term is -0.0, which leaves a row's
    // sum as it is. (A libm log per row behind a branch over the targets made the log loss
    // 4-6% of a digits epoch.)
    double pd[kTermBlock], yd[kTermBlock], terms[kTermBlock];
    int64_t ends[kTermBlock];  // where each row's piece of the block ends in terms
    const int64_t block = out <= kTermBlock ? kTermBlock / out * out : kTermBlock;
    const int64_t size = n * out;
    int64_t i = 0, j = 0;  // the row and output of the next element
    double s = 0.0;        // row i's terms so far
    for (int64_t e0 = 0; e0 < size; e0 += block) {
      const int64_t e1 = std::min(size, e0 + block), first_row = i;
      int64_t count = 0, pieces = 0;
      for (int64_t e = e0; e < e1;) {
        const int64_t len = std::min(e1 - e, out - j);
        const T *pe = p + e, *ye = y + e;
        if constexpr (L == Loss::log_loss) {
          for (int64_t k = 0; k < len; ++k) {
            pd[count] = double(pe[k]);
            yd[count] = double(ye[k]);
            count += (ye[k] != T(0)) | (pe[k] != pe[k]);
          }
        } else {
          for (int64_t k = 0; k < len; ++k) {
            pd[count + k] = double(pe[k]);
            yd[count + k] = double(ye[k]);
          }
          count += len;
        }
        e += len;
        ends[pieces++] = count;
        j += len;
        if (j == out) j = 0, ++i;
      }
      loss_terms<L>(terms, pd, yd, count, double(std::numeric_limits<T>::epsilon()));
      for (int64_t k = 0, t = 0; k < pieces; ++k) {
        for (; t < ends[k]; ++t) s += terms[t];
        if (k + 1 < pieces || j == 0) {  // the piece ends its row
          add_row(first_row + k, s);
          s = 0.0;
        }
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
