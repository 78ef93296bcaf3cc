// Bidirectional(layer, merge_mode="concat", backward_layer=None), as Keras's: the layer
// (GRU or LSTM) reads the sequence forward, a copy of it with go_backwards flipped (or
// `backward_layer`, LayerSpec.children[1]) reads it backward, and their outputs merge
// along the last axis: "concat" [forward, backward], "sum", "mul" or "ave". With
// return_sequences the backward layer's states are flipped back first, so that step t of
// the output holds both directions' states at input step t. The two layers' parameters are
// this layer's slots "forward_kernel", ..., "backward_kernel", ... in that order.
// Tested in tests/test_layers_recurrent.py (numpy, finite differences, threads).
#include <cstring>
#include <stdexcept>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "layers/kinds.h"
#include "nn/train_loop.h"

namespace fastmlp {

namespace {

enum class Merge { concat, sum, mul, ave };

template <typename T>
class BidirectionalLayer final : public Layer<T> {
 public:
  explicit BidirectionalLayer(const LayerSpec& spec) : Layer<T>("Bidirectional") {
    spec.check_known({"merge_mode"});
    const std::string m = spec.get_str("merge_mode", "concat");
    if (m == "concat") merge_ = Merge::concat;
    else if (m == "sum") merge_ = Merge::sum;
    else if (m == "mul") merge_ = Merge::mul;
    else if (m == "ave") merge_ = Merge::ave;
    else throw std::invalid_argument("merge_mode must be 'concat', 'sum', 'mul' or 'ave', got '" +
                                     m + "'");
    FASTMLP_CHECK(spec.children.size() == 1 || spec.children.size() == 2,
                  "needs a layer to wrap (and at most one backward_layer), got " +
                      std::to_string(spec.children.size()) + " layers");
    for (const auto& child : spec.children)
      FASTMLP_CHECK(child.kind == "GRU" || child.kind == "LSTM",
                    "wraps a GRU or an LSTM layer, got " + child.kind);
    const LayerSpec& forward = spec.children[0];
    LayerSpec backward = spec.children.size() == 2 ? spec.children[1] : forward;
    const bool forward_back = forward.get_int("go_backwards", 0) != 0;
    if (spec.children.size() == 1) {
      backward.args["go_backwards"] = int64_t(!forward_back);
    } else {
      FASTMLP_CHECK((backward.get_int("go_backwards", 0) != 0) != forward_back,
                    "the layer and backward_layer must have different go_backwards values");
      FASTMLP_CHECK((backward.get_int("return_sequences", 0) != 0) ==
                        (forward.get_int("return_sequences", 0) != 0),
                    "the layer and backward_layer must have the same return_sequences");
    }
    fwd_ = make_layer<T>(forward);
    bwd_ = make_layer<T>(backward);
  }

  std::vector<ParamSlot> params() const override {
    std::vector<ParamSlot> p;
    for (auto [layer, prefix] : {std::pair{fwd_.get(), "forward_"}, {bwd_.get(), "backward_"}})
      for (ParamSlot slot : layer->params()) {
        slot.name = prefix + slot.name;
        p.push_back(slot);
      }
    return p;
  }
  void place(const std::vector<int64_t>& param_offsets,
             const std::vector<int64_t>& state_offsets) override {
    Layer<T>::place(param_offsets, state_offsets);
    const auto split = param_offsets.begin() + std::ptrdiff_t(fwd_->params().size());
    fwd_->place({param_offsets.begin(), split}, {});
    bwd_->place({split, param_offsets.end()}, {});
  }

  int64_t workspace_per_row() const override {
    const int64_t yf = shape_size(fwd_->output_shape()), yb = shape_size(bwd_->output_shape());
    return fwd_->workspace_per_row() + bwd_->workspace_per_row() + 2 * (yf + yb) +
           shape_size(this->in_);  // the two outputs, their gradients, dx of the second
  }
  void reserve(int64_t rows) override {
    fwd_->reserve(rows);
    bwd_->reserve(rows);
    for (auto* b : {&yf_, &dyf_})
      b->reserve(size_t(checked_mul(rows, shape_size(fwd_->output_shape()))));
    for (auto* b : {&yb_, &dyb_})
      b->reserve(size_t(checked_mul(rows, shape_size(bwd_->output_shape()))));
    dx_.reserve(size_t(checked_mul(rows, shape_size(this->in_))));
  }
  int64_t macs_per_row() const override { return fwd_->macs_per_row() + bwd_->macs_per_row(); }
  bool sequential_steps() const override { return true; }

  // y (n, [steps,] out) = merge(forward(x), flip(backward(x)))
  void forward(const Context& ctx, const T* params, T* state, T* y, const T* x,
               int64_t n) override {
    fwd_->forward(ctx, params, state, yf_.data(), x, n);
    bwd_->forward(ctx, params, state, yb_.data(), x, n);
    const int64_t uf = fwd_->output_shape().back(), ub = bwd_->output_shape().back();
    const int64_t width = this->out_.back();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t q = 0; q < steps_; ++q) {
        const T* a = yf_.data() + (i * steps_ + q) * uf;
        const T* b = yb_.data() + (i * steps_ + steps_ - 1 - q) * ub;
        T* o = y + (i * steps_ + q) * width;
        switch (merge_) {
          case Merge::concat:
            std::memcpy(o, a, sizeof(T) * size_t(uf));
            std::memcpy(o + uf, b, sizeof(T) * size_t(ub));
            break;
          case Merge::sum:
            for (int64_t j = 0; j < width; ++j) o[j] = a[j] + b[j];
            break;
          case Merge::mul:
            for (int64_t j = 0; j < width; ++j) o[j] = a[j] * b[j];
            break;
          case Merge::ave:
            for (int64_t j = 0; j < width; ++j) o[j] = T(0.5) * (a[j] + b[j]);
            break;
        }
      }
  }

  void backward(const Context& ctx, const T* params, T* grad, T* dx, T* dy, const T* x,
                const T*, int64_t n) override {
    const int64_t uf = fwd_->output_shape().back(), ub = bwd_->output_shape().back();
    const int64_t width = this->out_.back();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t q = 0; q < steps_; ++q) {
        const int64_t at_f = (i * steps_ + q) * uf, at_b = (i * steps_ + steps_ - 1 - q) * ub;
        const T* go = dy + (i * steps_ + q) * width;
        T* da = dyf_.data() + at_f;
        T* db = dyb_.data() + at_b;
        const T* a = yf_.data() + at_f;
        const T* b = yb_.data() + at_b;
        for (int64_t j = 0; j < width; ++j) {
          switch (merge_) {
            case Merge::concat:
              (j < uf ? da[j] : db[j - uf]) = go[j];
              break;
            case Merge::sum:
              da[j] = db[j] = go[j];
              break;
            case Merge::mul:
              da[j] = go[j] * b[j];
              db[j] = go[j] * a[j];
              break;
            case Merge::ave:
              da[j] = db[j] = T(0.5) * go[j];
              break;
          }
        }
      }
    fwd_->backward(ctx, params, grad, dx, dyf_.data(), x, yf_.data(), n);
    bwd_->backward(ctx, params, grad, dx ? dx_.data() : nullptr, dyb_.data(), x, yb_.data(), n);
    if (dx) {
      const T* d2 = dx_.data();
      const int64_t size = n * shape_size(this->in_);
      for (int64_t i = 0; i < size; ++i) dx[i] += d2[i];
    }
  }

 private:
  Shape infer(const Shape& in) override {
    Shape f, b;
    try {
      f = fwd_->build(in);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(fwd_->kind() + ": " + e.what());
    }
    b = bwd_->build(in);
    const bool same_steps = f.size() == b.size() && (f.size() == 1 || f[0] == b[0]);
    FASTMLP_CHECK(same_steps && (merge_ == Merge::concat || f == b),
                  "the forward layer's output " + shape_str(f) + " and the backward layer's " +
                      shape_str(b) + " do not merge");
    steps_ = f.size() == 2 ? f[0] : 1;
    Shape out = f;
    if (merge_ == Merge::concat) out.back() += b.back();
    return out;
  }

  Merge merge_ = Merge::concat;
  std::unique_ptr<Layer<T>> fwd_, bwd_;
  int64_t steps_ = 1;  // output steps (1 without return_sequences)
  AlignedBuffer<T> yf_, yb_, dyf_, dyb_, dx_;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_bidirectional(const LayerSpec& spec) {
  return std::make_unique<BidirectionalLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_bidirectional<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_bidirectional<double>(const LayerSpec&);

}  // namespace fastmlp
