// Cropping1D(cropping=(1, 1)): drops `cropping[0]` steps at the start and `cropping[1]` at
// the end of (steps, channels), as Keras's Cropping1D; Cropping1D((steps - 1, 0)) keeps
// the last step only (a transformer's or an RNN's read-out, before Flatten).
// Tested in tests/test_layers_attention.py (numpy oracle, finite differences).
#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "common/parallel.h"
#include "layers/kinds.h"

namespace fastmlp {

namespace {

template <typename T>
class Cropping1DLayer final : public Layer<T> {
 public:
  explicit Cropping1DLayer(const LayerSpec& spec) : Layer<T>("Cropping1D") {
    spec.check_known({"cropping"});
    const auto c = spec.get_ints("cropping", {1, 1}, 2);
    begin_ = c[0];
    end_ = c[1];
    FASTMLP_CHECK(begin_ >= 0 && end_ >= 0, "cropping must be >= 0, got (" +
                                                std::to_string(begin_) + ", " +
                                                std::to_string(end_) + ")");
  }

  // y (n, steps - begin - end, c) = x[:, begin : steps - end]
  void forward(const Context&, const T*, T*, T* y, const T* x, int64_t n) override {
    const int64_t in = steps_ * c_, out = kept_ * c_;
    parallel_rows(n, out, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        std::memcpy(y + i * out, x + i * in + begin_ * c_, sizeof(T) * size_t(out));
    });
  }

  // dx: dy in the kept steps, zero in the cropped ones
  void backward(const Context&, const T*, T*, T* dx, T* dy, const T*, const T*,
                int64_t n) override {
    if (!dx) return;
    const int64_t in = steps_ * c_, out = kept_ * c_;
    parallel_rows(n, in, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        T* d = dx + i * in;
        std::fill(d, d + begin_ * c_, T(0));
        std::memcpy(d + begin_ * c_, dy + i * out, sizeof(T) * size_t(out));
        std::fill(d + (begin_ + kept_) * c_, d + in, T(0));
      }
    });
  }

 private:
  Shape infer(const Shape& in) override {
    FASTMLP_CHECK(in.size() == 2,
                  "needs samples of shape (steps, channels), got " + shape_str(in));
    steps_ = in[0];
    c_ = in[1];
    kept_ = steps_ - begin_ - end_;
    FASTMLP_CHECK(kept_ > 0, "cropping (" + std::to_string(begin_) + ", " +
                                 std::to_string(end_) + ") leaves no step of input shape " +
                                 shape_str(in));
    return {kept_, c_};
  }

  int64_t begin_, end_, steps_ = 0, c_ = 0, kept_ = 0;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_cropping1d(const LayerSpec& spec) {
  return std::make_unique<Cropping1DLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_cropping1d<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_cropping1d<double>(const LayerSpec&);

}  // namespace fastmlp
