// BatchNormalization(momentum=0.99, epsilon=1e-3, center=True, scale=True), over the last
// axis (channels) as Keras's: training passes normalise with the batch's mean and
// (biased) variance over every other axis and, in train_epoch, move the moving averages
//   moving = momentum * moving + (1 - momentum) * batch statistic;
// inference passes use the moving averages. gamma and beta are trainable, not decayed;
// moving_mean and moving_variance are the network's non-trainable state.
// Per-channel sums run in double over fixed blocks of rows merged in block order, so the
// results do not depend on the thread count.
// Tested in tests/test_layers_conv.py (numpy oracle, finite differences in both modes,
// moving averages).
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "layers/kinds.h"
#include "nn/train_loop.h"

namespace fastmlp {

namespace {

constexpr int64_t kRowBlock = 512;

// sums (c) = column sums of a (m, c), or of a * b when b is not null, in double: rows in
// fixed blocks (partial (blocks, c) holds each block's sums), blocks added in order.
template <typename T>
void channel_sums(double* sums, std::vector<double>& partial, const T* a, const T* b,
                  int64_t m, int64_t c) {
  const int64_t blocks = (m + kRowBlock - 1) / kRowBlock;
  partial.assign(size_t(blocks * c), 0.0);
  parallel_for(blocks, worth_parallel(m * c) ? max_threads() : 1, [&](int64_t blk) {
    double* s = partial.data() + blk * c;
    for (int64_t i = blk * kRowBlock; i < std::min(m, (blk + 1) * kRowBlock); ++i) {
      const T* ai = a + i * c;
      if (b) {
        const T* bi = b + i * c;
#pragma omp simd
        for (int64_t k = 0; k < c; ++k) s[k] += double(ai[k]) * double(bi[k]);
      } else {
#pragma omp simd
        for (int64_t k = 0; k < c; ++k) s[k] += double(ai[k]);
      }
    }
  });
  std::fill(sums, sums + c, 0.0);
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int64_t k = 0; k < c; ++k) sums[k] += partial[size_t(blk * c + k)];
}

template <typename T>
class BatchNormLayer final : public Layer<T> {
 public:
  explicit BatchNormLayer(const LayerSpec& spec) : Layer<T>("BatchNormalization") {
    spec.check_known({"momentum", "epsilon", "center", "scale"});
    momentum_ = spec.get_float("momentum", 0.99);
    epsilon_ = spec.get_float("epsilon", 1e-3);
    center_ = spec.get_int("center", 1) != 0;
    scale_ = spec.get_int("scale", 1) != 0;
    FASTMLP_CHECK(momentum_ >= 0.0 && momentum_ <= 1.0,
                  "momentum must be in [0, 1], got " + std::to_string(momentum_));
    FASTMLP_CHECK(epsilon_ > 0.0, "epsilon must be > 0, got " + std::to_string(epsilon_));
  }

  std::vector<ParamSlot> params() const override {
    std::vector<ParamSlot> p;
    if (scale_) p.push_back({"gamma", {c_}, false, "ones", c_, c_});
    if (center_) p.push_back({"beta", {c_}, false, "zeros", c_, c_});
    return p;
  }
  std::vector<StateSlot> states() const override {
    return {{"moving_mean", {c_}, "zeros"}, {"moving_variance", {c_}, "ones"}};
  }
  bool couples_rows() const override { return true; }
  int64_t workspace_per_row() const override { return size_; }  // the normalised input
  void reserve(int64_t rows) override {
    xhat_.reserve(size_t(checked_mul(rows, size_)));
    mean_.resize(size_t(c_));
    inv_.resize(size_t(c_));
    sums_.resize(size_t(2 * c_));
    partial_.reserve(size_t((checked_mul(rows, size_ / c_) / kRowBlock + 1) * c_));
  }
  int64_t macs_per_row() const override { return 2 * size_; }

  // y (n, ..., c) = gamma * (x - mean) / sqrt(var + epsilon) + beta
  void forward(const Context& ctx, const T* params, T* state, T* y, const T* x,
               int64_t n) override {
    const int64_t m = n * (size_ / c_);
    T* moving_mean = this->state_of(state, 0);
    T* moving_var = this->state_of(state, 1);
    batch_ = ctx.training;
    if (batch_) {
      double* s = sums_.data();
      channel_sums(s, partial_, x, static_cast<const T*>(nullptr), m, c_);
      for (int64_t k = 0; k < c_; ++k) mean_[size_t(k)] = s[k] / double(m);
      // The variance from the centred values (two passes: no cancellation).
      T* centred = xhat_.data();
      parallel_rows(m, c_, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t k = 0; k < c_; ++k)
            centred[i * c_ + k] = T(x[i * c_ + k] - mean_[size_t(k)]);
      });
      channel_sums(s, partial_, centred, centred, m, c_);
      for (int64_t k = 0; k < c_; ++k) {
        const double var = s[k] / double(m);
        inv_[size_t(k)] = 1.0 / std::sqrt(var + epsilon_);
        if (ctx.update_state) {
          moving_mean[k] = T(momentum_ * double(moving_mean[k]) + (1 - momentum_) * mean_[size_t(k)]);
          moving_var[k] = T(momentum_ * double(moving_var[k]) + (1 - momentum_) * var);
        }
      }
    } else {
      for (int64_t k = 0; k < c_; ++k) {
        mean_[size_t(k)] = double(moving_mean[k]);
        inv_[size_t(k)] = 1.0 / std::sqrt(double(moving_var[k]) + epsilon_);
      }
    }
    const T* gamma = scale_ ? this->param(params, 0) : nullptr;
    const T* beta = center_ ? this->param(params, scale_ ? 1 : 0) : nullptr;
    T* xhat = xhat_.data();
    parallel_rows(m, c_, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t k = 0; k < c_; ++k) {
          const T h = T((double(x[i * c_ + k]) - mean_[size_t(k)]) * inv_[size_t(k)]);
          xhat[i * c_ + k] = h;
          y[i * c_ + k] = (gamma ? gamma[k] * h : h) + (beta ? beta[k] : T(0));
        }
    });
  }

  void backward(const Context& ctx, const T* params, T* grad, T* dx, T* dy, const T*, const T*,
                int64_t n) override {
    const int64_t m = n * (size_ / c_);
    const T* xhat = xhat_.data();
    double* dgamma = sums_.data();
    double* dbeta = sums_.data() + c_;
    channel_sums(dgamma, partial_, dy, xhat, m, c_);
    channel_sums(dbeta, partial_, dy, static_cast<const T*>(nullptr), m, c_);
    if (scale_) {
      T* g = this->grad_of(grad, 0);
      for (int64_t k = 0; k < c_; ++k) g[k] = T(ctx.accumulate ? g[k] + dgamma[k] : dgamma[k]);
    }
    if (center_) {
      T* g = this->grad_of(grad, scale_ ? 1 : 0);
      for (int64_t k = 0; k < c_; ++k) g[k] = T(ctx.accumulate ? g[k] + dbeta[k] : dbeta[k]);
    }
    if (!dx) return;
    const T* gamma = scale_ ? this->param(params, 0) : nullptr;
    // Training: dx = gamma inv / m (m dy - sum(dy) - xhat sum(dy xhat)), the batch
    // statistics depending on x; inference: dx = gamma inv dy.
    const double inv_m = batch_ ? 1.0 / double(m) : 0.0;
    parallel_rows(m, c_, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t k = 0; k < c_; ++k) {
          const double scale = (gamma ? double(gamma[k]) : 1.0) * inv_[size_t(k)];
          const int64_t j = i * c_ + k;
          dx[j] = T(scale * (double(dy[j]) - inv_m * (dbeta[k] + double(xhat[j]) * dgamma[k])));
        }
    });
  }

 private:
  Shape infer(const Shape& in) override {
    FASTMLP_CHECK(!in.empty(), "needs an input with at least one axis");
    c_ = in.back();
    size_ = shape_size(in);
    return in;
  }

  double momentum_, epsilon_;
  bool center_, scale_;
  int64_t c_ = 0, size_ = 0;
  bool batch_ = false;  // whether the last forward used batch statistics
  AlignedBuffer<T> xhat_;
  std::vector<double> mean_, inv_, sums_, partial_;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_batch_normalization(const LayerSpec& spec) {
  return std::make_unique<BatchNormLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_batch_normalization<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_batch_normalization<double>(const LayerSpec&);

}  // namespace fastmlp
