// Dropout(rate): inverted dropout of a training pass, y = x * mask with mask = 1/(1-rate)
// where a unit is kept, 0 where it is dropped; inference passes copy x. The masks are
// those of the MLP (nn/dropout.h): a pure function of (seed, layer index, data row, unit).
// Tested in tests/test_layers.py (finite differences with a fixed seed, keep rate).
#include <cstring>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "layers/kinds.h"
#include "nn/dropout.h"

namespace fastmlp {

namespace {

template <typename T>
class DropoutLayer final : public Layer<T> {
 public:
  explicit DropoutLayer(const LayerSpec& spec) : Layer<T>("Dropout") {
    spec.check_known({"rate"});
    rate_ = spec.get_float("rate", 0.0);
    FASTMLP_CHECK(rate_ >= 0.0 && rate_ < 1.0,
                  "rate must be in [0, 1), got " + std::to_string(rate_));
  }

  int64_t workspace_per_row() const override { return rate_ > 0 ? size_ : 0; }
  void reserve(int64_t rows) override {
    if (rate_ > 0) mask_.reserve(size_t(rows * size_));
  }

  void forward(const Context& ctx, const T*, T*, T* y, const T* x, int64_t n) override {
    dropping_ = ctx.training && rate_ > 0;
    if (dropping_)
      dropout_forward(y, mask_.data(), x, ctx.rows, ctx.first, n, size_, rate_, ctx.seed,
                      ctx.layer);
    else
      std::memcpy(y, x, sizeof(T) * size_t(n * size_));
  }

  void backward(const Context&, const T*, T*, T* dx, T* dy, const T*, const T*,
                int64_t n) override {
    if (!dx) return;
    std::memcpy(dx, dy, sizeof(T) * size_t(n * size_));
    if (dropping_) dropout_backward(dx, mask_.data(), n, size_);
  }

 private:
  Shape infer(const Shape& in) override {
    size_ = shape_size(in);
    return in;
  }

  double rate_;
  int64_t size_ = 0;
  bool dropping_ = false;  // whether the last forward dropped (backward follows it)
  AlignedBuffer<T> mask_;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_dropout(const LayerSpec& spec) {
  return std::make_unique<DropoutLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_dropout<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_dropout<double>(const LayerSpec&);

}  // namespace fastmlp
