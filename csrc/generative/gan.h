// Gan<T>: a generative adversarial network's two networks, a generator G and a
// discriminator D (layers/sequential.h), trained alternately by one epoch loop in C++
// (Goodfellow et al. 2014, with the non-saturating generator loss), from the engine's
// building blocks (Sequential::forward/backward) and the core's optimizer step
// (penalized_update, nn/optimizers.h).
//
//   G: z (latent_dim) [+ one-hot label (n_classes)] -> a sample (n_features)
//   D: `pack` samples [each + its one-hot label], concatenated -> one logit
//
// Packing (PacGAN, Lin et al. 2018): D judges `pack` samples at once, all real or all
// fake, so that a generator that collapses onto few modes is easy to spot. A batch of
// B rows (B a multiple of pack) is B / pack rows of D with no copy: consecutive samples
// of the row-major batch are already concatenated.
//
// A step on a batch of real rows (one step per batch; G every `discriminator_steps`):
//   fake = G([z, y])                                   z ~ N(0, I), y the batch's labels
//   D:  L_D = mean softplus(-D(real)) + mean softplus(D(fake))      (one pass on both)
//   G:  L_G = mean softplus(-D(fake))    through the updated D, the same fake
// The latent noise is a pure function of (the epoch's seed, the position of the row in
// the epoch, the latent unit) (nn/normal_noise.h), so results depend on neither the
// thread count nor anything but the order; D's and G's dropout masks likewise.
// Tested by tests/test_gan.py (finite differences of both losses, threads, oracle).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "common/aligned_buffer.h"
#include "layers/sequential.h"
#include "nn/optimizers.h"
#include "nn/train_loop.h"

namespace fastmlp {

// One network's optimizer state: Adam's moments (each n_params) and its step counter.
template <typename T>
struct AdamState {
  T* m;
  T* v;
  int64_t t;
};

// The mean losses of an epoch's steps.
struct GanLosses {
  double discriminator = 0.0, generator = 0.0;
};

// z: the latent noise of rows first .. first+n-1 of an epoch with this seed, dim values
// per row, rows `stride` apart (stride >= dim; the rest of each row is left alone).
// Training and GAN.sample draw their noise here.
template <typename T>
void fill_generator_noise(T* z, int64_t n, int64_t dim, uint64_t seed, int64_t first = 0,
                          int64_t stride = 0);

template <typename T>
class Gan {
 public:
  // generator: specs of G's layers, its output layer included (latent_dim + n_classes ->
  // n_features); discriminator: D's, its one-logit output layer included
  // (pack * (n_features + n_classes) -> 1). Batches of up to batch_size rows, a multiple
  // of pack. std::invalid_argument naming the network and layer where shapes do not fit.
  Gan(std::vector<LayerSpec> generator, std::vector<LayerSpec> discriminator,
      int64_t latent_dim, int64_t n_features, int64_t n_classes, int64_t pack,
      int64_t batch_size, Precision precision);

  Sequential<T>& generator() { return *g_; }
  Sequential<T>& discriminator() { return *d_; }
  int64_t batch_size() const { return batch_; }
  int64_t latent_dim() const { return latent_; }

  // One epoch: batches of batch_size rows of X (n_features) in `order` (m entries; the
  // last incomplete batch is dropped), each a discriminator step, every
  // discriminator_steps-th also a generator step. g, d: parameters then state of each
  // network. onehot (m, n_classes) or null. seed: the epoch's noise and dropout seed.
  // first_step: the steps before this epoch (the cosine schedule's position). Returns
  // the mean losses; sets *interrupted and returns the losses so far when `check` asks.
  GanLosses train_epoch(T* g, T* d, AdamState<T>& g_opt, AdamState<T>& d_opt,
                        const OptimizerConfig& g_cfg, const OptimizerConfig& d_cfg,
                        double alpha, const T* X, const T* onehot, const int64_t* order,
                        int64_t m, uint64_t seed, int64_t first_step,
                        int64_t discriminator_steps, const InterruptCheck& check,
                        bool* interrupted);

  // The losses of one batch of rows 0..m-1 of X (m <= batch_size, a multiple of pack)
  // with the noise of `seed`, as a training step computes them, and their gradients
  // (d loss / d parameters, unscaled by the L2 term): L_D with respect to D's
  // parameters, L_G with respect to G's (through D). What the gradient checks test.
  double discriminator_loss_grad(const T* g, const T* d, T* grad_d, const T* X,
                                 const T* onehot, int64_t m, uint64_t seed);
  double generator_loss_grad(const T* g, const T* d, T* grad_g, const T* onehot, int64_t m,
                             uint64_t seed);

 private:
  // The networks that run slice s of a pass: the slice's copies, or G and D themselves
  // when the batches are not split.
  Sequential<T>& g_net(int64_t s) { return slices_.empty() ? *g_ : *slices_[size_t(s)].g; }
  Sequential<T>& d_net(int64_t s) { return slices_.empty() ? *d_ : *slices_[size_t(s)].d; }
  // [lo, hi): the fake rows of D (m / pack in all) whose samples slice s generates and
  // carries through the generator's step.
  void fake_slice(int64_t s, int64_t n, int64_t* lo, int64_t* hi) const;
  // The gradient pass over `rows` rows of D run as slice(s, g, lo, len, &weight_sum), on
  // the row slices (nn/train_loop.h sum_over_row_slices, the last slice's gradient left in
  // *more, or added into grad when more is null) or in one piece.
  template <typename SliceFn>
  double gradient_pass(SliceFn&& slice, T* grad, const T** more,
                       std::vector<AlignedBuffer<T>>& slice_grads, int64_t n_params,
                       int64_t rows, SliceScheduler& scheduler);
  // G's output for m rows: G's input [noise of (stream, rows at positions first..), the
  // rows' one-hot labels] -> the fake half of d_in_ (each fake row followed by its label).
  void generate(const T* g, const T* onehot, const int64_t* rows, int64_t first, int64_t m,
                uint64_t seed, bool update_state);
  // The real half of d_in_: rows of X with their labels.
  void gather_real(const T* X, const T* onehot, const int64_t* rows, int64_t first, int64_t m);
  // L_D of the m real and m fake rows in d_in_ (one pass of 2m / pack rows of D), the
  // unscaled gradient (sum over D's rows) in grad (and *more, see gradient_pass); returns
  // the sum of both means' terms. update_state: whether D's batch statistics move its
  // moving averages. D's rows are the rows d_first.. of the epoch's D passes (their
  // dropout masks).
  double discriminator_pass(const T* d, T* grad, const T** more, int64_t m, uint64_t seed,
                            bool update_state, int64_t d_first);
  // L_G of the m fake rows in d_in_ through D (the masks of the fake half of the D pass at
  // d_first), G's unscaled gradient in grad (and *more).
  double generator_pass(const T* g, const T* d, T* grad, const T** more, int64_t m,
                        uint64_t seed, int64_t d_first);

  std::unique_ptr<Sequential<T>> g_, d_;
  // Row slices: when neither network couples rows (no batch statistics) and a step is small
  // enough that its products cannot keep the cores busy themselves, each pass of a step
  // runs as kRowSlices slices of rows, each on its own copies of the two networks'
  // workspaces, on two threads or one after the other (SliceScheduler), and the slices'
  // gradients are added in slice order: the bits depend on the networks and the batch,
  // never on the thread count. A slice keeps the same samples through the generator's
  // forward and backward passes. Measured (generator 8-256-256-2, discriminator
  // 4-256-256-1, batch 128, 2 threads): 256-wide products of 64-128 rows ran 1.3-1.4x
  // faster on two threads than on one, whole slices about 1.8x.
  struct Slice {
    std::unique_ptr<Sequential<T>> g, d;
    AlignedBuffer<T> d_scratch;  // D's unused parameter gradients in the generator's step
  };
  std::vector<Slice> slices_;
  std::vector<AlignedBuffer<T>> slice_grad_g_, slice_grad_d_;  // slices 1..
  SliceScheduler generate_scheduler_, discriminator_scheduler_, generator_scheduler_;
  int64_t latent_, features_, classes_, pack_, batch_;
  int64_t g_in_, d_width_;                // G's input size; n_features + n_classes
  AlignedBuffer<T> g_in_buf_;             // (batch, latent + classes)
  AlignedBuffer<T> d_in_;                 // (2 batch, d_width): real rows, then fake rows
  AlignedBuffer<T> logit_grad_;           // (2 batch / pack, 1)
  AlignedBuffer<T> d_dx_;                 // (batch, d_width): d L_G / d D's fake input
  AlignedBuffer<T> g_dout_;               // (batch, n_features)
  AlignedBuffer<T> grad_g_, grad_d_, d_scratch_;
  std::vector<double> partial_;
};

}  // namespace fastmlp
