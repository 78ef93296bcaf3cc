// The layer interface of the engine (layers/sequential.h): every layer kind (Dense, Conv1D,
// BatchNormalization, GRU, ...) implements it once, forward and backward side by side.
// Shapes are per sample, channels last, without the batch axis: {features},
// {steps, channels}, {height, width, channels}. A layer is described by plain data (a
// LayerSpec: kind, arguments, sub-layers) so Python can describe a stack as lists and dicts;
// make_layer<T> (layers/registry.cpp) builds it. Its shapes are checked once, in build();
// its parameters are slots of the network's one flat parameter vector, placed by the
// engine; its workspaces are allocated once, in reserve(); forward and backward never
// allocate, throw or touch Python.
// Tested through the engine: tests/test_layers_*.py (oracles, finite differences, threads).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "gemm/gemm.h"

namespace fastmlp {

using Shape = std::vector<int64_t>;

int64_t shape_size(const Shape& s);          // product of the dimensions (1 for {})
std::string shape_str(const Shape& s);       // "(40, 1)", as Python prints a tuple

// One argument of a layer: an integer (bools too), a float, a string or a tuple of integers.
using LayerArg = std::variant<int64_t, double, std::string, std::vector<int64_t>>;

// A layer as plain data: Keras's class name as kind ("Conv1D"), its arguments, and the
// sub-layers of a composite layer (Bidirectional(GRU), a TransformerEncoder block).
struct LayerSpec {
  std::string kind;
  std::map<std::string, LayerArg> args;
  std::vector<LayerSpec> children;

  // The argument, or `fallback` when absent; std::invalid_argument naming the argument when
  // it has another type. An int is accepted where a float is asked for.
  int64_t get_int(const std::string& name, int64_t fallback) const;
  double get_float(const std::string& name, double fallback) const;
  std::string get_str(const std::string& name, const std::string& fallback) const;
  // A tuple of integers; a single integer k stands for `dims` copies of k (Keras's
  // kernel_size=3 for (3, 3)). std::invalid_argument unless it ends with `dims` entries.
  std::vector<int64_t> get_ints(const std::string& name, const std::vector<int64_t>& fallback,
                                size_t dims) const;
  bool has(const std::string& name) const { return args.count(name) != 0; }
  // std::invalid_argument naming any argument not in `known` (a typo must not pass).
  void check_known(const std::vector<std::string>& known) const;
};

// A trainable slot of the flat parameter vector. `decayed` slots get the L2 penalty (and
// AdamW's decay): kernels yes, biases and normalisation scales no. The engine lays out
// all decayed slots of all layers (layer order) before all the others, which for a stack
// of Dense layers is scikit-learn's packing [W_0..W_{L-1}, b_0..b_{L-1}]. Python draws
// the initial values with numpy from `init` and the fans (Keras's initializer names:
// "glorot_uniform", "zeros", "ones", "orthogonal", ...).
struct ParamSlot {
  std::string name;  // "kernel", "bias", "gamma", ...
  Shape shape;
  bool decayed = false;
  std::string init = "zeros";
  int64_t fan_in = 0, fan_out = 0;
};

// A non-trainable slot (BatchNormalization's moving mean and variance): a second flat
// vector, updated by training passes, read by inference passes.
struct StateSlot {
  std::string name;
  Shape shape;
  std::string init = "zeros";
};

// What a pass tells its layers.
struct Context {
  // Training passes use batch statistics (BatchNormalization) and drop units (Dropout);
  // inference passes use the moving statistics and keep every unit.
  bool training = false;
  // Training passes of train_epoch update the non-trainable state (moving averages);
  // the full-batch loss_grad of the gradient checks leaves it as it is.
  bool update_state = false;
  // The dropout masks' seed: a unit's mask is a pure function of (seed, layer, data row,
  // unit) (nn/dropout_math.h), so masks depend on neither batch boundaries nor threads.
  uint64_t seed = 0;
  // The data row of sample i of the pass: rows[i], or first + i when rows is null.
  const int64_t* rows = nullptr;
  int64_t first = 0;
  // backward adds into the parameter gradients instead of overwriting them.
  bool accumulate = false;
  // false: backward needs only dx (a trainer differentiating through a network it does
  // not update: a GAN's discriminator in the generator's step); the layers with the
  // costly weight products (Dense, convolutions) then skip them, and grad's contents
  // are unspecified.
  bool param_grads = true;
  // Set by the engine for each layer: its index (dropout streams), the GEMM workspace it
  // shares with the other layers, and the precision of its products.
  int64_t layer = 0;
  GemmWorkspace* gemm = nullptr;
  Precision precision = Precision::native;
};

template <typename T>
class Layer {
 public:
  virtual ~Layer() = default;

  const std::string& kind() const { return kind_; }
  const Shape& input_shape() const { return in_; }
  const Shape& output_shape() const { return out_; }

  // Once, when the network is built: checks the input shape and returns the output shape;
  // std::invalid_argument with a message naming the shapes when they do not fit (the
  // engine prefixes the layer's index and kind).
  Shape build(const Shape& in) {
    in_ = in;
    out_ = infer(in);
    return out_;
  }
  virtual std::vector<ParamSlot> params() const { return {}; }
  virtual std::vector<StateSlot> states() const { return {}; }
  // The engine's placement of the slots in the flat vectors (one offset per slot, in the
  // order params() / states() list them). Composite layers hand them on to sub-layers.
  virtual void place(const std::vector<int64_t>& param_offsets,
                     const std::vector<int64_t>& state_offsets) {
    param_at_ = param_offsets;
    state_at_ = state_offsets;
  }
  // Values of T kept per sample between forward and backward, beyond the input and output
  // the engine keeps (the memory figures and the MemoryError check before training).
  virtual int64_t workspace_per_row() const { return 0; }
  // Allocates the workspaces for passes of up to `rows` samples (once per network).
  virtual void reserve(int64_t rows) { (void)rows; }
  // Multiply-adds per sample of a forward pass (decides the engine's row slices).
  virtual int64_t macs_per_row() const { return 0; }
  // True when a sample's output depends on the other samples of the pass (batch
  // statistics): the engine then never splits a batch into row slices.
  virtual bool couples_rows() const { return false; }
  // True for layers whose work is many small pieces that threads cannot share well op by
  // op: recurrent layers (a chain of small dependent steps), attention (one small product
  // per sample and head). The engine then splits batches into row slices, one per core,
  // whenever they keep enough rows, whatever the multiply-adds per row.
  virtual bool prefers_row_slices() const { return false; }
  // Asks the layer to compute only the last step of its (steps, features) output, for a
  // reader that needs nothing else (LastStep; the attention and feed-forward of a
  // transformer block's last step). compact: the output shape becomes (1, features), the
  // last step alone; otherwise it stays, the other steps are left unspecified and backward
  // reads dy at the last step only. Called after build() and before place() and
  // reserve(); false (the default) where the layer computes every step anyway.
  virtual bool keep_last_step_only(bool compact) {
    (void)compact;
    return false;
  }
  // A term the layer adds to the network's loss (a VAE's KL divergence, Sampling), summed
  // over the rows of its last forward pass, unweighted by sample weights; its backward
  // adds the term's gradient to dx.
  virtual double added_loss() const { return 0.0; }

  // y (n, out) = layer(x (n, in)); state: the network's non-trainable vector.
  virtual void forward(const Context& ctx, const T* params, T* state, T* y, const T* x,
                       int64_t n) = 0;
  // From dy (n, out), d loss / d y (the layer may overwrite it): grad's slots (=)/(+=) per
  // ctx.accumulate, and dx (n, in) = d loss / d x unless dx is null. x and y are the
  // input and output of the forward pass just before it, with its workspaces.
  virtual void backward(const Context& ctx, const T* params, T* grad, T* dx, T* dy,
                        const T* x, const T* y, int64_t n) = 0;

 protected:
  explicit Layer(std::string kind) : kind_(std::move(kind)) {}
  virtual Shape infer(const Shape& in) = 0;  // build()'s check and output shape

  const T* param(const T* base, size_t slot) const { return base + param_at_[slot]; }
  T* grad_of(T* base, size_t slot) const { return base + param_at_[slot]; }
  T* state_of(T* base, size_t slot) const { return base + state_at_[slot]; }

  Shape in_, out_;

 private:
  std::string kind_;
  std::vector<int64_t> param_at_, state_at_;
};

// The layer a spec describes; std::invalid_argument for an unknown kind or bad arguments.
template <typename T>
std::unique_ptr<Layer<T>> make_layer(const LayerSpec& spec);

}  // namespace fastmlp
