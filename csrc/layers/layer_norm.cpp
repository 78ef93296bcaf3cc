// LayerNormalization(epsilon=1e-3, center=True, scale=True) along the last axis, as Keras's:
//   y = gamma * (x - mean) / sqrt(var + epsilon) + beta, mean and (biased) var of each
//   row of the last axis; the same in training and inference (no state).
// Rows are independent, so threads split rows; gamma's and beta's gradients are summed
// over fixed blocks of rows merged in block order, so the bits do not depend on the
// thread count. TransformerEncoder (layers/transformer.cpp) builds its norms from this.
// Tested in tests/test_layers_attention.py (numpy oracle, finite differences).
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "common/simd_clones.h"
#include "layers/kinds.h"
#include "nn/train_loop.h"

namespace fastmlp {

namespace {

constexpr int64_t kRowBlock = 64;

// Rows [0, m) of (m, c): xhat = (x - mean) / sqrt(var + eps), inv = 1 / sqrt(var + eps),
// y = gamma * xhat + beta (gamma, beta may be null).
template <typename T>
FASTMLP_SIMD_CLONES void norm_rows(T* y, T* xhat, T* inv, const T* x, const T* gamma,
                                   const T* beta, int64_t m, int64_t c, T eps) {
  const T inv_c = T(1.0 / double(c));
  for (int64_t r = 0; r < m; ++r) {
    const T* xr = x + r * c;
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t k = 0; k < c; ++k) sum += xr[k];
    const T mean = sum * inv_c;
    T sq = 0;  // the variance from the centred values: no cancellation
#pragma omp simd reduction(+ : sq)
    for (int64_t k = 0; k < c; ++k) sq += (xr[k] - mean) * (xr[k] - mean);
    const T s = T(1) / std::sqrt(sq * inv_c + eps);
    inv[r] = s;
    T* h = xhat + r * c;
    T* yr = y + r * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      h[k] = (xr[k] - mean) * s;
      yr[k] = (gamma ? gamma[k] * h[k] : h[k]) + (beta ? beta[k] : T(0));
    }
  }
}

// Rows [0, m): pg (c) = sum dy * xhat, pb (c) = sum dy; and unless dx is null
// dx = inv * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma, per row.
template <typename T>
FASTMLP_SIMD_CLONES void norm_rows_backward(T* dx, T* pg, T* pb, const T* dy, const T* xhat,
                                            const T* inv, const T* gamma, int64_t m,
                                            int64_t c) {
  const T inv_c = T(1.0 / double(c));
  std::fill(pg, pg + c, T(0));
  std::fill(pb, pb + c, T(0));
  for (int64_t r = 0; r < m; ++r) {
    const T* d = dy + r * c;
    const T* h = xhat + r * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      pg[k] += d[k] * h[k];
      pb[k] += d[k];
    }
    if (!dx) continue;
    T sg = 0, sgh = 0;
#pragma omp simd reduction(+ : sg, sgh)
    for (int64_t k = 0; k < c; ++k) {
      const T g = gamma ? d[k] * gamma[k] : d[k];
      sg += g;
      sgh += g * h[k];
    }
    const T mg = sg * inv_c, mgh = sgh * inv_c;
    T* o = dx + r * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      const T g = gamma ? d[k] * gamma[k] : d[k];
      o[k] = inv[r] * (g - mg - h[k] * mgh);
    }
  }
}

template <typename T>
class LayerNormLayer final : public Layer<T> {
 public:
  explicit LayerNormLayer(const LayerSpec& spec) : Layer<T>("LayerNormalization") {
    spec.check_known({"epsilon", "center", "scale"});
    epsilon_ = spec.get_float("epsilon", 1e-3);
    center_ = spec.get_int("center", 1) != 0;
    scale_ = spec.get_int("scale", 1) != 0;
    FASTMLP_CHECK(epsilon_ > 0.0, "epsilon must be > 0, got " + std::to_string(epsilon_));
  }

  std::vector<ParamSlot> params() const override {
    std::vector<ParamSlot> p;
    if (scale_) p.push_back({"gamma", {c_}, false, "ones", c_, c_});
    if (center_) p.push_back({"beta", {c_}, false, "zeros", c_, c_});
    return p;
  }
  // the normalised input and one 1/std per row
  int64_t workspace_per_row() const override { return size_ + rows_per_sample_; }
  void reserve(int64_t rows) override {
    const int64_t m = checked_mul(rows, rows_per_sample_);
    xhat_.reserve(size_t(checked_mul(m, c_)));
    inv_.reserve(size_t(m));
    partial_.reserve(size_t(checked_mul(m / kRowBlock + 1, 2 * c_)));
  }
  int64_t macs_per_row() const override { return 3 * size_; }

  // y (m, c) = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + epsilon) per row
  void forward(const Context&, const T* params, T*, T* y, const T* x, int64_t n) override {
    const int64_t m = n * rows_per_sample_, c = c_;
    const T* gamma = scale_ ? this->param(params, 0) : nullptr;
    const T* beta = center_ ? this->param(params, scale_ ? 1 : 0) : nullptr;
    T* xhat = xhat_.data();
    T* inv = inv_.data();
    const int64_t blocks = (m + kRowBlock - 1) / kRowBlock;
    parallel_rows(blocks, kRowBlock * c, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t r = b * kRowBlock, rows = std::min(kRowBlock, m - r);
        norm_rows(y + r * c, xhat + r * c, inv + r, x + r * c, gamma, beta, rows, c, T(epsilon_));
      }
    });
  }

  // dgamma = sum dy * xhat, dbeta = sum dy (over rows);
  // dx = inv * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma, per row.
  void backward(const Context& ctx, const T* params, T* grad, T* dx, T* dy, const T*, const T*,
                int64_t n) override {
    const int64_t m = n * rows_per_sample_, c = c_;
    const T* gamma = scale_ ? this->param(params, 0) : nullptr;
    const T* xhat = xhat_.data();
    const T* inv = inv_.data();
    const int64_t blocks = (m + kRowBlock - 1) / kRowBlock;
    T* partial = partial_.data();
    parallel_rows(blocks, kRowBlock * c, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t r = b * kRowBlock, rows = std::min(kRowBlock, m - r);
        T* pg = partial + b * 2 * c;
        norm_rows_backward(dx ? dx + r * c : nullptr, pg, pg + c, dy + r * c, xhat + r * c,
                           inv + r, gamma, rows, c);
      }
    });
    T* slots[2] = {scale_ ? this->grad_of(grad, 0) : nullptr,
                   center_ ? this->grad_of(grad, scale_ ? 1 : 0) : nullptr};
    for (int which = 0; which < 2; ++which) {
      T* g = slots[which];
      if (!g) continue;
      if (!ctx.accumulate) std::fill(g, g + c, T(0));
      for (int64_t b = 0; b < blocks; ++b) {
        const T* p = partial + b * 2 * c + which * c;
        for (int64_t k = 0; k < c; ++k) g[k] += p[k];
      }
    }
  }

 private:
  Shape infer(const Shape& in) override {
    FASTMLP_CHECK(!in.empty(), "needs an input with at least one axis");
    c_ = in.back();
    size_ = shape_size(in);
    rows_per_sample_ = size_ / c_;
    return in;
  }

  double epsilon_;
  bool center_, scale_;
  int64_t c_ = 0, size_ = 0, rows_per_sample_ = 1;
  AlignedBuffer<T> xhat_, inv_, partial_;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_layer_normalization(const LayerSpec& spec) {
  return std::make_unique<LayerNormLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_layer_normalization<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_layer_normalization<double>(const LayerSpec&);

}  // namespace fastmlp
