// A stack of dense layers trained as scikit-learn's MLP: the full-batch loss and
// gradient (for L-BFGS), one whole epoch of mini-batch SGD/Adam, and prediction.
// Parameters live in one flat vector in scikit-learn's packing order
// [W_0.ravel(), ..., W_{L-1}.ravel(), b_0, ..., b_{L-1}], W_l of shape (in, out),
// so Python's coefs_ / intercepts_ are views of it and L-BFGS needs no packing.
// Training may drop hidden units (inverted dropout, nn/dropout.h); prediction never does.
// Tested by tests/test_gradcheck.py (finite differences) and tests/test_network.py.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/cpu_features.h"
#include "gemm/gemm.h"
#include "nn/activations.h"
#include "nn/input_matrix.h"
#include "nn/losses.h"
#include "nn/optimizers.h"
#include "nn/train_loop.h"

namespace fastmlp {

struct NetworkSpec {
  std::vector<int64_t> sizes;  // n_features, hidden..., n_outputs
  Activation hidden = Activation::relu;
  Activation output = Activation::identity;
  Loss loss = Loss::squared_error;

  int64_t n_layers() const { return int64_t(sizes.size()) - 1; }  // weight layers
  int64_t coef_offset(int64_t l) const;
  int64_t intercept_offset(int64_t l) const;
  int64_t n_coefs() const;   // weights only: what the L2 penalty covers
  int64_t n_params() const;  // weights and biases
  void validate() const;     // throws std::invalid_argument
};

// Whether a pass drops hidden units, and the seed its masks come from (nn/dropout.h).
struct DropoutDraw {
  bool on = false;
  uint64_t seed = 0;
};

template <typename T>
class Network {
 public:
  // chunk_rows bounds the rows processed at once (the mini-batch size in training;
  // predict and the full-batch gradient walk the data in chunks of that many rows).
  // dropout: one rate in [0, 1) per hidden layer, or empty (none); it applies to the
  // passes given a DropoutDraw that is on.
  // precision: the inputs of every dense product (forward, both halves of backward);
  // Precision::bf16 (float only, AVX-512 BF16 CPUs only: else std::invalid_argument) rounds
  // them to bfloat16 with float32 sums, while parameters, activations, losses, gradients
  // and optimizer state stay in T.
  // allow_slices: small networks split each mini-batch into kRowSlices row slices trained in
  // parallel (see batch_data_loss_grad); the slices themselves never split again.
  Network(NetworkSpec spec, int64_t chunk_rows, std::vector<double> dropout = {},
          Precision precision = Precision::native, bool allow_slices = true);

  const NetworkSpec& spec() const { return spec_; }
  Precision precision() const { return precision_; }

  // Loss of rows (all of X when rows is null) with its L2 term, and its gradient in grad:
  //   L = sum_i sw_i loss_i / S + 0.5 alpha ||W||^2 / S,  S = sum of sw (or the row count).
  // params, grad (n_params); Y (n, n_outputs); sw (n) or null
  // `check` runs between row chunks; when it asks to stop, *interrupted is set and the
  // returned loss and grad are meaningless. `drop` on: the loss of the network with the
  // hidden units its masks drop (a fixed mask: what the gradient check differentiates).
  double loss_grad(const T* params, T* grad, const InputMatrix<T>& X, const T* Y, const T* sw,
                   const int64_t* rows, int64_t m, double alpha,
                   const InterruptCheck& check = InterruptCheck(), bool* interrupted = nullptr,
                   const DropoutDraw& drop = DropoutDraw());

  // One epoch of the shared loop (nn/train_loop.h, train_epoch_loop: arguments and
  // result as documented there); dropout_seed: the epoch's masks (unused without dropout).
  double train_epoch(T* params, T* state_a, T* state_b, int64_t& adam_t,
                     const OptimizerConfig& opt, const InputMatrix<T>& X, const T* Y,
                     const T* sw, const int64_t* order, int64_t m, int64_t batch_size,
                     double alpha, int64_t first_step, uint64_t dropout_seed,
                     const InterruptCheck& check, bool* interrupted);

  // Mean data loss of all of X at params, without the L2 term and without a gradient
  // (the validation loss): sum_i sw_i loss_i / S, S = sum of sw (or the row count).
  // Y (n, n_outputs); sw (n) or null; `check` as in loss_grad.
  double mean_loss(const T* params, const InputMatrix<T>& X, const T* Y, const T* sw,
                   const InterruptCheck& check = InterruptCheck(), bool* interrupted = nullptr);

  // out (n, n_outputs) = the output layer's activations for X; `check` as in loss_grad.
  void predict(const T* params, const InputMatrix<T>& X, T* out,
               const InterruptCheck& check = InterruptCheck(), bool* interrupted = nullptr);

 private:
  // The data term of loss_grad for rows (rows[i], or first+i): returns sum_i sw_i loss_i,
  // sets *weight_sum = S, and leaves the unscaled sum of per-row gradients in grad.
  double data_loss_grad(const T* params, T* grad, const InputMatrix<T>& X, const T* Y,
                        const T* sw, const int64_t* rows, int64_t first, int64_t m,
                        double* weight_sum, const DropoutDraw& drop,
                        const InterruptCheck& check, bool* interrupted);
  // data_loss_grad over m rows in chunks of chunk_rows, each through the row slices
  // (batch_data_loss_grad), the chunks' gradients added in chunk order: the full-batch
  // gradient of a small network on both cores.
  double sliced_data_loss_grad(const T* params, T* grad, const InputMatrix<T>& X, const T* Y,
                               const T* sw, const int64_t* rows, int64_t m, double* weight_sum,
                               const DropoutDraw& drop, const InterruptCheck& check,
                               bool* interrupted);
  // data_loss_grad for one mini-batch: directly, or over the row slices in parallel with
  // the slices' gradients added in slice order (the same bits for any thread count). The
  // last slice's gradient is not added: *more points to it (null when there is none), and
  // the optimizer step adds it.
  double batch_data_loss_grad(const T* params, T* grad, const T** more, const InputMatrix<T>& X,
                              const T* Y, const T* sw, const int64_t* rows, int64_t first,
                              int64_t m, double* weight_sum, const DropoutDraw& drop);
  // Forward for m rows (rows[i], or first+i); the last layer writes into `output`.
  void forward(const T* params, const InputMatrix<T>& X, const int64_t* rows, int64_t first,
               int64_t m, T* output, const DropoutDraw& drop);
  // Accumulates the data-term gradient of one chunk (first chunk overwrites).
  void backward(const T* params, T* grad, const InputMatrix<T>& X, const int64_t* rows,
                int64_t first, int64_t m, bool accumulate, const DropoutDraw& drop);
  bool drops(int64_t l, const DropoutDraw& drop) const {
    return drop.on && !dropout_.empty() && dropout_[size_t(l)] > 0.0;
  }
  // What hidden layer l hands to layer l+1: its activations, or their dropped copy.
  const T* hidden_output(int64_t l, const DropoutDraw& drop) const {
    return drops(l, drop) ? dropped_[size_t(l)].data() : acts_[size_t(l)].data();
  }
  const T* input_rows(const InputMatrix<T>& X, const int64_t* rows, int64_t first, int64_t m);

  NetworkSpec spec_;
  int64_t chunk_rows_;
  Precision precision_;
  std::vector<AlignedBuffer<T>> acts_;  // acts_[l]: output of layer l, (chunk, sizes[l+1])
  // pre_[l]: pre-activation of hidden layer l, kept only for gelu/silu, whose derivative
  // cannot be computed from the output (see activation_needs_preactivation); else empty.
  std::vector<AlignedBuffer<T>> pre_;
  // Dropout rate per hidden layer (empty: none); for layers with a rate > 0, dropped_[l]
  // holds the activations after dropout and mask_[l] the multipliers (0 or 1/(1-p)),
  // acts_[l] keeping the undropped ones that the activation derivative reads.
  std::vector<double> dropout_;
  std::vector<AlignedBuffer<T>> dropped_, mask_;
  AlignedBuffer<T> delta_a_, delta_b_;  // (chunk, max width)
  AlignedBuffer<T> x_gather_, y_gather_, sw_gather_;
  AlignedBuffer<T> grad_buf_;
  std::vector<double> partial_sums_;  // reserved once: assign() below never reallocates
  // Small layers cannot keep two cores busy within one product, so such a network splits
  // a mini-batch into kRowSlices row slices instead, each with its own workspaces.
  std::vector<std::unique_ptr<Network<T>>> slices_;
  std::vector<AlignedBuffer<T>> slice_grads_;  // gradients of slices 1.. (slice 0: grad)
  SliceScheduler slice_scheduler_;
  GemmWorkspace gemm_ws_;
};

}  // namespace fastmlp
