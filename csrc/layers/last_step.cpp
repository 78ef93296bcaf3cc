// LastStep(): (n, steps, features) -> (n, features), the last step of each sequence: the
// read-out of a sequence model whose last layer returns every step (a transformer, a GRU
// with return_sequences=True), as return_sequences=False does for a recurrent layer.
// Tested in tests/test_layers_recurrent.py.
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "layers/kinds.h"

namespace fastmlp {

namespace {

template <typename T>
class LastStepLayer final : public Layer<T> {
 public:
  explicit LastStepLayer(const LayerSpec& spec) : Layer<T>("LastStep") { spec.check_known({}); }

  // y (n, features) = x[:, steps - 1, :]
  void forward(const Context&, const T*, T*, T* y, const T* x, int64_t n) override {
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(y + i * features_, x + ((i + 1) * steps_ - 1) * features_,
                  sizeof(T) * size_t(features_));
  }

  void backward(const Context&, const T*, T*, T* dx, T* dy, const T*, const T*,
                int64_t n) override {
    if (!dx) return;
    std::fill(dx, dx + n * steps_ * features_, T(0));
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(dx + ((i + 1) * steps_ - 1) * features_, dy + i * features_,
                  sizeof(T) * size_t(features_));
  }

 private:
  Shape infer(const Shape& in) override {
    if (in.size() != 2)
      throw std::invalid_argument("needs samples of shape (steps, features), got " +
                                  shape_str(in));
    steps_ = in[0];
    features_ = in[1];
    return {features_};
  }

  int64_t steps_ = 0, features_ = 0;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_last_step(const LayerSpec& spec) {
  return std::make_unique<LastStepLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_last_step<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_last_step<double>(const LayerSpec&);

}  // namespace fastmlp
