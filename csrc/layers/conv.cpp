// Conv1D and Conv2D (Keras's arguments and channels-last layout; 1-D is 2-D with a height
// of 1): y = activation(conv(x, kernel) + bias), kernel (kh, kw, in_channels, filters).
// Fast path: im2col, then one product on our GEMM for the whole batch (the rows of the
// column matrix are the output positions, its columns the taps x channels, matching the
// kernel's row-major layout); backward: the same products transposed and col2im. The
// naive loops (impl="reference") stay as the oracle the fast path is tested against.
// Tested in tests/test_layers_conv.py (oracle, finite differences, thread counts).
#include <algorithm>
#include <cstring>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "layers/activation.h"
#include "layers/kinds.h"
#include "layers/window.h"
#include "nn/dense.h"
#include "nn/train_loop.h"

namespace fastmlp {

namespace {

// cols (n*oh*ow, kh*kw*c): row (i, p, q) holds the window of output position (p, q) of
// sample i, tap by tap, each tap's c channels contiguous; zeros where it overhangs.
// x (n, h, w, c)
template <typename T>
void im2col(T* cols, const T* x, const Window& g, int64_t c, int64_t n) {
  const int64_t width = g.taps() * c;
  const size_t tap_bytes = sizeof(T) * size_t(c);
#pragma omp parallel for schedule(static) if (worth_parallel(n * g.out_positions() * width))
  for (int64_t i = 0; i < n; ++i) {
    const T* xi = x + i * g.h.in * g.w.in * c;
    T* row = cols + i * g.out_positions() * width;
    for (int64_t p = 0; p < g.h.out; ++p) {
      for (int64_t q = 0; q < g.w.out; ++q, row += width) {
        T* dst = row;
        for (int64_t a = 0; a < g.h.size; ++a) {
          const int64_t r = p * g.h.stride + a - g.h.pad;
          if (r < 0 || r >= g.h.in) {
            std::memset(dst, 0, tap_bytes * size_t(g.w.size));
            dst += g.w.size * c;
            continue;
          }
          const int64_t s0 = q * g.w.stride - g.w.pad;
          if (s0 >= 0 && s0 + g.w.size <= g.w.in) {  // the whole row of taps is inside
            std::memcpy(dst, xi + (r * g.w.in + s0) * c, tap_bytes * size_t(g.w.size));
            dst += g.w.size * c;
            continue;
          }
          for (int64_t b = 0; b < g.w.size; ++b, dst += c) {
            const int64_t s = s0 + b;
            if (s < 0 || s >= g.w.in)
              std::memset(dst, 0, tap_bytes);
            else
              std::memcpy(dst, xi + (r * g.w.in + s) * c, tap_bytes);
          }
        }
      }
    }
  }
}

// dx (n, h, w, c) = the sum, over the windows that cover each input value, of dcols:
// im2col's adjoint. Samples are independent, so the sums run in a fixed order per thread.
template <typename T>
void col2im(T* dx, const T* dcols, const Window& g, int64_t c, int64_t n) {
  const int64_t width = g.taps() * c;
  const int64_t sample = g.h.in * g.w.in * c;
#pragma omp parallel for schedule(static) if (worth_parallel(n * g.out_positions() * width))
  for (int64_t i = 0; i < n; ++i) {
    T* xi = dx + i * sample;
    std::fill(xi, xi + sample, T(0));
    const T* row = dcols + i * g.out_positions() * width;
    for (int64_t p = 0; p < g.h.out; ++p) {
      for (int64_t q = 0; q < g.w.out; ++q, row += width) {
        const T* src = row;
        for (int64_t a = 0; a < g.h.size; ++a) {
          const int64_t r = p * g.h.stride + a - g.h.pad;
          for (int64_t b = 0; b < g.w.size; ++b, src += c) {
            const int64_t s = q * g.w.stride + b - g.w.pad;
            if (r < 0 || r >= g.h.in || s < 0 || s >= g.w.in) continue;
            T* d = xi + (r * g.w.in + s) * c;
#pragma omp simd
            for (int64_t k = 0; k < c; ++k) d[k] += src[k];
          }
        }
      }
    }
  }
}

template <typename T>
class ConvLayer final : public Layer<T> {
 public:
  ConvLayer(const LayerSpec& spec, size_t dims)
      : Layer<T>(dims == 1 ? "Conv1D" : "Conv2D"), dims_(dims) {
    spec.check_known({"filters", "kernel_size", "strides", "padding", "activation", "use_bias",
                      "impl"});
    filters_ = spec.get_int("filters", 0);
    FASTMLP_CHECK(filters_ > 0, "filters must be > 0, got " + std::to_string(filters_));
    kernel_ = spec.get_ints("kernel_size", {}, dims);
    strides_ = spec.get_ints("strides", std::vector<int64_t>(dims, 1), dims);
    for (int64_t k : kernel_)
      FASTMLP_CHECK(k > 0, "kernel_size must be > 0, got " + std::to_string(k));
    for (int64_t s : strides_)
      FASTMLP_CHECK(s > 0, "strides must be > 0, got " + std::to_string(s));
    padding_ = read_padding(spec, dims, "valid");
    f_ = parse_activation(spec.get_str("activation", "identity"));
    use_bias_ = spec.get_int("use_bias", 1) != 0;
    const std::string impl = spec.get_str("impl", "auto");
    FASTMLP_CHECK(impl == "auto" || impl == "reference",
                  "impl must be 'auto' or 'reference', got '" + impl + "'");
    reference_ = impl == "reference";
    keep_pre_ = activation_needs_preactivation(f_);
  }

  std::vector<ParamSlot> params() const override {
    Shape kshape(kernel_.begin(), kernel_.end());
    kshape.push_back(channels_);
    kshape.push_back(filters_);
    const int64_t taps = g_.taps();
    std::vector<ParamSlot> p{
        {"kernel", kshape, true, "glorot_uniform", taps * channels_, taps * filters_}};
    if (use_bias_) p.push_back({"bias", {filters_}, false, "zeros", taps * channels_, taps * filters_});
    return p;
  }

  int64_t workspace_per_row() const override {
    const int64_t cols = reference_ ? 0 : 2 * g_.out_positions() * depth();  // cols, dcols
    return cols + (keep_pre_ ? g_.out_positions() * filters_ : 0);
  }
  void reserve(int64_t rows) override {
    if (!reference_) {
      cols_.reserve(size_t(checked_mul(rows, g_.out_positions() * depth())));
      dcols_.reserve(size_t(checked_mul(rows, g_.out_positions() * depth())));
    }
    if (keep_pre_) pre_.reserve(size_t(checked_mul(rows, g_.out_positions() * filters_)));
  }
  int64_t macs_per_row() const override { return g_.out_positions() * depth() * filters_; }

  // y (n, oh, ow, filters) = f(conv(x (n, h, w, c)) + bias)
  void forward(const Context& ctx, const T* params, T*, T* y, const T* x, int64_t n) override {
    const T* w = this->param(params, 0);
    const T* b = use_bias_ ? this->param(params, 1) : nullptr;
    const int64_t m = n * g_.out_positions();
    T* z = keep_pre_ ? pre_.data() : y;
    if (reference_) {
      forward_reference(z, x, w, b, n);
      if (!keep_pre_) activation_forward(f_, y, m, filters_);
    } else {
      im2col(cols_.data(), x, g_, channels_, n);
      dense_forward(keep_pre_ ? Activation::identity : f_, z, cols_.data(), w, b, m, depth(),
                    filters_, *ctx.gemm, ctx.precision);
    }
    if (keep_pre_) {
      std::memcpy(y, z, sizeof(T) * size_t(m * filters_));
      activation_forward(f_, y, m, filters_);
    }
  }

  void backward(const Context& ctx, const T* params, T* grad, T* dx, T* dy, const T* x,
                const T* y, int64_t n) override {
    const int64_t m = n * g_.out_positions();
    if (f_ != Activation::identity)
      activation_layer_backward(f_, dy, dy, keep_pre_ ? pre_.data() : nullptr, y, m, filters_);
    T* dw = this->grad_of(grad, 0);
    T* db = use_bias_ ? this->grad_of(grad, 1) : nullptr;
    if (reference_) return backward_reference(dw, db, dx, dy, x, this->param(params, 0), n,
                                              ctx.accumulate);
    if (ctx.param_grads)
      dense_backward_weights(dw, db, cols_.data(), dy, m, depth(), filters_, ctx.accumulate,
                             *ctx.gemm, ctx.precision);
    if (dx) {
      dense_backward_input(dcols_.data(), dy, this->param(params, 0), m, depth(), filters_,
                           *ctx.gemm, ctx.precision);
      col2im(dx, dcols_.data(), g_, channels_, n);
    }
  }

 private:
  Shape infer(const Shape& in) override {
    int64_t h, w;
    spatial_input(in, dims_, &h, &w, &channels_);
    const char* names[2] = {dims_ == 1 ? "steps" : "height", dims_ == 1 ? "steps" : "width"};
    try {
      g_.h = dims_ == 1 ? WindowAxis{} : window_axis(h, kernel_[0], strides_[0], padding_, 0,
                                                     "kernel_size");
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string(e.what()) + " along the " + names[0] +
                                  " of input shape " + shape_str(in));
    }
    try {
      g_.w = window_axis(w, kernel_[dims_ - 1], strides_[dims_ - 1], padding_, dims_ - 1,
                         "kernel_size");
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string(e.what()) + " along the " + names[1] +
                                  " of input shape " + shape_str(in));
    }
    if (dims_ == 1) return {g_.w.out, filters_};
    return {g_.h.out, g_.w.out, filters_};
  }

  int64_t depth() const { return g_.taps() * channels_; }  // the product's inner size

  // The oracle: z (n, oh, ow, F) = conv(x) + bias, by the definition.
  void forward_reference(T* z, const T* x, const T* w, const T* b, int64_t n) const {
    const int64_t c = channels_, F = filters_;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t p = 0; p < g_.h.out; ++p)
        for (int64_t q = 0; q < g_.w.out; ++q) {
          T* out = z + ((i * g_.h.out + p) * g_.w.out + q) * F;
          for (int64_t f = 0; f < F; ++f) out[f] = b ? b[f] : T(0);
          for (int64_t a = 0; a < g_.h.size; ++a)
            for (int64_t bb = 0; bb < g_.w.size; ++bb) {
              const int64_t r = p * g_.h.stride + a - g_.h.pad;
              const int64_t s = q * g_.w.stride + bb - g_.w.pad;
              if (r < 0 || r >= g_.h.in || s < 0 || s >= g_.w.in) continue;
              for (int64_t k = 0; k < c; ++k) {
                const T v = x[((i * g_.h.in + r) * g_.w.in + s) * c + k];
                const T* wk = w + ((a * g_.w.size + bb) * c + k) * F;
                for (int64_t f = 0; f < F; ++f) out[f] += v * wk[f];
              }
            }
        }
  }

  void backward_reference(T* dw, T* db, T* dx, const T* dz, const T* x, const T* w, int64_t n,
                          bool accumulate) const {
    const int64_t c = channels_, F = filters_;
    if (!accumulate) {
      std::fill(dw, dw + depth() * F, T(0));
      if (db) std::fill(db, db + F, T(0));
    }
    if (dx) std::fill(dx, dx + n * g_.h.in * g_.w.in * c, T(0));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t p = 0; p < g_.h.out; ++p)
        for (int64_t q = 0; q < g_.w.out; ++q) {
          const T* g = dz + ((i * g_.h.out + p) * g_.w.out + q) * F;
          if (db)
            for (int64_t f = 0; f < F; ++f) db[f] += g[f];
          for (int64_t a = 0; a < g_.h.size; ++a)
            for (int64_t bb = 0; bb < g_.w.size; ++bb) {
              const int64_t r = p * g_.h.stride + a - g_.h.pad;
              const int64_t s = q * g_.w.stride + bb - g_.w.pad;
              if (r < 0 || r >= g_.h.in || s < 0 || s >= g_.w.in) continue;
              for (int64_t k = 0; k < c; ++k) {
                const int64_t xi = ((i * g_.h.in + r) * g_.w.in + s) * c + k;
                const int64_t wi = ((a * g_.w.size + bb) * c + k) * F;
                T acc = 0;
                for (int64_t f = 0; f < F; ++f) {
                  dw[wi + f] += x[xi] * g[f];
                  acc += w[wi + f] * g[f];
                }
                if (dx) dx[xi] += acc;
              }
            }
        }
  }

  size_t dims_;
  int64_t filters_ = 0, channels_ = 0;
  std::vector<int64_t> kernel_, strides_;
  Padding padding_;
  Activation f_;
  bool use_bias_ = true, keep_pre_ = false, reference_ = false;
  Window g_;
  AlignedBuffer<T> cols_, dcols_, pre_;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_conv1d(const LayerSpec& spec) {
  return std::make_unique<ConvLayer<T>>(spec, 1);
}

template <typename T>
std::unique_ptr<Layer<T>> make_conv2d(const LayerSpec& spec) {
  return std::make_unique<ConvLayer<T>>(spec, 2);
}

template std::unique_ptr<Layer<float>> make_conv1d<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_conv1d<double>(const LayerSpec&);
template std::unique_ptr<Layer<float>> make_conv2d<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_conv2d<double>(const LayerSpec&);

}  // namespace fastmlp
