// Sampling(kl_weight): a variational autoencoder's reparameterisation (Kingma & Welling
// 2014). The input holds a Gaussian's mean and log-variance side by side,
// x (n, 2k) = [mu (n, k), log_var (n, k)]; a training pass outputs
// z = mu + exp(log_var / 2) * eps with eps ~ N(0, 1) drawn from (seed, layer, data row,
// unit) (nn/normal_noise.h: independent of batches and threads), an inference pass the
// mean, z = mu. The layer adds to the network's loss, per sample,
// kl_weight * KL(N(mu, exp(log_var)) || N(0, 1)) = kl_weight * 0.5 * sum_j (mu_j^2 +
// exp(log_var_j) - 1 - log_var_j), and its backward adds that term's gradient.
// Tested in tests/test_layers_sampling.py (numpy oracle, finite differences with a fixed
// seed, noise moments).
#include <cmath>
#include <cstring>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "layers/kinds.h"
#include "nn/normal_noise.h"
#include "nn/train_loop.h"

namespace fastmlp {

namespace {

template <typename T>
class SamplingLayer final : public Layer<T> {
 public:
  explicit SamplingLayer(const LayerSpec& spec) : Layer<T>("Sampling") {
    spec.check_known({"kl_weight"});
    kl_weight_ = spec.get_float("kl_weight", 1.0);
    FASTMLP_CHECK(kl_weight_ >= 0.0 && std::isfinite(kl_weight_),
                  "kl_weight must be >= 0, got " + std::to_string(kl_weight_));
  }

  int64_t workspace_per_row() const override { return k_; }
  void reserve(int64_t rows) override { eps_.reserve(size_t(checked_mul(rows, k_))); }
  double added_loss() const override { return kl_sum_; }

  // z (n, k) = mu + exp(log_var / 2) * eps (training) or mu (inference), from
  // x (n, 2k) = [mu, log_var]
  void forward(const Context& ctx, const T*, T*, T* y, const T* x, int64_t n) override {
    sampling_ = ctx.training;
    const uint64_t stream = noise_stream(ctx.seed, uint64_t(ctx.layer));
    double kl = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const T* mu = x + i * 2 * k_;
      const T* lv = mu + k_;
      T* z = y + i * k_;
      if (sampling_) {
        const uint64_t row = uint64_t(ctx.rows ? ctx.rows[i] : ctx.first + i);
        T* e = eps_.data() + i * k_;
        fill_normal(e, k_, stream, row * uint64_t(k_));
        for (int64_t j = 0; j < k_; ++j) z[j] = mu[j] + std::exp(T(0.5) * lv[j]) * e[j];
      } else {
        std::memcpy(z, mu, sizeof(T) * size_t(k_));
      }
      double s = 0.0;
      for (int64_t j = 0; j < k_; ++j)
        s += double(mu[j]) * double(mu[j]) + std::exp(double(lv[j])) - 1.0 - double(lv[j]);
      kl += 0.5 * s;
    }
    kl_sum_ = kl_weight_ * kl;
  }

  // dx (n, 2k) = [dz + w mu, dz eps exp(log_var / 2) / 2 + w (exp(log_var) - 1) / 2]
  void backward(const Context&, const T*, T*, T* dx, T* dy, const T* x, const T*,
                int64_t n) override {
    if (!dx) return;
    const T w = T(kl_weight_);
    for (int64_t i = 0; i < n; ++i) {
      const T* mu = x + i * 2 * k_;
      const T* lv = mu + k_;
      const T* dz = dy + i * k_;
      T* dmu = dx + i * 2 * k_;
      T* dlv = dmu + k_;
      for (int64_t j = 0; j < k_; ++j) {
        const T var = std::exp(lv[j]);
        dmu[j] = dz[j] + w * mu[j];
        dlv[j] = w * T(0.5) * (var - T(1));
        if (sampling_)
          dlv[j] += dz[j] * eps_.data()[i * k_ + j] * T(0.5) * std::exp(T(0.5) * lv[j]);
      }
    }
  }

 private:
  Shape infer(const Shape& in) override {
    FASTMLP_CHECK(in.size() == 1 && in[0] % 2 == 0,
                  "Sampling takes flat samples [mean, log-variance] of an even size, got " +
                      shape_str(in));
    k_ = in[0] / 2;
    return {k_};
  }

  double kl_weight_ = 1.0;
  int64_t k_ = 0;
  bool sampling_ = false;  // whether the last forward drew noise (backward follows it)
  double kl_sum_ = 0.0;    // kl_weight * the KL summed over the rows of the last forward
  AlignedBuffer<T> eps_;   // (rows, k) the noise of the last training forward
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_sampling(const LayerSpec& spec) {
  return std::make_unique<SamplingLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_sampling<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_sampling<double>(const LayerSpec&);

}  // namespace fastmlp
