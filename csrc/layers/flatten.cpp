// Flatten(): (n, *shape) -> (n, prod(shape)), the same values in the same order.
#include <cstring>

#include "layers/kinds.h"

namespace fastmlp {

namespace {

template <typename T>
class FlattenLayer final : public Layer<T> {
 public:
  explicit FlattenLayer(const LayerSpec& spec) : Layer<T>("Flatten") { spec.check_known({}); }

  void forward(const Context&, const T*, T*, T* y, const T* x, int64_t n) override {
    std::memcpy(y, x, sizeof(T) * size_t(n * size_));
  }

  void backward(const Context&, const T*, T*, T* dx, T* dy, const T*, const T*,
                int64_t n) override {
    if (dx) std::memcpy(dx, dy, sizeof(T) * size_t(n * size_));
  }

 private:
  Shape infer(const Shape& in) override {
    size_ = shape_size(in);
    return {size_};
  }

  int64_t size_ = 0;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_flatten(const LayerSpec& spec) {
  return std::make_unique<FlattenLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_flatten<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_flatten<double>(const LayerSpec&);

}  // namespace fastmlp
