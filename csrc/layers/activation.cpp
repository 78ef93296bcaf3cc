// Activation(name): a = f(z) element by element, or softmax along the last axis, with any
// activation fastmlp has; and the backward step the layers with a fused activation share.
// Tested in tests/test_layers.py (finite differences for every activation).
#include "layers/activation.h"

#include <cstring>

#include "common/check.h"
#include "common/parallel.h"
#include "layers/kinds.h"

namespace fastmlp {

template <typename T>
void activation_layer_backward(Activation f, T* dz, const T* dy, const T* z, const T* a,
                               int64_t rows, int64_t width) {
  const int64_t count = rows * width;
  if (f == Activation::softmax) {
    // dz_j = a_j (dy_j - sum_k dy_k a_k), row by row.
    parallel_rows(rows, width, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const T* ai = a + i * width;
        const T* gi = dy + i * width;
        T* di = dz + i * width;
        T dot = 0;
        for (int64_t j = 0; j < width; ++j) dot += gi[j] * ai[j];
        for (int64_t j = 0; j < width; ++j) di[j] = ai[j] * (gi[j] - dot);
      }
    });
    return;
  }
  if (f == Activation::exp) {  // f' = f
    parallel_rows(count, 1, [&](int64_t i0, int64_t i1) {
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dz[i] = dy[i] * a[i];
    });
    return;
  }
  if (dz != dy) std::memcpy(dz, dy, sizeof(T) * size_t(count));
  activation_backward(f, dz, a, rows, width, z);
}

namespace {

template <typename T>
class ActivationLayer final : public Layer<T> {
 public:
  explicit ActivationLayer(const LayerSpec& spec) : Layer<T>("Activation") {
    spec.check_known({"activation"});
    f_ = parse_activation(spec.get_str("activation", "identity"));
  }

  void forward(const Context&, const T*, T*, T* y, const T* x, int64_t n) override {
    std::memcpy(y, x, sizeof(T) * size_t(n * size_));
    activation_forward(f_, y, n * size_ / width_, width_);
  }

  void backward(const Context&, const T*, T*, T* dx, T* dy, const T* x, const T* y,
                int64_t n) override {
    if (dx) activation_layer_backward(f_, dx, dy, x, y, n * size_ / width_, width_);
  }

 private:
  Shape infer(const Shape& in) override {
    FASTMLP_CHECK(!in.empty(), "Activation needs an input with at least one axis");
    size_ = shape_size(in);
    width_ = in.back();
    return in;
  }

  Activation f_;
  int64_t size_ = 0, width_ = 1;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_activation(const LayerSpec& spec) {
  return std::make_unique<ActivationLayer<T>>(spec);
}

template void activation_layer_backward<float>(Activation, float*, const float*, const float*,
                                               const float*, int64_t, int64_t);
template void activation_layer_backward<double>(Activation, double*, const double*,
                                                const double*, const double*, int64_t, int64_t);
template std::unique_ptr<Layer<float>> make_activation<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_activation<double>(const LayerSpec&);

}  // namespace fastmlp
