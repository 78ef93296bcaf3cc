// The layer engine: building and laying out the stack, forward and backward through it,
// and the loss-level calls on top of the shared epoch loop (nn/train_loop.h).
#include "layers/sequential.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "common/check.h"
#include "common/cpu_features.h"

namespace fastmlp {

namespace {

std::invalid_argument layer_error(size_t i, const std::string& kind, const std::exception& e) {
  return std::invalid_argument("layer " + std::to_string(i) + " (" + kind + "): " + e.what());
}

}  // namespace

template <typename T>
Sequential<T>::Sequential(std::vector<LayerSpec> layers, Shape input_shape, Activation output,
                          Loss loss, int64_t chunk_rows, Precision precision, bool allow_slices)
    : specs_(std::move(layers)),
      input_shape_(std::move(input_shape)),
      output_(output),
      loss_(loss),
      chunk_rows_(chunk_rows),
      precision_(precision) {
  FASTMLP_CHECK(chunk_rows_ > 0, "chunk_rows must be > 0");
  FASTMLP_CHECK(!specs_.empty(), "a network needs at least one layer");
  FASTMLP_CHECK(!input_shape_.empty(), "the input shape needs at least one axis");
  for (int64_t d : input_shape_)
    FASTMLP_CHECK(d > 0, "the input shape " + shape_str(input_shape_) + " has an empty axis");
  if (precision_ == Precision::bf16) {
    FASTMLP_CHECK((std::is_same_v<T, float>), "bfloat16 products need a float32 network");
    FASTMLP_CHECK(cpu_has_avx512_bf16(),
                  "bfloat16 training needs a CPU with AVX-512 BF16 (avx512_bf16); this CPU "
                  "does not have it (or FASTMLP_BF16=0 is set)");
  }
  input_size_ = shape_size(input_shape_);
  const int64_t limit = std::numeric_limits<int64_t>::max() / 8;
  Shape shape = input_shape_;
  int64_t widest = input_size_;
  bool prefer_slices = false;
  for (size_t i = 0; i < specs_.size(); ++i) {
    const std::string& kind = specs_[i].kind;
    try {
      layers_.push_back(make_layer<T>(specs_[i]));
      const Shape in = shape;
      shape = layers_.back()->build(in);
      for (int64_t d : shape)
        FASTMLP_CHECK(d > 0, "the output shape " + shape_str(shape) + " of input shape " +
                                 shape_str(in) + " is empty");
    } catch (const std::invalid_argument& e) {
      throw layer_error(i, kind, e);
    }
    const Layer<T>& layer = *layers_.back();
    FASTMLP_CHECK(shape_size(shape) < limit / chunk_rows_,
                  "layer " + std::to_string(i) + " (" + kind + "): output too large");
    widest = std::max(widest, shape_size(shape));
    rows_independent_ = rows_independent_ && !layer.couples_rows() && layer.states().empty();
    prefer_slices = prefer_slices || layer.prefers_row_slices();
  }
  output_size_ = shape_size(shape);
  // A layer read by LastStep need not compute its other steps.
  for (size_t i = 0; i + 1 < layers_.size(); ++i)
    if (layers_[i + 1]->kind() == "LastStep") layers_[i]->keep_last_step_only(false);
  for (const auto& layer : layers_) macs_per_row_ += layer->macs_per_row();

  // The flat layout: decayed slots of every layer first, then the others; states apart.
  param_at_.resize(layers_.size());
  state_at_.resize(layers_.size());
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < layers_.size(); ++i) {
      const auto slots = layers_[i]->params();
      param_at_[i].resize(slots.size());
      for (size_t s = 0; s < slots.size(); ++s) {
        if (slots[s].decayed != (pass == 0)) continue;
        param_at_[i][s] = n_params_;
        const int64_t size = shape_size(slots[s].shape);
        FASTMLP_CHECK(size < limit - n_params_, "network too large: too many parameters");
        n_params_ += size;
      }
    }
    if (pass == 0) n_decayed_ = n_params_;
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (const auto& slot : layers_[i]->states()) {
      state_at_[i].push_back(n_state_);
      n_state_ += shape_size(slot.shape);
    }
    layers_[i]->place(param_at_[i], state_at_[i]);
  }

  acts_.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    acts_[i].reserve(size_t(checked_mul(chunk_rows_, shape_size(layers_[i]->output_shape()))));
    layers_[i]->reserve(chunk_rows_);
  }
  if (output_ != Activation::identity) out_.reserve(size_t(checked_mul(chunk_rows_, output_size_)));
  delta_a_.reserve(size_t(checked_mul(chunk_rows_, widest)));
  delta_b_.reserve(size_t(checked_mul(chunk_rows_, widest)));
  grad_buf_.reserve(size_t(n_params_));
  partial_sums_.reserve(size_t(n_params_ / (1 << 14) + 1));

  if (allow_slices && rows_independent_ &&
      worth_row_slices(macs_per_row_, chunk_rows_, prefer_slices)) {
    for (int s = 0; s < kRowSlices; ++s) {
      slices_.emplace_back(new Sequential<T>(specs_, input_shape_, output_, loss_,
                                             rows_per_slice(chunk_rows_), precision_, false));
      if (s > 0) slice_grads_.emplace_back(size_t(n_params_));
    }
  }
}

template <typename T>
int64_t Sequential<T>::workspace_per_row() const {
  // the gathered input, two delta buffers of the widest tensor, every layer's output and
  // workspace, the activated output
  int64_t widest = input_size_, total = input_size_;
  for (const auto& layer : layers_) {
    const int64_t out = shape_size(layer->output_shape());
    widest = std::max(widest, out);
    total += out + layer->workspace_per_row();
  }
  total += 2 * widest;
  if (output_ != Activation::identity) total += output_size_;
  return total;
}

template <typename T>
Context Sequential<T>::layer_context(const Context& ctx, int64_t layer) {
  Context c = ctx;
  c.layer = layer;
  c.gemm = &gemm_ws_;
  c.precision = precision_;
  return c;
}

template <typename T>
const T* Sequential<T>::forward(const T* params, T* state, const T* x, int64_t n,
                                const Context& ctx) {
  const T* in = x;
  for (size_t l = 0; l < layers_.size(); ++l) {
    layers_[l]->forward(layer_context(ctx, int64_t(l)), params, state, acts_[l].data(), in, n);
    in = acts_[l].data();
  }
  last_x_ = x;
  if (output_ == Activation::identity) return in;
  std::memcpy(out_.data(), in, sizeof(T) * size_t(n * output_size_));
  const int64_t width = output_shape().back();
  activation_forward(output_, out_.data(), n * output_size_ / width, width);
  return out_.data();
}

template <typename T>
void Sequential<T>::backward(const T* params, T* grad, T* dx, T* dout, int64_t n,
                             const Context& ctx) {
  T* dy = dout;
  for (size_t l = layers_.size(); l-- > 0;) {
    const T* x = l == 0 ? last_x_ : acts_[l - 1].data();
    T* next = l == 0 ? dx : (dy == delta_a_.data() ? delta_b_.data() : delta_a_.data());
    layers_[l]->backward(layer_context(ctx, int64_t(l)), params, grad, next, dy, x,
                         acts_[l].data(), n);
    dy = next;
  }
}

template <typename T>
double Sequential<T>::added_loss() const {
  double sum = 0.0;
  for (const auto& layer : layers_) sum += layer->added_loss();
  const bool mean_over_outputs =
      loss_ == Loss::squared_error || loss_ == Loss::absolute_error || loss_ == Loss::huber;
  return mean_over_outputs ? sum / double(output_size_) : sum;
}

template <typename T>
double Sequential<T>::data_loss_grad(const T* params, T* state, T* grad,
                                     const InputMatrix<T>& X, const T* Y, const T* sw,
                                     const int64_t* rows, int64_t first, int64_t m,
                                     double* weight_sum, Context ctx,
                                     const InterruptCheck& check, bool* interrupted) {
  double data_loss = 0.0;
  *weight_sum = 0.0;
  for (int64_t start = 0; start < m; start += chunk_rows_) {
    const int64_t mc = std::min(chunk_rows_, m - start);
    ctx.rows = rows ? rows + start : nullptr;
    ctx.first = rows ? 0 : first + start;
    ctx.accumulate = start > 0;
    const T* x = gather_rows(x_gather_, X.dense, X.d, ctx.rows, ctx.first, mc);
    const T* p = forward(params, state, x, mc, ctx);
    const T* y = gather_rows(y_gather_, Y, output_size_, ctx.rows, ctx.first, mc);
    const T* w = sw ? gather_rows(sw_gather_, sw, 1, ctx.rows, ctx.first, mc) : nullptr;
    data_loss += loss_forward(loss_, p, y, w, mc, output_size_) + added_loss();
    if (w) {
      for (int64_t i = 0; i < mc; ++i) *weight_sum += double(w[i]);
    } else {
      *weight_sum += double(mc);
    }
    loss_backward(loss_, delta_a_.data(), p, y, w, mc, output_size_);
    backward(params, grad, nullptr, delta_a_.data(), mc, ctx);
    if (check && start + mc < m && check()) {
      *interrupted = true;
      return std::numeric_limits<double>::quiet_NaN();
    }
  }
  return data_loss;
}

template <typename T>
double Sequential<T>::batch_data_loss_grad(const T* params, T* state, T* grad, const T** more,
                                           const InputMatrix<T>& X, const T* Y, const T* sw,
                                           const int64_t* rows, int64_t first, int64_t m,
                                           double* weight_sum, const Context& ctx) {
  if (more) *more = nullptr;
  if (slices_.empty())
    return data_loss_grad(params, state, grad, X, Y, sw, rows, first, m, weight_sum, ctx,
                          InterruptCheck(), nullptr);
  return sum_over_row_slices(
      [&](int s, T* g, int64_t lo, int64_t len, double* sum) {
        return slices_[size_t(s)]->data_loss_grad(params, state, g, X, Y, sw,
                                                  rows ? rows + lo : nullptr, first + lo, len,
                                                  sum, ctx, InterruptCheck(), nullptr);
      },
      grad, more, slice_grads_, n_params_, m, weight_sum, slice_scheduler_);
}

template <typename T>
double Sequential<T>::loss_grad(const T* params, const T* state, T* grad,
                                const InputMatrix<T>& X, const T* Y, const T* sw,
                                const int64_t* rows, int64_t m, double alpha, bool training,
                                uint64_t seed, const InterruptCheck& check, bool* interrupted) {
  Context ctx;
  ctx.training = training;
  ctx.seed = seed;
  double weight_sum;
  // update_state is off: the state is only read.
  const double data_loss = data_loss_grad(params, const_cast<T*>(state), grad, X, Y, sw, rows, 0,
                                          m, &weight_sum, ctx, check, interrupted);
  if (interrupted && *interrupted) return data_loss;
  return add_l2_term(params, grad, n_params_, n_decayed_, data_loss, weight_sum, alpha,
                     partial_sums_);
}

template <typename T>
double Sequential<T>::train_epoch(T* params, T* state, T* state_a, T* state_b, int64_t& adam_t,
                                  const OptimizerConfig& opt, const InputMatrix<T>& X,
                                  const T* Y, const T* sw, const int64_t* order, int64_t m,
                                  int64_t batch_size, double alpha, int64_t first_step,
                                  uint64_t dropout_seed, const InterruptCheck& check,
                                  bool* interrupted) {
  Context ctx;
  ctx.training = true;
  ctx.update_state = true;
  ctx.seed = dropout_seed;
  return train_epoch_loop(
      [&](T* grad, const T** more, const int64_t* r, int64_t start, int64_t mb,
          double* weight_sum) {
        return batch_data_loss_grad(params, state, grad, more, X, Y, sw, r, start, mb,
                                    weight_sum, ctx);
      },
      params, grad_buf_.data(), state_a, state_b, adam_t, opt, n_params_, n_decayed_, order, m,
      batch_size, chunk_rows_, alpha, first_step, partial_sums_, check, interrupted);
}

template <typename T>
double Sequential<T>::mean_loss(const T* params, const T* state, const InputMatrix<T>& X,
                                const T* Y, const T* sw, const InterruptCheck& check,
                                bool* interrupted) {
  return mean_over_chunks(
      [&](int64_t start, int64_t mc) {
        Context ctx;
        ctx.first = start;
        const T* p = forward(params, const_cast<T*>(state), X.dense + start * X.d, mc, ctx);
        return loss_forward(loss_, p, Y + start * output_size_, sw ? sw + start : nullptr, mc,
                            output_size_) +
               added_loss();
      },
      X.n, chunk_rows_, sw, check, interrupted);
}

template <typename T>
void Sequential<T>::predict(const T* params, const T* state, const InputMatrix<T>& X, T* out,
                            const InterruptCheck& check, bool* interrupted) {
  for (int64_t start = 0; start < X.n; start += chunk_rows_) {
    const int64_t mc = std::min(chunk_rows_, X.n - start);
    Context ctx;
    ctx.first = start;
    const T* p = forward(params, const_cast<T*>(state), X.dense + start * X.d, mc, ctx);
    std::memcpy(out + start * output_size_, p, sizeof(T) * size_t(mc * output_size_));
    if (check && start + mc < X.n && check()) {
      *interrupted = true;
      return;
    }
  }
}

template class Sequential<float>;
template class Sequential<double>;

}  // namespace fastmlp
