// UpSampling1D(size) and UpSampling2D(size), channels last, as Keras's (nearest
// neighbour): y[p, q, c] = x[p / size_h, q / size_w, c], each value repeated over a
// size_h x size_w block; backward sums each block's gradients. The decoder's mirror of a
// strided convolution or a pooling layer (MLPAutoencoder). Samples are independent:
// threads split samples. Tested in tests/test_layers_sampling.py (numpy oracle, finite
// differences).
#include <algorithm>

#include "common/check.h"
#include "common/parallel.h"
#include "layers/kinds.h"
#include "layers/window.h"

namespace fastmlp {

namespace {

template <typename T>
class UpSamplingLayer final : public Layer<T> {
 public:
  UpSamplingLayer(const LayerSpec& spec, const char* kind, size_t dims)
      : Layer<T>(kind), dims_(dims) {
    spec.check_known({"size"});
    const auto size = spec.get_ints("size", std::vector<int64_t>(dims, 2), dims);
    for (int64_t s : size) FASTMLP_CHECK(s > 0, "size must be > 0, got " + std::to_string(s));
    sh_ = dims == 2 ? size[0] : 1;
    sw_ = size.back();
  }

  // y (n, h*sh, w*sw, c) = x (n, h, w, c) repeated over blocks
  void forward(const Context&, const T*, T*, T* y, const T* x, int64_t n) override {
    const int64_t in_size = h_ * w_ * c_, out_size = in_size * sh_ * sw_;
    parallel_rows(n, out_size, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t p = 0; p < h_ * sh_; ++p)
          for (int64_t q = 0; q < w_ * sw_; ++q) {
            const T* src = x + i * in_size + ((p / sh_) * w_ + q / sw_) * c_;
            std::copy(src, src + c_, y + i * out_size + (p * w_ * sw_ + q) * c_);
          }
    });
  }

  // dx (n, h, w, c) = sums of dy (n, h*sh, w*sw, c) over each block
  void backward(const Context&, const T*, T*, T* dx, T* dy, const T*, const T*,
                int64_t n) override {
    if (!dx) return;
    const int64_t in_size = h_ * w_ * c_, out_size = in_size * sh_ * sw_;
    parallel_rows(n, out_size, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        T* di = dx + i * in_size;
        std::fill(di, di + in_size, T(0));
        for (int64_t p = 0; p < h_ * sh_; ++p)
          for (int64_t q = 0; q < w_ * sw_; ++q) {
            const T* g = dy + i * out_size + (p * w_ * sw_ + q) * c_;
            T* d = di + ((p / sh_) * w_ + q / sw_) * c_;
            for (int64_t k = 0; k < c_; ++k) d[k] += g[k];
          }
      }
    });
  }

 private:
  Shape infer(const Shape& in) override {
    spatial_input(in, dims_, &h_, &w_, &c_);
    if (dims_ == 1) return {w_ * sw_, c_};
    return {h_ * sh_, w_ * sw_, c_};
  }

  size_t dims_;
  int64_t sh_ = 1, sw_ = 1, h_ = 1, w_ = 1, c_ = 1;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_up_sampling1d(const LayerSpec& spec) {
  return std::make_unique<UpSamplingLayer<T>>(spec, "UpSampling1D", 1);
}

template <typename T>
std::unique_ptr<Layer<T>> make_up_sampling2d(const LayerSpec& spec) {
  return std::make_unique<UpSamplingLayer<T>>(spec, "UpSampling2D", 2);
}

template std::unique_ptr<Layer<float>> make_up_sampling1d<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_up_sampling1d<double>(const LayerSpec&);
template std::unique_ptr<Layer<float>> make_up_sampling2d<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_up_sampling2d<double>(const LayerSpec&);

}  // namespace fastmlp
