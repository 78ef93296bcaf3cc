// The GAN trainer of generative/gan.h: buffers, the discriminator and generator passes,
// and the epoch loop.
#include "generative/gan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common/check.h"
#include "common/parallel.h"
#include "nn/normal_noise.h"

namespace fastmlp {

namespace {

// Purposes of the streams of one seed (nn/normal_noise.h).
constexpr uint64_t kLatentNoise = 0, kDiscriminatorMasks = 1, kGeneratorMasks = 2;

// log(1 + exp(x)) without overflow.
inline double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

template <typename T>
std::unique_ptr<Sequential<T>> build(const char* which, std::vector<LayerSpec> specs,
                                     int64_t inputs, int64_t rows, Precision precision) {
  try {
    // Activations and losses are the trainer's: the engine's output stays linear.
    return std::make_unique<Sequential<T>>(std::move(specs), Shape{inputs}, Activation::identity,
                                           Loss::squared_error, rows, precision, false);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(which) + ": " + e.what());
  }
}

}  // namespace

template <typename T>
void fill_generator_noise(T* z, int64_t n, int64_t dim, uint64_t seed, int64_t first,
                          int64_t stride) {
  if (stride == 0) stride = dim;
  const uint64_t stream = noise_stream(seed, kLatentNoise);
  // Each row's noise is its own: rows split over threads give the same values.
  parallel_rows(n, 16 * dim, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      fill_normal(z + i * stride, dim, stream, uint64_t(first + i) * uint64_t(dim));
  });
}

template void fill_generator_noise<float>(float*, int64_t, int64_t, uint64_t, int64_t, int64_t);
template void fill_generator_noise<double>(double*, int64_t, int64_t, uint64_t, int64_t, int64_t);

template <typename T>
Gan<T>::Gan(std::vector<LayerSpec> generator, std::vector<LayerSpec> discriminator,
            int64_t latent_dim, int64_t n_features, int64_t n_classes, int64_t pack,
            int64_t batch_size, Precision precision)
    : latent_(latent_dim), features_(n_features), classes_(n_classes), pack_(pack),
      batch_(batch_size) {
  FASTMLP_CHECK(latent_ > 0 && features_ > 0 && classes_ >= 0,
                "latent_dim and n_features must be > 0, n_classes >= 0");
  FASTMLP_CHECK(pack_ > 0 && batch_ >= pack_ && batch_ % pack_ == 0,
                "batch_size must be a positive multiple of pack");
  g_in_ = latent_ + classes_;
  d_width_ = features_ + classes_;
  g_ = build<T>("generator", std::move(generator), g_in_, batch_, precision);
  d_ = build<T>("discriminator", std::move(discriminator), pack_ * d_width_,
                checked_mul(2, batch_ / pack_), precision);
  FASTMLP_CHECK(g_->output_size() == features_,
                "generator: its output has " + std::to_string(g_->output_size()) +
                    " values per sample, the data " + std::to_string(features_) + " features");
  FASTMLP_CHECK(d_->output_size() == 1,
                "discriminator: its output has " + std::to_string(d_->output_size()) +
                    " values per sample; it must be one logit");
  g_in_buf_.reserve(size_t(checked_mul(batch_, g_in_)));
  d_in_.reserve(size_t(checked_mul(2 * batch_, d_width_)));
  logit_grad_.reserve(size_t(2 * batch_ / pack_));
  d_dx_.reserve(size_t(checked_mul(batch_, d_width_)));
  g_dout_.reserve(size_t(checked_mul(batch_, features_)));
  grad_g_.reserve(size_t(g_->n_params()));
  grad_d_.reserve(size_t(d_->n_params()));
  d_scratch_.reserve(size_t(d_->n_params()));
}

template <typename T>
void Gan<T>::gather_real(const T* X, const T* onehot, const int64_t* rows, int64_t first,
                         int64_t m) {
  for (int64_t i = 0; i < m; ++i) {
    const int64_t r = rows ? rows[i] : first + i;
    T* out = d_in_.data() + i * d_width_;
    std::memcpy(out, X + r * features_, sizeof(T) * size_t(features_));
    if (classes_)
      std::memcpy(out + features_, onehot + r * classes_, sizeof(T) * size_t(classes_));
  }
}

template <typename T>
void Gan<T>::generate(const T* g, const T* onehot, const int64_t* rows, int64_t first,
                      int64_t m, uint64_t seed, bool update_state) {
  T* z = g_in_buf_.data();
  fill_generator_noise(z, m, latent_, seed, first, g_in_);
  for (int64_t i = 0; classes_ && i < m; ++i) {
    const int64_t r = rows ? rows[i] : first + i;
    std::memcpy(z + i * g_in_ + latent_, onehot + r * classes_, sizeof(T) * size_t(classes_));
  }
  Context ctx;
  ctx.training = true;
  ctx.update_state = update_state;
  ctx.seed = noise_stream(seed, kGeneratorMasks);
  ctx.first = first;
  const T* fake = g_->forward(g, const_cast<T*>(g) + g_->n_params(), z, m, ctx);
  // The fake rows follow the m real ones, each with the label it was generated for.
  T* out = d_in_.data() + m * d_width_;
  for (int64_t i = 0; i < m; ++i) {
    std::memcpy(out + i * d_width_, fake + i * features_, sizeof(T) * size_t(features_));
    if (classes_)
      std::memcpy(out + i * d_width_ + features_, z + i * g_in_ + latent_,
                  sizeof(T) * size_t(classes_));
  }
}

template <typename T>
double Gan<T>::discriminator_pass(const T* d, T* grad, int64_t m, uint64_t seed,
                                  bool update_state) {
  const int64_t half = m / pack_, n = 2 * half;
  Context ctx;
  ctx.training = true;
  ctx.update_state = update_state;
  ctx.seed = noise_stream(seed, kDiscriminatorMasks);
  T* state = const_cast<T*>(d) + d_->n_params();
  const T* logit = d_->forward(d, state, d_in_.data(), n, ctx);
  T* dl = logit_grad_.data();
  double loss = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double l = double(logit[i]);
    if (i < half) {  // real: -log sigmoid(l)
      loss += softplus(-l);
      dl[i] = T(-sigmoid(-l));
    } else {  // fake: -log(1 - sigmoid(l))
      loss += softplus(l);
      dl[i] = T(sigmoid(l));
    }
  }
  d_->backward(d, grad, nullptr, dl, n, ctx);
  return loss;
}

template <typename T>
double Gan<T>::generator_pass(const T* g, const T* d, T* grad, int64_t m, uint64_t seed) {
  const int64_t n = m / pack_;
  Context ctx;
  ctx.training = true;
  ctx.seed = noise_stream(seed, kDiscriminatorMasks);
  ctx.first = n;  // the fake half's rows of the discriminator pass: the same masks
  const T* logit = d_->forward(d, const_cast<T*>(d) + d_->n_params(),
                               d_in_.data() + m * d_width_, n, ctx);
  T* dl = logit_grad_.data();
  double loss = 0.0;
  for (int64_t i = 0; i < n; ++i) {  // non-saturating: -log sigmoid(l)
    const double l = double(logit[i]);
    loss += softplus(-l);
    dl[i] = T(-sigmoid(-l));
  }
  // Only d L_G / d fake is needed from D: its weight products are skipped (layers that
  // compute their parameter gradients anyway write them to d_scratch_).
  ctx.param_grads = false;
  d_->backward(d, d_scratch_.data(), d_dx_.data(), dl, n, ctx);
  T* dout = g_dout_.data();
  for (int64_t i = 0; i < m; ++i)
    std::memcpy(dout + i * features_, d_dx_.data() + i * d_width_, sizeof(T) * size_t(features_));
  Context gctx;
  gctx.training = true;
  gctx.seed = noise_stream(seed, kGeneratorMasks);
  g_->backward(g, grad, nullptr, dout, m, gctx);
  return loss;
}

template <typename T>
GanLosses Gan<T>::train_epoch(T* g, T* d, AdamState<T>& g_opt, AdamState<T>& d_opt,
                              const OptimizerConfig& g_cfg, const OptimizerConfig& d_cfg,
                              double alpha, const T* X, const T* onehot, const int64_t* order,
                              int64_t m, uint64_t seed, int64_t first_step,
                              int64_t discriminator_steps, const InterruptCheck& check,
                              bool* interrupted) {
  FASTMLP_CHECK(m >= batch_, "an epoch needs at least batch_size rows");
  FASTMLP_CHECK(discriminator_steps >= 1, "discriminator_steps must be >= 1");
  *interrupted = false;
  const int64_t B = batch_, n = B / pack_, steps = m / B;
  OptimizerConfig g_step = g_cfg, d_step = d_cfg;
  GanLosses sum;
  int64_t g_steps = 0, d_steps = 0;
  const T* const kNoMore = nullptr;  // penalized_update's second gradient: none here
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t start = s * B, step = first_step + s;
    const int64_t* rows = order ? order + start : nullptr;
    gather_real(X, onehot, rows, start, B);
    generate(g, onehot, rows, start, B, seed, true);
    if (d_cfg.schedule == Schedule::cosine)
      d_step.learning_rate =
          cosine_learning_rate(d_cfg.learning_rate, step, d_cfg.warmup_steps, d_cfg.total_steps);
    sum.discriminator += discriminator_pass(d, grad_d_.data(), B, seed, true) / double(n);
    penalized_update(d_step, ++d_opt.t, d, d_opt.m, d_opt.v, grad_d_.data(), kNoMore,
                     d_->n_params(), d_->n_decayed(), alpha, 1.0 / double(n), partial_);
    ++d_steps;
    if ((step + 1) % discriminator_steps == 0) {
      if (g_cfg.schedule == Schedule::cosine)
        g_step.learning_rate = cosine_learning_rate(g_cfg.learning_rate, step,
                                                    g_cfg.warmup_steps, g_cfg.total_steps);
      sum.generator += generator_pass(g, d, grad_g_.data(), B, seed) / double(n);
      penalized_update(g_step, ++g_opt.t, g, g_opt.m, g_opt.v, grad_g_.data(), kNoMore,
                       g_->n_params(), g_->n_decayed(), alpha, 1.0 / double(n), partial_);
      ++g_steps;
    }
    if (check && check()) {
      *interrupted = true;
      break;
    }
  }
  GanLosses mean;
  mean.discriminator = d_steps ? sum.discriminator / double(d_steps) : 0.0;
  mean.generator = g_steps ? sum.generator / double(g_steps) : std::nan("");
  return mean;
}

template <typename T>
double Gan<T>::discriminator_loss_grad(const T* g, const T* d, T* grad_d, const T* X,
                                       const T* onehot, int64_t m, uint64_t seed) {
  FASTMLP_CHECK(m > 0 && m <= batch_ && m % pack_ == 0,
                "the rows must be a positive multiple of pack, at most batch_size");
  FASTMLP_CHECK(classes_ == 0 || onehot, "a conditional GAN needs the labels");
  gather_real(X, onehot, nullptr, 0, m);
  generate(g, onehot, nullptr, 0, m, seed, false);
  const double loss = discriminator_pass(d, grad_d, m, seed, false);
  const double n = double(m / pack_);
  for (int64_t i = 0; i < d_->n_params(); ++i) grad_d[i] = T(double(grad_d[i]) / n);
  return loss / n;
}

template <typename T>
double Gan<T>::generator_loss_grad(const T* g, const T* d, T* grad_g, const T* onehot,
                                   int64_t m, uint64_t seed) {
  FASTMLP_CHECK(m > 0 && m <= batch_ && m % pack_ == 0,
                "the rows must be a positive multiple of pack, at most batch_size");
  FASTMLP_CHECK(classes_ == 0 || onehot, "a conditional GAN needs the labels");
  generate(g, onehot, nullptr, 0, m, seed, false);
  const double loss = generator_pass(g, d, grad_g, m, seed);
  const double n = double(m / pack_);
  for (int64_t i = 0; i < g_->n_params(); ++i) grad_g[i] = T(double(grad_g[i]) / n);
  return loss / n;
}

template class Gan<float>;
template class Gan<double>;

}  // namespace fastmlp
