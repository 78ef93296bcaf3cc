// Bidirectional(layer, merge_mode="concat", backward_layer=None), as Keras's: the layer
// (GRU or LSTM) reads the sequence forward, a copy of it with go_backwards flipped (or
// `backward_layer`, LayerSpec.children[1]) reads it backward, and their outputs merge
// along the last axis: "concat" [forward, backward], "sum", "mul" or "ave". With
// return_sequences the backward layer's states are flipped back first, so that step t of
// the output holds both directions' states at input step t. The two layers' parameters are
// this layer's slots "forward_kernel", ..., "backward_kernel", ... in that order. The layers
// write their outputs into their places of the merged output (concat) or into buffers
// merged after, read their gradients the same way, and the second adds into dx.
// Tested in tests/test_layers_recurrent.py (numpy, finite differences, threads).
#include <cstring>
#include <stdexcept>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "layers/kinds.h"
#include "layers/recurrent.h"
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
    fwd_layer_ = make_layer<T>(forward);
    bwd_layer_ = make_layer<T>(backward);
    fwd_ = recurrent(fwd_layer_);
    bwd_ = recurrent(bwd_layer_);
  }

  std::vector<ParamSlot> params() const override {
    std::vector<ParamSlot> p;
    for (auto [layer, prefix] : {std::pair{fwd_, "forward_"}, {bwd_, "backward_"}})
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
    return fwd_->workspace_per_row() + bwd_->workspace_per_row() +
           (merge_ == Merge::concat ? 0 : 2 * (yf + yb));  // the outputs and their gradients
  }
  void reserve(int64_t rows) override {
    fwd_->reserve(rows);
    bwd_->reserve(rows);
    if (merge_ == Merge::concat) return;
    for (auto* b : {&yf_, &dyf_})
      b->reserve(size_t(checked_mul(rows, shape_size(fwd_->output_shape()))));
    for (auto* b : {&yb_, &dyb_})
      b->reserve(size_t(checked_mul(rows, shape_size(bwd_->output_shape()))));
  }
  int64_t macs_per_row() const override { return fwd_->macs_per_row() + bwd_->macs_per_row(); }
  bool prefers_row_slices() const override { return true; }

  // y (n, [steps,] out) = merge(forward(x), flip(backward(x)))
  void forward(const Context& ctx, const T* params, T* state, T* y, const T* x,
               int64_t n) override {
    if (merge_ == Merge::concat) {  // each layer writes its columns of y
      fwd_->forward(ctx, params, state, y, x, n);
      bwd_->forward(ctx, params, state, y, x, n);
      return;
    }
    fwd_->forward(ctx, params, state, yf_.data(), x, n);
    bwd_->forward(ctx, params, state, yb_.data(), x, n);
    const T* a = yf_.data();
    const T* b = yb_.data();
    const int64_t size = n * shape_size(this->out_);
    switch (merge_) {
      case Merge::sum:
        for (int64_t i = 0; i < size; ++i) y[i] = a[i] + b[i];
        break;
      case Merge::mul:
        for (int64_t i = 0; i < size; ++i) y[i] = a[i] * b[i];
        break;
      default:  // ave
        for (int64_t i = 0; i < size; ++i) y[i] = T(0.5) * (a[i] + b[i]);
        break;
    }
  }

  void backward(const Context& ctx, const T* params, T* grad, T* dx, T* dy, const T* x,
                const T*, int64_t n) override {
    T* df = dy;
    T* db = dy;  // concat: each layer reads its columns of dy
    if (merge_ != Merge::concat) {
      df = dyf_.data();
      db = dyb_.data();
      const T* a = yf_.data();
      const T* b = yb_.data();
      const int64_t size = n * shape_size(this->out_);
      for (int64_t i = 0; i < size; ++i) {
        const T go = merge_ == Merge::ave ? T(0.5) * dy[i] : dy[i];
        df[i] = merge_ == Merge::mul ? go * b[i] : go;
        db[i] = merge_ == Merge::mul ? go * a[i] : go;
      }
    }
    fwd_->backward(ctx, params, grad, dx, df, x, nullptr, n);
    bwd_->backward(ctx, params, grad, dx, db, x, nullptr, n);  // adds into dx
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
    // The backward layer's steps come out last to first: flipped back into place.
    const bool sequences = f.size() == 2;
    const int64_t width = merge_ == Merge::concat ? f.back() + b.back() : f.back();
    fwd_->place_output(merge_ == Merge::concat ? width : f.back(), 0, false, false);
    bwd_->place_output(merge_ == Merge::concat ? width : b.back(),
                       merge_ == Merge::concat ? f.back() : 0, sequences, true);
    Shape out = f;
    out.back() = width;
    return out;
  }

  static SequenceLayer<T>* recurrent(std::unique_ptr<Layer<T>>& layer) {
    return dynamic_cast<SequenceLayer<T>*>(layer.get());
  }

  Merge merge_ = Merge::concat;
  std::unique_ptr<Layer<T>> fwd_layer_, bwd_layer_;
  SequenceLayer<T>* fwd_ = nullptr;
  SequenceLayer<T>* bwd_ = nullptr;
  AlignedBuffer<T> yf_, yb_, dyf_, dyb_;  // merge modes other than concat
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_bidirectional(const LayerSpec& spec) {
  return std::make_unique<BidirectionalLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_bidirectional<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_bidirectional<double>(const LayerSpec&);

}  // namespace fastmlp
