// Sequential<T>: a stack of layers (layers/layer.h) with an output activation and a loss,
// trained by the core's one epoch loop (nn/train_loop.h). The parameters of all layers
// live in one flat vector laid out as every decayed slot (layer order) followed by every
// other slot (layer order) -- for a stack of Dense layers scikit-learn's packing -- with
// gradients and optimizer state mirroring it; non-trainable state (moving averages) lives
// in a second flat vector. Workspaces are sized once, for passes of up to chunk_rows
// samples; small networks split each mini-batch into row slices run in parallel.
//
// Besides the estimators' calls (train_epoch, mean_loss, predict, loss_grad), the building
// blocks forward() and backward() let other trainers drive networks themselves (a GAN
// trains two alternately; a VAE samples between an encoder and a decoder).
// Tested by tests/test_layers*.py and tests/test_neural_net.py.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "common/aligned_buffer.h"
#include "gemm/gemm.h"
#include "layers/layer.h"
#include "nn/activations.h"
#include "nn/input_matrix.h"
#include "nn/losses.h"
#include "nn/optimizers.h"
#include "nn/train_loop.h"

namespace fastmlp {

template <typename T>
class Sequential {
 public:
  // Builds the layers in order from input_shape (per sample); std::invalid_argument
  // "layer i (Kind): ..." naming the shapes where one does not fit. `output` is applied to
  // the last layer's output along its last axis; `loss` pairs with it as in the MLP
  // (softmax + log_loss, logistic + binary_log_loss, identity + squared_error /
  // absolute_error / huber, exp + poisson). allow_slices: see kRowSlices.
  Sequential(std::vector<LayerSpec> layers, Shape input_shape, Activation output, Loss loss,
             int64_t chunk_rows, Precision precision = Precision::native,
             bool allow_slices = true);

  // ---- layout
  int64_t n_layers() const { return int64_t(layers_.size()); }
  const Layer<T>& layer(int64_t i) const { return *layers_[size_t(i)]; }
  // Offsets of layer i's slots in the flat parameter / state vectors (params() order).
  const std::vector<int64_t>& param_offsets(int64_t i) const { return param_at_[size_t(i)]; }
  const std::vector<int64_t>& state_offsets(int64_t i) const { return state_at_[size_t(i)]; }
  const std::vector<LayerSpec>& specs() const { return specs_; }
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return layers_.back()->output_shape(); }
  int64_t input_size() const { return input_size_; }
  int64_t output_size() const { return output_size_; }
  int64_t n_params() const { return n_params_; }
  int64_t n_decayed() const { return n_decayed_; }  // the L2 penalty covers params[:n_decayed]
  int64_t n_state() const { return n_state_; }
  int64_t chunk_rows() const { return chunk_rows_; }
  Activation output_activation() const { return output_; }
  Precision precision() const { return precision_; }
  // Values of T the engine and its layers keep per sample of a pass.
  int64_t workspace_per_row() const;
  bool sliced() const { return !slices_.empty(); }
  // Multiply-adds of one sample's forward pass.
  int64_t macs_per_row() const { return macs_per_row_; }
  // Whether a pass over a batch equals passes over its row slices (no layer couples rows
  // or keeps state such as batch statistics): what lets a trainer split its batches.
  bool rows_independent() const { return rows_independent_; }

  // ---- building blocks (n <= chunk_rows)
  // The network's output (n, output_size) for x (n, input_size), after the output
  // activation; a pointer into the engine, valid until the next forward. ctx: training,
  // update_state, seed, the data rows of x (dropout masks); its layer, gemm and precision
  // are the engine's. x must stay unchanged until the backward pass that follows.
  const T* forward(const T* params, T* state, const T* x, int64_t n, const Context& ctx);
  // After forward(x): from dout (n, output_size) = d loss / d (the last layer's output,
  // before the output activation, which belongs to the loss), overwritten, the parameter
  // gradients into grad (n_params; overwritten, or added to with ctx.accumulate) and
  // dx (n, input_size) = d loss / d x unless dx is null.
  void backward(const T* params, T* grad, T* dx, T* dout, int64_t n, const Context& ctx);
  // The loss terms the layers added in the last forward pass (Layer::added_loss), summed
  // over its rows and reported on the loss's scale: divided by output_size for the losses
  // reported as a mean over outputs (squared, absolute and huber error), whose gradient
  // is that of the sum, so the terms keep their weight relative to the data term.
  double added_loss() const;

  // ---- loss-level calls (as nn/network.h's Network)
  // Full-batch loss of rows (all of X when rows is null) with its L2 term, and its
  // gradient in grad (n_params): L = sum_i sw_i loss_i / S + 0.5 alpha ||w[:n_decayed]||^2 / S.
  // training: batch statistics and dropout with `seed` (a fixed mask: what a gradient
  // check differentiates), without updating the state. `check` runs between chunks.
  double loss_grad(const T* params, const T* state, T* grad, const InputMatrix<T>& X,
                   const T* Y, const T* sw, const int64_t* rows, int64_t m, double alpha,
                   bool training, uint64_t seed, const InterruptCheck& check = InterruptCheck(),
                   bool* interrupted = nullptr);
  // One epoch of the shared loop (nn/train_loop.h, train_epoch_loop) on training passes
  // that update `state`; dropout_seed: the epoch's masks.
  double train_epoch(T* params, T* state, T* state_a, T* state_b, int64_t& adam_t,
                     const OptimizerConfig& opt, const InputMatrix<T>& X, const T* Y,
                     const T* sw, const int64_t* order, int64_t m, int64_t batch_size,
                     double alpha, int64_t first_step, uint64_t dropout_seed,
                     const InterruptCheck& check, bool* interrupted);
  // Mean data loss of all of X (inference passes, no L2 term): the validation loss.
  double mean_loss(const T* params, const T* state, const InputMatrix<T>& X, const T* Y,
                   const T* sw, const InterruptCheck& check = InterruptCheck(),
                   bool* interrupted = nullptr);
  // out (n, output_size) = the network's output for X (inference passes).
  void predict(const T* params, const T* state, const InputMatrix<T>& X, T* out,
               const InterruptCheck& check = InterruptCheck(), bool* interrupted = nullptr);

 private:
  // The data term for rows (rows[i], or first+i) in chunks: returns sum_i sw_i loss_i, sets
  // *weight_sum = S, leaves the unscaled sum of per-row gradients in grad.
  double data_loss_grad(const T* params, T* state, T* grad, const InputMatrix<T>& X,
                        const T* Y, const T* sw, const int64_t* rows, int64_t first, int64_t m,
                        double* weight_sum, Context ctx, const InterruptCheck& check,
                        bool* interrupted);
  // data_loss_grad of one mini-batch, over the row slices when the network has them; the
  // last slice's gradient may be left in *more (see sum_over_row_slices).
  double batch_data_loss_grad(const T* params, T* state, T* grad, const T** more,
                              const InputMatrix<T>& X,
                              const T* Y, const T* sw, const int64_t* rows, int64_t first,
                              int64_t m, double* weight_sum, const Context& ctx);
  Context layer_context(const Context& ctx, int64_t layer);

  std::vector<LayerSpec> specs_;
  std::vector<std::unique_ptr<Layer<T>>> layers_;
  std::vector<std::vector<int64_t>> param_at_, state_at_;
  Shape input_shape_;
  int64_t input_size_ = 0, output_size_ = 0;
  int64_t n_params_ = 0, n_decayed_ = 0, n_state_ = 0;
  int64_t macs_per_row_ = 0;
  bool rows_independent_ = true;
  Activation output_;
  Loss loss_;
  int64_t chunk_rows_;
  Precision precision_;

  std::vector<AlignedBuffer<T>> acts_;  // acts_[l]: output of layer l, (chunk, size)
  AlignedBuffer<T> out_;                // the output after a non-identity output activation
  AlignedBuffer<T> delta_a_, delta_b_;  // (chunk, widest layer input or output)
  AlignedBuffer<T> x_gather_, y_gather_, sw_gather_, grad_buf_;
  const T* last_x_ = nullptr;           // the input of the last forward pass
  std::vector<double> partial_sums_;
  std::vector<std::unique_ptr<Sequential<T>>> slices_;
  std::vector<AlignedBuffer<T>> slice_grads_;  // gradients of slices 1.. (slice 0: grad)
  SliceScheduler slice_scheduler_;
  GemmWorkspace gemm_ws_;
};

}  // namespace fastmlp
