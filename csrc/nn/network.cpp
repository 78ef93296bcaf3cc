// Forward, backward, full-batch loss/gradient, one training epoch and prediction for
// a stack of dense layers. Workspaces are sized once in the constructor.
#include "nn/network.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "common/check.h"
#include "common/parallel.h"
#include "nn/dense.h"
#include "nn/dropout.h"

namespace fastmlp {

int64_t NetworkSpec::coef_offset(int64_t l) const {
  int64_t off = 0;
  for (int64_t i = 0; i < l; ++i) off += sizes[i] * sizes[i + 1];
  return off;
}

int64_t NetworkSpec::n_coefs() const { return coef_offset(n_layers()); }

int64_t NetworkSpec::intercept_offset(int64_t l) const {
  int64_t off = n_coefs();
  for (int64_t i = 0; i < l; ++i) off += sizes[i + 1];
  return off;
}

int64_t NetworkSpec::n_params() const { return intercept_offset(n_layers()); }

void NetworkSpec::validate() const {
  FASTMLP_CHECK(sizes.size() >= 2, "a network needs at least an input and an output layer");
  for (size_t i = 0; i < sizes.size(); ++i)
    FASTMLP_CHECK(sizes[i] > 0, "layer sizes must be > 0, got " + std::to_string(sizes[i]) +
                                    " for layer " + std::to_string(i));
  const int64_t limit = std::numeric_limits<int64_t>::max() / 4;
  int64_t total = 0;
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    FASTMLP_CHECK(sizes[i] <= limit / sizes[i + 1],
                  "network too large: layer " + std::to_string(i) + " has too many weights");
    total += sizes[i] * sizes[i + 1] + sizes[i + 1];
    FASTMLP_CHECK(total <= limit, "network too large: too many parameters");
  }
  FASTMLP_CHECK(hidden != Activation::softmax && hidden != Activation::exp,
                "softmax and exp are output activations only");
}


template <typename T>
Network<T>::Network(NetworkSpec spec, int64_t chunk_rows, std::vector<double> dropout,
                    Precision precision, bool allow_slices)
    : spec_(std::move(spec)), precision_(precision), dropout_(std::move(dropout)) {
  spec_.validate();
  FASTMLP_CHECK(chunk_rows > 0, "chunk_rows must be > 0");
  if (precision_ == Precision::bf16) {
    FASTMLP_CHECK((std::is_same_v<T, float>), "bfloat16 products need a float32 network");
    FASTMLP_CHECK(cpu_has_avx512_bf16(),
                  "bfloat16 training needs a CPU with AVX-512 BF16 (avx512_bf16: Intel Cooper "
                  "Lake or Sapphire Rapids and later, AMD Zen 4 and later); this CPU does not "
                  "have it (or FASTMLP_BF16=0 is set)");
    // Validates FASTMLP_BF16_KERNEL, and takes the once-per-process measurement of the
    // bf16 kernels here on the calling thread, not inside the first batch's parallel work.
    resolve_bf16_kernel(Bf16Kernel::automatic);
  }
  chunk_rows_ = chunk_rows;
  const int64_t L = spec_.n_layers();
  FASTMLP_CHECK(dropout_.empty() || int64_t(dropout_.size()) == L - 1,
                "dropout needs one rate per hidden layer (" + std::to_string(L - 1) + "), got " +
                    std::to_string(dropout_.size()));
  for (double p : dropout_)
    FASTMLP_CHECK(p >= 0.0 && p < 1.0, "dropout rates must be in [0, 1), got " + std::to_string(p));
  if (!dropout_.empty()) {
    dropped_.resize(size_t(L - 1));
    mask_.resize(size_t(L - 1));
    for (int64_t l = 0; l + 1 < L; ++l) {
      if (dropout_[size_t(l)] == 0.0) continue;
      const size_t size = size_t(checked_mul(chunk_rows_, spec_.sizes[size_t(l) + 1]));
      dropped_[size_t(l)].reserve(size);
      mask_[size_t(l)].reserve(size);
    }
  }
  int64_t widest = 0;
  acts_.resize(size_t(L));
  for (int64_t l = 0; l < L; ++l) {
    acts_[size_t(l)].reserve(size_t(checked_mul(chunk_rows_, spec_.sizes[size_t(l) + 1])));
    widest = std::max(widest, spec_.sizes[size_t(l) + 1]);
  }
  if (activation_needs_preactivation(spec_.hidden)) {
    pre_.resize(size_t(L - 1));
    for (int64_t l = 0; l + 1 < L; ++l)
      pre_[size_t(l)].reserve(size_t(checked_mul(chunk_rows_, spec_.sizes[size_t(l) + 1])));
  }
  delta_a_.reserve(size_t(checked_mul(chunk_rows_, widest)));
  delta_b_.reserve(size_t(checked_mul(chunk_rows_, widest)));
  grad_buf_.reserve(size_t(spec_.n_params()));
  // Room for the optimizer step's blocks of 4096 and the penalty's blocks of 16384.
  partial_sums_.reserve(size_t(spec_.n_params() / (1 << 12) + 1));

  // Slice a mini-batch when its products are too small to run in parallel themselves
  // (below GEMM's own threshold) and each slice keeps enough rows to stay efficient.
  int64_t macs_per_row = 0;
  for (int64_t l = 0; l < L; ++l) macs_per_row += spec_.sizes[size_t(l)] * spec_.sizes[size_t(l) + 1];
  if (allow_slices && worth_row_slices(macs_per_row, chunk_rows_)) {
    for (int s = 0; s < kRowSlices; ++s) {
      slices_.emplace_back(
          new Network<T>(spec_, rows_per_slice(chunk_rows_), dropout_, precision_, false));
      if (s > 0) slice_grads_.emplace_back(size_t(spec_.n_params()));
    }
  }
}

template <typename T>
double Network<T>::batch_data_loss_grad(const T* params, T* grad, const T** more,
                                        const InputMatrix<T>& X, const T* Y, const T* sw,
                                        const int64_t* rows, int64_t first, int64_t m,
                                        double* weight_sum, const DropoutDraw& drop) {
  *more = nullptr;
  if (slices_.empty())
    return data_loss_grad(params, grad, X, Y, sw, rows, first, m, weight_sum, drop,
                          InterruptCheck(), nullptr);
  return sum_over_row_slices(
      [&](int s, T* g, int64_t lo, int64_t len, double* sum) {
        return slices_[size_t(s)]->data_loss_grad(params, g, X, Y, sw, rows ? rows + lo : nullptr,
                                                  first + lo, len, sum, drop, InterruptCheck(),
                                                  nullptr);
      },
      grad, more, slice_grads_, spec_.n_params(), m, weight_sum, slice_scheduler_);
}

template <typename T>
const T* Network<T>::input_rows(const InputMatrix<T>& X, const int64_t* rows, int64_t first,
                                int64_t m) {
  return gather_rows(x_gather_, X.dense, X.d, rows, first, m);
}

template <typename T>
void Network<T>::forward(const T* params, const InputMatrix<T>& X, const int64_t* rows,
                         int64_t first, int64_t m, T* output, const DropoutDraw& drop) {
  const auto& s = spec_.sizes;
  const int64_t L = spec_.n_layers();
  for (int64_t l = 0; l < L; ++l) {
    T* y = (l == L - 1) ? output : acts_[size_t(l)].data();
    const T* w = params + spec_.coef_offset(l);
    const T* b = params + spec_.intercept_offset(l);
    const int64_t in = s[size_t(l)], out = s[size_t(l) + 1];
    const Activation f = l == L - 1 ? spec_.output : spec_.hidden;
    // gelu/silu hidden layers: the dense product lands in pre_[l], kept for backward, and
    // the activation is applied to a copy of it.
    const bool keep_pre = l < L - 1 && !pre_.empty();
    T* dst = keep_pre ? pre_[size_t(l)].data() : y;
    const Activation fd = keep_pre ? Activation::identity : f;
    if (l == 0 && X.sparse()) {
      dense_forward_csr(fd, dst, X, rows, first, w, b, m, out);
    } else {
      const T* x = (l == 0) ? input_rows(X, rows, first, m) : hidden_output(l - 1, drop);
      dense_forward(fd, dst, x, w, b, m, in, out, gemm_ws_, precision_);
    }
    if (keep_pre) {
      std::memcpy(y, dst, sizeof(T) * size_t(m * out));
      activation_forward(f, y, m, out);
    }
    if (l < L - 1 && drops(l, drop))
      dropout_forward(dropped_[size_t(l)].data(), mask_[size_t(l)].data(), y, rows, first, m,
                      out, dropout_[size_t(l)], drop.seed, l);
  }
}

template <typename T>
void Network<T>::backward(const T* params, T* grad, const InputMatrix<T>& X, const int64_t* rows,
                          int64_t first, int64_t m, bool accumulate, const DropoutDraw& drop) {
  // On entry delta_a_ holds the output delta (m, n_outputs).
  const auto& s = spec_.sizes;
  T* delta = delta_a_.data();
  T* next = delta_b_.data();
  for (int64_t l = spec_.n_layers() - 1; l >= 0; --l) {
    const int64_t in = s[size_t(l)], out = s[size_t(l) + 1];
    T* dw = grad + spec_.coef_offset(l);
    // A hidden layer's bias gradient came with its activation's derivative (below).
    T* db = l == spec_.n_layers() - 1 ? grad + spec_.intercept_offset(l) : nullptr;
    if (l == 0 && X.sparse()) {
      dense_backward_weights_csr(dw, db, X, rows, first, delta, m, out, accumulate);
    } else {
      // The first layer's rows were gathered by forward() and are still in place.
      const T* x = (l == 0) ? (rows ? x_gather_.data() : X.dense + first * X.d)
                            : hidden_output(l - 1, drop);
      dense_backward_weights(dw, db, x, delta, m, in, out, accumulate, gemm_ws_, precision_);
    }
    if (l > 0) {
      dense_backward_input(next, delta, params + spec_.coef_offset(l), m, in, out, gemm_ws_,
                           precision_);
      if (drops(l - 1, drop)) dropout_backward(next, mask_[size_t(l) - 1].data(), m, in);
      // The activation's derivative and layer l-1's bias gradient in one pass over delta.
      dense_backward_activation(
          spec_.hidden, next, acts_[size_t(l) - 1].data(),
          pre_.empty() ? static_cast<const T*>(nullptr) : pre_[size_t(l) - 1].data(),
          grad + spec_.intercept_offset(l - 1), m, in, accumulate);
      std::swap(delta, next);
    }
  }
}

template <typename T>
double Network<T>::data_loss_grad(const T* params, T* grad, const InputMatrix<T>& X, const T* Y,
                                  const T* sw, const int64_t* rows, int64_t first, int64_t m,
                                  double* weight_sum, const DropoutDraw& drop,
                                  const InterruptCheck& check, bool* interrupted) {
  const int64_t n_out = spec_.sizes.back();
  const int64_t L = spec_.n_layers();
  double data_loss = 0.0;
  *weight_sum = 0.0;
  for (int64_t start = 0; start < m; start += chunk_rows_) {
    const int64_t mc = std::min(chunk_rows_, m - start);
    const int64_t* r = rows ? rows + start : nullptr;
    const int64_t f = rows ? 0 : first + start;
    T* p = acts_[size_t(L) - 1].data();
    forward(params, X, r, f, mc, p, drop);
    const T* y = gather_rows(y_gather_, Y, n_out, r, f, mc);
    const T* w = sw ? gather_rows(sw_gather_, sw, 1, r, f, mc) : nullptr;
    data_loss += loss_forward(spec_.loss, p, y, w, mc, n_out);
    if (w) {
      for (int64_t i = 0; i < mc; ++i) *weight_sum += double(w[i]);
    } else {
      *weight_sum += double(mc);
    }
    loss_backward(spec_.loss, delta_a_.data(), p, y, w, mc, n_out);
    backward(params, grad, X, r, f, mc, start > 0, drop);
    if (check && start + mc < m && check()) {
      *interrupted = true;
      return std::numeric_limits<double>::quiet_NaN();
    }
  }
  return data_loss;
}

template <typename T>
double Network<T>::sliced_data_loss_grad(const T* params, T* grad, const InputMatrix<T>& X,
                                         const T* Y, const T* sw, const int64_t* rows,
                                         int64_t m, double* weight_sum, const DropoutDraw& drop,
                                         const InterruptCheck& check, bool* interrupted) {
  const int64_t n = spec_.n_params();
  double data_loss = 0.0;
  *weight_sum = 0.0;
  for (int64_t start = 0; start < m; start += chunk_rows_) {
    const int64_t mc = std::min(chunk_rows_, m - start);
    // The first chunk's first slice writes grad itself; later chunks go through grad_buf_.
    T* g = start == 0 ? grad : grad_buf_.data();
    const T* more = nullptr;
    double ws;
    data_loss += batch_data_loss_grad(params, g, &more, X, Y, sw, rows ? rows + start : nullptr,
                                      start, mc, &ws, drop);
    *weight_sum += ws;
    parallel_rows(n, 1, [&](int64_t i0, int64_t i1) {
      if (g != grad)
        for (int64_t i = i0; i < i1; ++i) grad[i] += g[i];
      if (more)
        for (int64_t i = i0; i < i1; ++i) grad[i] += more[i];
    });
    if (check && start + mc < m && check()) {
      *interrupted = true;
      return std::numeric_limits<double>::quiet_NaN();
    }
  }
  return data_loss;
}

template <typename T>
double Network<T>::loss_grad(const T* params, T* grad, const InputMatrix<T>& X, const T* Y,
                             const T* sw, const int64_t* rows, int64_t m, double alpha,
                             const InterruptCheck& check, bool* interrupted,
                             const DropoutDraw& drop) {
  double weight_sum;
  const double data_loss =
      slices_.empty()
          ? data_loss_grad(params, grad, X, Y, sw, rows, 0, m, &weight_sum, drop, check,
                           interrupted)
          : sliced_data_loss_grad(params, grad, X, Y, sw, rows, m, &weight_sum, drop, check,
                                  interrupted);
  if (interrupted && *interrupted) return data_loss;
  // L2 penalty on the weights only, divided by the same weight sum as the data term.
  return add_l2_term(params, grad, spec_.n_params(), spec_.n_coefs(), data_loss, weight_sum,
                     alpha, partial_sums_);
}

template <typename T>
double Network<T>::train_epoch(T* params, T* state_a, T* state_b, int64_t& adam_t,
                               const OptimizerConfig& opt, const InputMatrix<T>& X, const T* Y,
                               const T* sw, const int64_t* order, int64_t m, int64_t batch_size,
                               double alpha, int64_t first_step, uint64_t dropout_seed,
                               const InterruptCheck& check, bool* interrupted) {
  const DropoutDraw drop{!dropout_.empty(), dropout_seed};
  return train_epoch_loop(
      [&](T* grad, const T** more, const int64_t* r, int64_t start, int64_t mb,
          double* weight_sum) {
        return batch_data_loss_grad(params, grad, more, X, Y, sw, r, start, mb, weight_sum, drop);
      },
      params, grad_buf_.data(), state_a, state_b, adam_t, opt, spec_.n_params(), spec_.n_coefs(),
      order, m, batch_size, chunk_rows_, alpha, first_step, partial_sums_, check, interrupted);
}

template <typename T>
double Network<T>::mean_loss(const T* params, const InputMatrix<T>& X, const T* Y, const T* sw,
                             const InterruptCheck& check, bool* interrupted) {
  const int64_t n_out = spec_.sizes.back();
  const int64_t L = spec_.n_layers();
  return mean_over_chunks(
      [&](int64_t start, int64_t mc) {
        T* p = acts_[size_t(L) - 1].data();
        forward(params, X, nullptr, start, mc, p, DropoutDraw());
        return loss_forward(spec_.loss, p, Y + start * n_out, sw ? sw + start : nullptr, mc,
                            n_out);
      },
      X.n, chunk_rows_, sw, check, interrupted);
}

template <typename T>
void Network<T>::predict(const T* params, const InputMatrix<T>& X, T* out,
                         const InterruptCheck& check, bool* interrupted) {
  const int64_t n_out = spec_.sizes.back();
  for (int64_t start = 0; start < X.n; start += chunk_rows_) {
    const int64_t mc = std::min(chunk_rows_, X.n - start);
    forward(params, X, nullptr, start, mc, out + start * n_out, DropoutDraw());
    if (check && start + mc < X.n && check()) {
      *interrupted = true;
      return;
    }
  }
}

template class Network<float>;
template class Network<double>;

}  // namespace fastmlp
