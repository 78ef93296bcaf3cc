// Conv1D and Conv2D (Keras's arguments and channels-last layout; 1-D is 2-D with a height
// of 1): y = activation(conv(x, kernel) + bias), kernel (kh, kw, in_channels, filters).
// Two fast paths: direct kernels (layers/conv_direct.h) for the small convolutions where
// copying and packing would cost more than the products (up to 64 filters in float32),
// and otherwise im2col, then one product on our GEMM for the whole batch (the rows of the
// column matrix are the output positions, its columns the taps x channels, matching the
// kernel's row-major layout; backward: the same products transposed and col2im). bfloat16
// products always take the GEMM. impl="direct"/"im2col" forces a path; the naive loops
// (impl="reference") stay as the oracle both are tested against.
// Tested in tests/test_layers_conv.py (oracle, finite differences, thread counts).
#include <algorithm>
#include <cstring>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "layers/activation.h"
#include "layers/conv_direct.h"
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
  parallel_rows(n, g.out_positions() * width, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
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
  });
}

// dx (n, h, w, c) = the sum, over the windows that cover each input value, of dcols:
// im2col's adjoint. Samples are independent, so the sums run in a fixed order per thread.
template <typename T>
void col2im(T* dx, const T* dcols, const Window& g, int64_t c, int64_t n) {
  const int64_t width = g.taps() * c;
  const int64_t sample = g.h.in * g.w.in * c;
  parallel_rows(n, g.out_positions() * width, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
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
  });
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
    impl_ = spec.get_str("impl", "auto");
    FASTMLP_CHECK(impl_ == "auto" || impl_ == "direct" || impl_ == "im2col" ||
                      impl_ == "reference",
                  "impl must be 'auto', 'direct', 'im2col' or 'reference', got '" + impl_ + "'");
    reference_ = impl_ == "reference";
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
    const int64_t pre = keep_pre_ ? g_.out_positions() * filters_ : 0;
    if (reference_) return pre;
    if (!direct_) return pre + 2 * g_.out_positions() * depth();  // cols, dcols
    const int64_t padded = padded_ ? 2 * d_.sample() : 0;          // xpad, dxpad
    return pre + padded + conv_chunks(d_) * conv_split_width<T>(d_) * g_.out_positions();  // dyp
  }
  void reserve(int64_t rows) override {
    if (keep_pre_) pre_.reserve(size_t(checked_mul(rows, g_.out_positions() * filters_)));
    if (reference_) return;
    if (!direct_) {
      cols_.reserve(size_t(checked_mul(rows, g_.out_positions() * depth())));
      dcols_.reserve(size_t(checked_mul(rows, g_.out_positions() * depth())));
      return;
    }
    const int64_t chunks = conv_chunks(d_), L = d_.lanes;
    if (padded_) {
      xpad_.reserve(size_t(checked_mul(rows, d_.sample())));
      dxpad_.reserve(size_t(checked_mul(rows, d_.sample())));
    }
    dyp_.reserve(size_t(checked_mul(rows, chunks * conv_split_width<T>(d_) * g_.out_positions())));
    wpad_.reserve(size_t(chunks * d_.k * L));
    bpad_.reserve(size_t(chunks * L));
    wt_.reserve(size_t(conv_padded_columns<T>(d_) * filters_));
    const int64_t by_pairs = int64_t(d_.pair_off.size()) * kPositionLanes<T>;
    partial_.reserve(size_t(std::max((8 * conv_padded_taps(d_) + 1) * chunks * L,
                                     (8 + 1) * by_pairs)));
  }
  int64_t macs_per_row() const override { return g_.out_positions() * depth() * filters_; }

  // y (n, oh, ow, filters) = f(conv(x (n, h, w, c)) + bias)
  void forward(const Context& ctx, const T* params, T*, T* y, const T* x, int64_t n) override {
    const T* w = this->param(params, 0);
    const T* b = use_bias_ ? this->param(params, 1) : nullptr;
    const int64_t m = n * g_.out_positions();
    T* z = keep_pre_ ? pre_.data() : y;
    const Activation fz = keep_pre_ ? Activation::identity : f_;
    if (reference_) {
      forward_reference(z, x, w, b, n);
      activation_forward(fz, z, m, filters_);
    } else if (use_direct(ctx)) {
      const bool relu = fz == Activation::relu;
      conv_direct_forward(z, padded_input(x, n), padded_kernel(w), padded_bias(b), relu, d_, n);
      if (!relu) activation_forward(fz, z, m, filters_);
    } else {
      im2col(cols_.data(), x, g_, channels_, n);
      dense_forward(fz, z, cols_.data(), w, b, m, depth(), filters_, *ctx.gemm, ctx.precision);
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
    const T* w = this->param(params, 0);
    if (reference_) return backward_reference(dw, db, dx, dy, x, w, n, ctx.accumulate);
    if (use_direct(ctx)) return backward_direct(dw, db, dx, dy, x, w, n, ctx.accumulate);
    if (ctx.param_grads)
      dense_backward_weights(dw, db, cols_.data(), dy, m, depth(), filters_, ctx.accumulate,
                             *ctx.gemm, ctx.precision);
    if (dx) {
      dense_backward_input(dcols_.data(), dy, w, m, depth(), filters_, *ctx.gemm,
                           ctx.precision);
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
    plan_direct();
    if (dims_ == 1) return {g_.w.out, filters_};
    return {g_.h.out, g_.w.out, filters_};
  }

  int64_t depth() const { return g_.taps() * channels_; }  // the product's inner size

  // The direct kernels, unless the products run in bfloat16 (the GEMM's).
  bool use_direct(const Context& ctx) const {
    return direct_ && ctx.precision == Precision::native;
  }

  // The direct kernels' geometry: the input zero-padded so that every window lies inside.
  void plan_direct() {
    d_ = DirectConv{};
    d_.c = channels_;
    d_.oh = g_.h.out;
    d_.ow = g_.w.out;
    d_.sh = g_.h.stride;
    d_.sw = g_.w.stride;
    d_.kh = g_.h.size;
    d_.kw = g_.w.size;
    d_.hp = std::max(g_.h.in + g_.h.pad, (g_.h.out - 1) * g_.h.stride + g_.h.size);
    d_.wp = std::max(g_.w.in + g_.w.pad, (g_.w.out - 1) * g_.w.stride + g_.w.size);
    d_.k = depth();
    d_.filters = filters_;
    d_.lanes = conv_lanes<T>(filters_);
    d_.off.clear();
    for (int64_t a = 0; a < g_.h.size; ++a)
      for (int64_t b = 0; b < g_.w.size; ++b)
        for (int64_t k = 0; k < channels_; ++k) d_.off.push_back((a * d_.wp + b) * channels_ + k);
    d_.off.resize(size_t(conv_padded_taps(d_)), 0);
    conv_plan_pairs(d_);
    padded_ = d_.hp != g_.h.in || d_.wp != g_.w.in;
    direct_ = impl_ == "direct" ||
              (impl_ == "auto" && filters_ <= 2 * kConvLanes<T> && d_.k <= kDirectMaxTaps);
    FASTMLP_CHECK(!direct_ || d_.k <= kDirectMaxTaps,
                  "impl='direct' takes windows of at most " + std::to_string(kDirectMaxTaps) +
                      " values (kernel taps x channels)");
  }

  // x itself when no window overhangs it, else x copied into xpad_ (n, hp, wp, c) with
  // its zeros (each value written once).
  const T* padded_input(const T* x, int64_t n) {
    if (!padded_) return x;
    T* xp = xpad_.data();
    const int64_t c = channels_, wp = d_.wp, row = g_.w.in * c;
    const int64_t left = g_.w.pad * c, right = (wp - g_.w.pad - g_.w.in) * c;
    parallel_rows(n, d_.sample(), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t r = 0; r < d_.hp; ++r) {
          T* dst = xp + (i * d_.hp + r) * wp * c;
          const int64_t src = r - g_.h.pad;
          if (src < 0 || src >= g_.h.in) {
            std::fill(dst, dst + wp * c, T(0));
            continue;
          }
          std::fill(dst, dst + left, T(0));
          std::memcpy(dst + left, x + (i * g_.h.in + src) * row, sizeof(T) * size_t(row));
          std::fill(dst + left + row, dst + left + row + right, T(0));
        }
    });
    return xp;
  }

  // The kernel (k, filters) in blocks of kConvLanes filters, zero-padded (wpad_).
  const T* padded_kernel(const T* w) {
    const int64_t L = d_.lanes, chunks = conv_chunks(d_);
    T* wp = wpad_.data();
    std::fill(wp, wp + chunks * d_.k * L, T(0));
    for (int64_t ch = 0; ch < chunks; ++ch)
      for (int64_t j = 0; j < d_.k; ++j)
        for (int64_t l = 0; l < std::min(L, filters_ - ch * L); ++l)
          wp[(ch * d_.k + j) * L + l] = w[j * filters_ + ch * L + l];
    return wp;
  }

  // The bias (zeros for none) in blocks of d_.lanes, zero-padded (bpad_).
  const T* padded_bias(const T* b) {
    T* bp = bpad_.data();
    const int64_t total = conv_chunks(d_) * d_.lanes;
    for (int64_t f = 0; f < total; ++f) bp[f] = b && f < filters_ ? b[f] : T(0);
    return bp;
  }

  void backward_direct(T* dw, T* db, T* dx, T* dy, const T* x, const T* w, int64_t n,
                       bool accumulate) {
    const int64_t L = d_.lanes, chunks = conv_chunks(d_), P = g_.out_positions();
    const int64_t F = filters_;
    // dy in blocks of kConvLanes filters, zero-padded: (chunks, n*P, lanes).
    // (With one block exactly as wide as the filters, that is dy itself.)
    T* dyp = chunks == 1 && L == F && !conv_by_pairs<T>(d_) ? dy : dyp_.data();
    if (dyp != dy) conv_direct_split_filters(dyp, dy, d_, n * P);
    // The forward pass left the padded input in xpad_ (x itself when unpadded).
    conv_direct_backward_weights(dw, db, padded_ ? xpad_.data() : x, dyp, d_, n, accumulate,
                                 partial_);
    if (!dx) return;
    T* wt = wt_.data();
    const int64_t kp = conv_padded_columns<T>(d_);
    std::fill(wt, wt + F * kp, T(0));
    for (int64_t j = 0; j < d_.k; ++j)
      for (int64_t f = 0; f < F; ++f) wt[f * kp + j] = w[j * F + f];
    if (!padded_) return conv_direct_backward_input(dx, dy, wt, d_, n);
    conv_direct_backward_input(dxpad_.data(), dy, wt, d_, n);
    const int64_t row = g_.w.in * channels_;
    parallel_rows(n, d_.sample(), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t r = 0; r < g_.h.in; ++r)
          std::memcpy(dx + (i * g_.h.in + r) * row,
                      dxpad_.data() + i * d_.sample() +
                          ((r + g_.h.pad) * d_.wp + g_.w.pad) * channels_,
                      sizeof(T) * size_t(row));
    });
  }

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
  std::string impl_;
  bool use_bias_ = true, keep_pre_ = false, reference_ = false, direct_ = false, padded_ = false;
  Window g_;
  DirectConv d_;
  AlignedBuffer<T> cols_, dcols_, pre_;            // im2col path; pre-activation
  AlignedBuffer<T> xpad_, dxpad_, dyp_, wpad_, bpad_, wt_;  // direct path
  std::vector<T> partial_;
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
