// TransformerEncoder(num_heads, key_dim, ff_dim, dropout=0, norm_first=True,
// activation="relu", causal=False, layer_norm_epsilon=1e-5): one encoder block over
// (steps, features), built from the engine's own layers (MultiHeadAttention,
// LayerNormalization, two Dense) as keras_hub's TransformerEncoder:
//   norm_first (pre-norm):  h = x + drop(MHA(LN1(x)));  y = h + drop(FF(LN2(h)))
//   post-norm:              h = LN1(x + drop(MHA(x)));  y = LN2(h + drop(FF(h)))
//   FF(z) = Dense(features)(drop(activation(Dense(ff_dim)(z))))
// where `dropout` also drops the attention weights (PyTorch's TransformerEncoderLayer
// drops in the same four places). Each dropout has its own mask stream (the block's
// layer index with a sub-index in the high bits), so masks stay a pure function of
// (seed, layer, data row, unit).
// The block's slots are its parts' slots, named "<part>/<slot>":
// self_attention_layer_norm, self_attention, feedforward_layer_norm,
// feedforward_intermediate_dense, feedforward_output_dense (keras_hub's names).
// Read by LastStep (keep_last_step_only), a block computes keys and values for every step
// and everything else for the last step only: the same function, about 1/4 of the work.
// Tested in tests/test_layers_attention.py (numpy oracle, finite differences in both
// norm orders, with dropout and causal, threads, the last step alone against every step).
#include <algorithm>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "layers/kinds.h"
#include "nn/dropout.h"
#include "nn/train_loop.h"

namespace fastmlp {

namespace {

// Sub-streams of the block's dropouts: the block's layer index plus k << 32.
constexpr int64_t kStreamStride = int64_t(1) << 32;

// out (m) = a + b
template <typename T>
void add_to(T* out, const T* a, const T* b, int64_t m) {
  parallel_rows(m, 1, [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) out[i] = a[i] + b[i];
  });
}

// a (m) *= mask (m)
template <typename T>
void apply_mask(T* a, const T* mask, int64_t m) {
  dropout_backward(a, mask, m, int64_t(1));
}

template <typename T>
class TransformerEncoderLayer final : public Layer<T> {
 public:
  explicit TransformerEncoderLayer(const LayerSpec& spec) : Layer<T>("TransformerEncoder") {
    spec.check_known({"num_heads", "key_dim", "ff_dim", "dropout", "norm_first", "activation",
                      "causal", "layer_norm_epsilon", "impl"});
    const int64_t ff = spec.get_int("ff_dim", 0);
    FASTMLP_CHECK(ff > 0, "ff_dim must be > 0, got " + std::to_string(ff));
    rate_ = spec.get_float("dropout", 0.0);
    FASTMLP_CHECK(rate_ >= 0.0 && rate_ < 1.0,
                  "dropout must be in [0, 1), got " + std::to_string(rate_));
    norm_first_ = spec.get_int("norm_first", 1) != 0;
    const std::string activation = spec.get_str("activation", "relu");
    FASTMLP_CHECK(activation == "gelu" || activation == "relu",
                  "activation must be 'gelu' or 'relu', got '" + activation + "'");
    const double eps = spec.get_float("layer_norm_epsilon", 1e-5);
    LayerSpec attention{"MultiHeadAttention",
                        {{"num_heads", spec.get_int("num_heads", 0)},
                         {"key_dim", spec.get_int("key_dim", 0)},
                         {"dropout", rate_},
                         {"causal", spec.get_int("causal", 0)},
                         {"impl", spec.get_str("impl", "auto")}},
                        {}};
    LayerSpec norm{"LayerNormalization", {{"epsilon", eps}}, {}};
    ln1_ = make_layer<T>(norm);
    mha_ = make_layer<T>(attention);
    ln2_ = make_layer<T>(norm);
    ff1_ = make_layer<T>(LayerSpec{"Dense", {{"units", ff}, {"activation", activation}}, {}});
    ff_dim_ = ff;
  }

  std::vector<ParamSlot> params() const override {
    std::vector<ParamSlot> out;
    for (size_t i = 0; i < 5; ++i)
      for (ParamSlot slot : part(i).params()) {
        slot.name = std::string(kPartNames[i]) + "/" + slot.name;
        out.push_back(slot);
      }
    return out;
  }
  void place(const std::vector<int64_t>& param_offsets,
             const std::vector<int64_t>& state_offsets) override {
    Layer<T>::place(param_offsets, state_offsets);
    size_t at = 0;
    for (size_t i = 0; i < 5; ++i) {
      const size_t count = part(i).params().size();
      std::vector<int64_t> mine(param_offsets.begin() + long(at),
                                param_offsets.begin() + long(at + count));
      part(i).place(mine, {});
      at += count;
    }
  }

  int64_t workspace_per_row() const override {
    int64_t total = 0;
    for (size_t i = 0; i < 5; ++i) total += part(i).workspace_per_row();
    // five (steps, features) activations, two deltas, the hidden activation and its
    // delta (and its dropped copy), three masks with dropout
    total += 7 * size_ + (rate_ > 0 ? 3 : 2) * hidden_;
    if (rate_ > 0) total += 2 * size_ + hidden_;
    if (last_only_) total += 3 * this->in_[1];  // x, y and dy at the last step
    return total;
  }
  void reserve(int64_t rows) override {
    for (size_t i = 0; i < 5; ++i) part(i).reserve(rows);
    const size_t size = size_t(checked_mul(rows, size_));
    const size_t hidden = size_t(checked_mul(rows, hidden_));
    for (auto* b : {&t1_, &t2_, &t3_, &t4_, &t5_, &d1_, &d2_}) b->reserve(size);
    if (last_only_)
      for (auto* b : {&x_last_, &y_last_, &dy_last_})
        b->reserve(size_t(checked_mul(rows, this->in_[1])));
    f_.reserve(hidden);
    df_.reserve(hidden);
    if (rate_ > 0) {
      fd_.reserve(hidden);
      for (auto* b : {&mask1_, &mask2_}) b->reserve(size);
      mask_ff_.reserve(hidden);
    }
  }
  bool prefers_row_slices() const override { return true; }
  // The attention's queries and everything after it at the last step only; its keys and
  // values (and in pre-norm the first LayerNormalization) still see every step.
  bool keep_last_step_only(bool compact) override {
    if (!mha_->keep_last_step_only(true)) return false;
    const int64_t f = this->in_[1], last = this->in_[0] - 1;
    const Shape step = {1, f};
    if (!norm_first_) ln1_->build(step);
    ln2_->build(step);
    ff2_->build(ff1_->build(step));
    if (compact) this->out_ = step;
    last_only_ = true;
    compact_ = compact;
    step_size_ = f;
    step_hidden_ = ff_dim_;
    size_at_ = last * f;
    hidden_at_ = last * ff_dim_;
    return true;
  }
  int64_t macs_per_row() const override {
    int64_t total = 0;
    for (size_t i = 0; i < 5; ++i) total += part(i).macs_per_row();
    return total;
  }

  // y (n, steps, features) = block(x (n, steps, features))
  void forward(const Context& ctx, const T* params, T* state, T* y, const T* x,
               int64_t n) override {
    dropping_ = ctx.training && rate_ > 0;
    const Context attn = sub(ctx, 4);
    // last_only_: the residuals start from x's last steps, the output is y's last steps
    const T* base = last_only_ ? last_steps(x_last_.data(), x, n) : x;
    T* out = last_only_ && !compact_ ? y_last_.data() : y;
    if (norm_first_) {
      T *a = t1_.data(), *att = t2_.data(), *h = t3_.data(), *b = t4_.data();
      ln1_->forward(ctx, params, state, a, x, n);
      mha_->forward(attn, params, state, att, a, n);
      residual(ctx, 1, h, base, att, mask1_.data(), n);
      ln2_->forward(ctx, params, state, b, h, n);
      feed_forward(ctx, params, state, t5_.data(), b, n);
      residual(ctx, 3, out, h, t5_.data(), mask2_.data(), n);
    } else {
      T *att = t1_.data(), *h0 = t2_.data(), *h = t3_.data(), *y0 = t4_.data();
      mha_->forward(attn, params, state, att, x, n);
      residual(ctx, 1, h0, base, att, mask1_.data(), n);
      ln1_->forward(ctx, params, state, h, h0, n);
      feed_forward(ctx, params, state, t5_.data(), h, n);
      residual(ctx, 3, y0, h, t5_.data(), mask2_.data(), n);
      ln2_->forward(ctx, params, state, out, y0, n);
    }
    if (out != y)
      for (int64_t i = 0; i < n; ++i)
        std::copy(out + i * step_size_, out + (i + 1) * step_size_, y + i * size_ + size_at_);
  }

  void backward(const Context& ctx, const T* params, T* grad, T* dx, T* dy, const T* x,
                const T* y, int64_t n) override {
    const int64_t m = n * step_size_;
    const Context attn = sub(ctx, 4);
    T *d1 = d1_.data(), *d2 = d2_.data();
    // last_only_: dy and y at the last steps; the residual's gradient reaches x's last
    // steps alone, the attention's every step (through the keys and values)
    T* dyl = last_only_ && !compact_ ? last_steps(dy_last_.data(), dy, n) : dy;
    const T* out = last_only_ && !compact_ ? y_last_.data() : y;
    if (norm_first_) {
      T *a = t1_.data(), *att = t2_.data(), *h = t3_.data(), *b = t4_.data();
      // dy reaches h directly and through the feed-forward branch
      feed_forward_backward(ctx, params, grad, d2, dyl, d1, b, n);  // d2: d loss / d b
      ln2_->backward(ctx, params, grad, d1, d2, h, b, n);         // d1: the branch's d h
      add_to(dyl, dyl, d1, m);                                    // dyl: d loss / d h
      T* datt = masked(d2, dyl, mask1_.data(), m);                // d loss / d att
      mha_->backward(attn, params, grad, d1, datt, a, att, n);    // d1: d loss / d a
      ln1_->backward(ctx, params, grad, dx, d1, x, a, n);
      if (dx) add_residual(dx, dyl, n);
    } else {
      T *att = t1_.data(), *h0 = t2_.data(), *h = t3_.data(), *y0 = t4_.data();
      ln2_->backward(ctx, params, grad, d1, dyl, y0, out, n);     // d1: d loss / d y0
      feed_forward_backward(ctx, params, grad, d2, d1, dyl, h, n);  // d2: the branch's d h
      add_to(d1, d1, d2, m);                                      // d1: d loss / d h
      ln1_->backward(ctx, params, grad, d2, d1, h0, h, n);        // d2: d loss / d h0
      T* datt = masked(d1, d2, mask1_.data(), m);                 // d loss / d att
      mha_->backward(attn, params, grad, dx, datt, x, att, n);
      if (dx) add_residual(dx, d2, n);
    }
  }

 private:
  static constexpr const char* kPartNames[5] = {
      "self_attention_layer_norm", "self_attention", "feedforward_layer_norm",
      "feedforward_intermediate_dense", "feedforward_output_dense"};

  Layer<T>& part(size_t i) const {
    Layer<T>* parts[5] = {ln1_.get(), mha_.get(), ln2_.get(), ff1_.get(), ff2_.get()};
    return *parts[i];
  }

  Shape infer(const Shape& in) override {
    FASTMLP_CHECK(in.size() == 2,
                  "needs samples of shape (steps, features), got " + shape_str(in));
    ff2_ = make_layer<T>(LayerSpec{"Dense", {{"units", in[1]}}, {}});
    ln1_->build(in);
    mha_->build(in);
    ln2_->build(in);
    ff2_->build(ff1_->build(in));
    size_ = step_size_ = shape_size(in);
    hidden_ = step_hidden_ = in[0] * ff_dim_;
    return in;
  }

  // out (n, step_size_) = the last steps of a (n, steps, features)
  T* last_steps(T* out, const T* a, int64_t n) const {
    for (int64_t i = 0; i < n; ++i)
      std::copy(a + i * size_ + size_at_, a + i * size_ + size_at_ + step_size_,
                out + i * step_size_);
    return out;
  }

  // dx (n, steps, features) += the residual's gradient d (n, step_size_), at the last
  // steps when only they were computed
  void add_residual(T* dx, const T* d, int64_t n) const {
    if (!last_only_) {
      add_to(dx, dx, d, n * size_);
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      T* row = dx + i * size_ + size_at_;
      const T* di = d + i * step_size_;
#pragma omp simd
      for (int64_t j = 0; j < step_size_; ++j) row[j] += di[j];
    }
  }

  Context sub(const Context& ctx, int64_t k) const {
    Context c = ctx;
    c.layer = ctx.layer + k * kStreamStride;
    return c;
  }

  // out = base + dropout_k(branch) (n samples of step_size_); mask kept for backward
  void residual(const Context& ctx, int64_t k, T* out, const T* base, T* branch, T* mask,
                int64_t n) {
    if (dropping_)
      dropout_forward(branch, mask, branch, ctx.rows, ctx.first, n, step_size_, rate_, ctx.seed,
                      sub(ctx, k).layer, size_, size_at_);
    add_to(out, base, branch, n * step_size_);
  }

  // The gradient before a dropout from dy after it: out = dy * mask where dropping, else
  // dy itself (no copy: the parts it goes to, MultiHeadAttention and an identity Dense,
  // only read their dy).
  T* masked(T* out, T* dy, const T* mask, int64_t m) const {
    if (!dropping_) return dy;
    for (int64_t i = 0; i < m; ++i) out[i] = dy[i] * mask[i];
    return out;
  }

  // g (n, steps, features) = ff2(drop(ff1(z)))
  void feed_forward(const Context& ctx, const T* params, T* state, T* g, const T* z, int64_t n) {
    ff1_->forward(ctx, params, state, f_.data(), z, n);
    const T* hidden = f_.data();
    if (dropping_) {
      dropout_forward(fd_.data(), mask_ff_.data(), f_.data(), ctx.rows, ctx.first, n,
                      step_hidden_, rate_, ctx.seed, sub(ctx, 2).layer, hidden_, hidden_at_);
      hidden = fd_.data();
    }
    ff2_->forward(ctx, params, state, g, hidden, n);
  }

  // From dg = d loss / d (the branch's output before its dropout): dz (n, steps,
  // features) = d loss / d z; `scratch` (as large as dg) takes dg's masked copy.
  void feed_forward_backward(const Context& ctx, const T* params, T* grad, T* dz, T* dg,
                             T* scratch, const T* z, int64_t n) {
    T* d = masked(scratch, dg, mask2_.data(), n * step_size_);
    const T* hidden = dropping_ ? fd_.data() : f_.data();
    ff2_->backward(ctx, params, grad, df_.data(), d, hidden, t5_.data(), n);
    if (dropping_) apply_mask(df_.data(), mask_ff_.data(), n * step_hidden_);
    ff1_->backward(ctx, params, grad, dz, df_.data(), z, f_.data(), n);
  }

  double rate_;
  bool norm_first_;
  int64_t ff_dim_ = 0, size_ = 0, hidden_ = 0;
  // What the parts after the attention compute per sample: every step (size_, hidden_),
  // or the last step alone (keep_last_step_only), which starts at size_at_ / hidden_at_
  // of a sample's values (and its dropout units).
  int64_t step_size_ = 0, step_hidden_ = 0, size_at_ = 0, hidden_at_ = 0;
  // keep_last_step_only: the last steps alone, written to y's (x_last_, y_last_, dy_last_),
  // or compact_: y is (n, 1, features)
  bool last_only_ = false, compact_ = false;
  bool dropping_ = false;   // whether the last forward dropped (backward follows it)
  std::unique_ptr<Layer<T>> ln1_, mha_, ln2_, ff1_, ff2_;
  // t1..t5: the block's activations (see forward); d1, d2, df: deltas
  AlignedBuffer<T> t1_, t2_, t3_, t4_, t5_, d1_, d2_, f_, fd_, df_, mask1_, mask2_, mask_ff_;
  AlignedBuffer<T> x_last_, y_last_, dy_last_;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_transformer_encoder(const LayerSpec& spec) {
  return std::make_unique<TransformerEncoderLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_transformer_encoder<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_transformer_encoder<double>(const LayerSpec&);

}  // namespace fastmlp
