// Dense(units, activation=None, use_bias=True): y = f(x @ kernel + bias) on the last axis,
// as Keras's Dense: an input (steps, features) gives (steps, units), the same kernel for
// every step. The products are the MLP's (nn/dense.h, our GEMM).
// Tested in tests/test_layers.py (numpy oracle, finite differences, MLP equivalence).
#include <cstring>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "layers/activation.h"
#include "layers/kinds.h"
#include "nn/dense.h"

namespace fastmlp {

namespace {

template <typename T>
class DenseLayer final : public Layer<T> {
 public:
  explicit DenseLayer(const LayerSpec& spec) : Layer<T>("Dense") {
    spec.check_known({"units", "activation", "use_bias"});
    units_ = spec.get_int("units", 0);
    FASTMLP_CHECK(units_ > 0, "units must be > 0, got " + std::to_string(units_));
    f_ = parse_activation(spec.get_str("activation", "identity"));
    use_bias_ = spec.get_int("use_bias", 1) != 0;
    // gelu and silu derivatives need the pre-activation; softmax and exp (hidden here)
    // take the generic backward step, which reads the output only.
    keep_pre_ = activation_needs_preactivation(f_);
  }

  std::vector<ParamSlot> params() const override {
    std::vector<ParamSlot> p{{"kernel", {inputs_, units_}, true, "glorot_uniform", inputs_, units_}};
    if (use_bias_) p.push_back({"bias", {units_}, false, "zeros", inputs_, units_});
    return p;
  }
  int64_t workspace_per_row() const override { return keep_pre_ ? steps_ * units_ : 0; }
  void reserve(int64_t rows) override {
    if (keep_pre_) pre_.reserve(size_t(rows * steps_ * units_));
  }
  int64_t macs_per_row() const override { return steps_ * inputs_ * units_; }

  // y (n*steps, units) = f(x (n*steps, in) @ kernel (in, units) + bias (units))
  void forward(const Context& ctx, const T* params, T*, T* y, const T* x, int64_t n) override {
    const int64_t m = n * steps_;
    const T* w = this->param(params, 0);
    const T* b = use_bias_ ? this->param(params, 1) : nullptr;
    if (keep_pre_) {
      dense_forward(Activation::identity, pre_.data(), x, w, b, m, inputs_, units_, *ctx.gemm,
                    ctx.precision);
      std::memcpy(y, pre_.data(), sizeof(T) * size_t(m * units_));
      activation_forward(f_, y, m, units_);
    } else {
      dense_forward(f_, y, x, w, b, m, inputs_, units_, *ctx.gemm, ctx.precision);
    }
  }

  void backward(const Context& ctx, const T* params, T* grad, T* dx, T* dy, const T* x,
                const T* y, int64_t n) override {
    const int64_t m = n * steps_;
    if (f_ != Activation::identity)
      activation_layer_backward(f_, dy, dy, keep_pre_ ? pre_.data() : nullptr, y, m, units_);
    if (ctx.param_grads)
      dense_backward_weights(this->grad_of(grad, 0),
                             use_bias_ ? this->grad_of(grad, 1) : nullptr, x, dy, m, inputs_,
                             units_, ctx.accumulate, *ctx.gemm, ctx.precision);
    if (dx)
      dense_backward_input(dx, dy, this->param(params, 0), m, inputs_, units_, *ctx.gemm,
                           ctx.precision);
  }

 private:
  Shape infer(const Shape& in) override {
    FASTMLP_CHECK(!in.empty(), "Dense needs an input with at least one axis");
    inputs_ = in.back();
    steps_ = shape_size(in) / inputs_;
    Shape out = in;
    out.back() = units_;
    return out;
  }

  int64_t units_ = 0, inputs_ = 0, steps_ = 1;  // steps_: rows per sample (all axes but the last)
  Activation f_;
  bool use_bias_ = true, keep_pre_ = false;
  AlignedBuffer<T> pre_;  // (rows*steps, units) pre-activation, gelu and silu only
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_dense(const LayerSpec& spec) {
  return std::make_unique<DenseLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_dense<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_dense<double>(const LayerSpec&);

}  // namespace fastmlp
