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

// A training pass of one network: dropout masks from the seed's stream for `purpose`, at
// rows first..; update_state: whether batch statistics move the moving averages.
Context training_pass(uint64_t seed, uint64_t purpose, int64_t first, bool update_state = false) {
  Context ctx;
  ctx.training = true;
  ctx.update_state = update_state;
  ctx.seed = noise_stream(seed, purpose);
  ctx.first = first;
  return ctx;
}

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
  // Slices (see gan.h) when both networks allow them and a step's forward passes are
  // below kSliceMacs multiply-adds: larger products keep the cores busy themselves.
  constexpr int64_t kSliceMacs = int64_t(1) << 26;
  const int64_t n = batch_ / pack_;
  const int64_t step_macs = g_->macs_per_row() * batch_ + d_->macs_per_row() * 2 * n;
  if (n >= kRowSlices && g_->rows_independent() && d_->rows_independent() &&
      step_macs < kSliceMacs) {
    const int64_t d_rows = rows_per_slice(2 * n), g_rows = rows_per_slice(n) * pack_;
    for (int s = 0; s < kRowSlices; ++s) {
      Slice slice;
      slice.g = build<T>("generator", g_->specs(), g_in_, g_rows, precision);
      slice.d = build<T>("discriminator", d_->specs(), pack_ * d_width_, d_rows, precision);
      slice.d_scratch.reserve(size_t(d_->n_params()));
      slices_.push_back(std::move(slice));
      if (s > 0) {
        slice_grad_g_.emplace_back(size_t(g_->n_params()));
        slice_grad_d_.emplace_back(size_t(d_->n_params()));
      }
    }
  }
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
void Gan<T>::fake_slice(int64_t s, int64_t n, int64_t* lo, int64_t* hi) const {
  if (slices_.empty()) {
    *lo = 0;
    *hi = n;
    return;
  }
  const int64_t per = rows_per_slice(n);
  *lo = std::min(n, s * per);
  *hi = std::min(n, (s + 1) * per);
}

template <typename T>
template <typename SliceFn>
double Gan<T>::gradient_pass(SliceFn&& slice, T* grad, const T** more,
                             std::vector<AlignedBuffer<T>>& slice_grads, int64_t n_params,
                             int64_t rows, SliceScheduler& scheduler) {
  double weight_sum;
  if (!slices_.empty())
    return sum_over_row_slices(slice, grad, more, slice_grads, n_params, rows, &weight_sum,
                               scheduler);
  if (more) *more = nullptr;
  return slice(0, grad, int64_t(0), rows, &weight_sum);
}

template <typename T>
void Gan<T>::generate(const T* g, const T* onehot, const int64_t* rows, int64_t first,
                      int64_t m, uint64_t seed, bool update_state) {
  const int64_t n = m / pack_;
  auto run = [&](int64_t s) {
    int64_t lo, hi;
    fake_slice(s, n, &lo, &hi);
    const int64_t i0 = lo * pack_, len = (hi - lo) * pack_;  // the slice's samples
    if (len <= 0) return;
    T* z = g_in_buf_.data() + i0 * g_in_;
    fill_generator_noise(z, len, latent_, seed, first + i0, g_in_);
    for (int64_t i = i0; classes_ && i < i0 + len; ++i) {
      const int64_t r = rows ? rows[i] : first + i;
      std::memcpy(g_in_buf_.data() + i * g_in_ + latent_, onehot + r * classes_,
                  sizeof(T) * size_t(classes_));
    }
    const Context ctx = training_pass(seed, kGeneratorMasks, first + i0, update_state);
    Sequential<T>& net = g_net(s);
    const T* fake = net.forward(g, const_cast<T*>(g) + net.n_params(), z, len, ctx);
    // The fake rows follow the m real ones, each with the label it was generated for.
    T* out = d_in_.data() + (m + i0) * d_width_;
    for (int64_t i = 0; i < len; ++i) {
      std::memcpy(out + i * d_width_, fake + i * features_, sizeof(T) * size_t(features_));
      if (classes_)
        std::memcpy(out + i * d_width_ + features_, z + i * g_in_ + latent_,
                    sizeof(T) * size_t(classes_));
    }
  };
  if (slices_.empty())
    run(0);
  else
    run_row_slices(run, n, generate_scheduler_);
}

template <typename T>
double Gan<T>::discriminator_pass(const T* d, T* grad, const T** more, int64_t m,
                                  uint64_t seed, bool update_state, int64_t d_first) {
  const int64_t half = m / pack_, width = pack_ * d_width_;
  auto slice = [&](int s, T* g, int64_t lo, int64_t len, double*) {
    const Context ctx = training_pass(seed, kDiscriminatorMasks, d_first + lo, update_state);
    Sequential<T>& net = d_net(s);
    T* state = const_cast<T*>(d) + net.n_params();
    const T* logit = net.forward(d, state, d_in_.data() + lo * width, len, ctx);
    T* dl = logit_grad_.data() + lo;
    double loss = 0.0;
    for (int64_t i = 0; i < len; ++i) {
      const double l = double(logit[i]);
      if (lo + i < half) {  // real: -log sigmoid(l)
        loss += softplus(-l);
        dl[i] = T(-sigmoid(-l));
      } else {  // fake: -log(1 - sigmoid(l))
        loss += softplus(l);
        dl[i] = T(sigmoid(l));
      }
    }
    net.backward(d, g, nullptr, dl, len, ctx);
    return loss;
  };
  return gradient_pass(slice, grad, more, slice_grad_d_, d_->n_params(), 2 * half,
                       discriminator_scheduler_);
}

template <typename T>
double Gan<T>::generator_pass(const T* g, const T* d, T* grad, const T** more, int64_t m,
                              uint64_t seed, int64_t d_first) {
  const int64_t n = m / pack_, width = pack_ * d_width_;
  // Slice s of the n fake rows of D is fake_slice(s): the samples it generated.
  auto slice = [&](int s, T* gs, int64_t lo, int64_t len, double*) {
    // The fake half's rows of the discriminator pass: the same masks.
    Context ctx = training_pass(seed, kDiscriminatorMasks, d_first + n + lo);
    Sequential<T>& dn = d_net(s);
    const T* logit = dn.forward(d, const_cast<T*>(d) + dn.n_params(),
                                d_in_.data() + (n + lo) * width, len, ctx);
    T* dl = logit_grad_.data() + lo;
    double loss = 0.0;
    for (int64_t i = 0; i < len; ++i) {  // non-saturating: -log sigmoid(l)
      const double l = double(logit[i]);
      loss += softplus(-l);
      dl[i] = T(-sigmoid(-l));
    }
    // Only d L_G / d fake is needed from D: its weight products are skipped (layers that
    // compute their parameter gradients anyway write them to a scratch vector).
    ctx.param_grads = false;
    T* scratch = slices_.empty() ? d_scratch_.data() : slices_[size_t(s)].d_scratch.data();
    T* dx = d_dx_.data() + lo * width;
    dn.backward(d, scratch, dx, dl, len, ctx);
    const int64_t samples = len * pack_;
    T* dout = g_dout_.data() + lo * pack_ * features_;
    for (int64_t i = 0; i < samples; ++i)
      std::memcpy(dout + i * features_, dx + i * d_width_, sizeof(T) * size_t(features_));
    const Context gctx = training_pass(seed, kGeneratorMasks, 0);
    g_net(s).backward(g, gs, nullptr, dout, samples, gctx);
    return loss;
  };
  return gradient_pass(slice, grad, more, slice_grad_g_, g_->n_params(), n,
                       generator_scheduler_);
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
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t start = s * B, step = first_step + s;
    const int64_t* rows = order ? order + start : nullptr;
    gather_real(X, onehot, rows, start, B);
    generate(g, onehot, rows, start, B, seed, true);
    if (d_cfg.schedule == Schedule::cosine)
      d_step.learning_rate =
          cosine_learning_rate(d_cfg.learning_rate, step, d_cfg.warmup_steps, d_cfg.total_steps);
    // D's rows of this step are 2n of the epoch's D rows: their own dropout masks.
    const T* more = nullptr;
    sum.discriminator +=
        discriminator_pass(d, grad_d_.data(), &more, B, seed, true, 2 * n * s) / double(n);
    penalized_update(d_step, ++d_opt.t, d, d_opt.m, d_opt.v, grad_d_.data(), more,
                     d_->n_params(), d_->n_decayed(), alpha, 1.0 / double(n), partial_);
    ++d_steps;
    if ((step + 1) % discriminator_steps == 0) {
      if (g_cfg.schedule == Schedule::cosine)
        g_step.learning_rate = cosine_learning_rate(g_cfg.learning_rate, step,
                                                    g_cfg.warmup_steps, g_cfg.total_steps);
      sum.generator += generator_pass(g, d, grad_g_.data(), &more, B, seed, 2 * n * s) / double(n);
      penalized_update(g_step, ++g_opt.t, g, g_opt.m, g_opt.v, grad_g_.data(), more,
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
  const double loss = discriminator_pass(d, grad_d, nullptr, m, seed, false, 0);
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
  const double loss = generator_pass(g, d, grad_g, nullptr, m, seed, 0);
  const double n = double(m / pack_);
  for (int64_t i = 0; i < g_->n_params(); ++i) grad_g[i] = T(double(grad_g[i]) / n);
  return loss / n;
}

template class Gan<float>;
template class Gan<double>;

}  // namespace fastmlp
