// Reshape(target_shape): (n, *shape) -> (n, *target_shape) of the same size, and
// Flatten(): (n, *shape) -> (n, prod(shape)): the same values in the same order, one
// layer with two shape rules (Keras's Reshape, the decoder's mirror of Flatten in
// MLPAutoencoder). Tested in tests/test_layers.py (Flatten) and
// tests/test_layers_sampling.py (Reshape).
#include <cstring>
#include <stdexcept>

#include "common/check.h"
#include "layers/kinds.h"

namespace fastmlp {

namespace {

template <typename T>
class ReshapeLayer final : public Layer<T> {
 public:
  struct FlattenTag {};
  explicit ReshapeLayer(const LayerSpec& spec, FlattenTag) : Layer<T>("Flatten") {
    spec.check_known({});
  }
  explicit ReshapeLayer(const LayerSpec& spec) : Layer<T>("Reshape") {
    spec.check_known({"target_shape"});
    FASTMLP_CHECK(spec.has("target_shape"), "Reshape needs a target_shape");
    const auto& arg = spec.args.at("target_shape");
    if (const auto* one = std::get_if<int64_t>(&arg)) {
      target_ = {*one};
    } else if (const auto* many = std::get_if<std::vector<int64_t>>(&arg)) {
      target_ = *many;
    } else {
      throw std::invalid_argument("argument 'target_shape' must be a tuple of integers");
    }
    FASTMLP_CHECK(!target_.empty(), "target_shape needs at least one axis");
    for (int64_t d : target_)
      FASTMLP_CHECK(d > 0, "target_shape " + shape_str(target_) + " has an axis <= 0");
  }

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
    if (target_.empty()) return {size_};  // Flatten
    FASTMLP_CHECK(shape_size(target_) == size_,
                  "cannot reshape samples of shape " + shape_str(in) + " (" +
                      std::to_string(size_) + " values) to " + shape_str(target_));
    return target_;
  }

  Shape target_;  // empty: Flatten
  int64_t size_ = 0;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_flatten(const LayerSpec& spec) {
  return std::make_unique<ReshapeLayer<T>>(spec, typename ReshapeLayer<T>::FlattenTag{});
}

template <typename T>
std::unique_ptr<Layer<T>> make_reshape(const LayerSpec& spec) {
  return std::make_unique<ReshapeLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_flatten<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_flatten<double>(const LayerSpec&);
template std::unique_ptr<Layer<float>> make_reshape<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_reshape<double>(const LayerSpec&);

}  // namespace fastmlp
