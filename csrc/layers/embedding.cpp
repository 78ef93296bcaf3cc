// Token and position embeddings, channels last.
//   Embedding(input_dim, output_dim): y (..., output_dim) = embeddings[x (...)], a table
//   lookup of integer tokens, as Keras's Embedding. The tokens arrive as exact integers in
//   T (the estimators check them in Python first: integral, in [0, input_dim)); a value
//   that is not such a token gives a row of NaN, so that it can never pass unnoticed.
//   PositionEmbedding(max_length): y (steps, d) = x (steps, d) + embeddings[:steps], a
//   learned embedding of each position added to its input.
// Both tables are decayed slots (the L2 penalty and AdamW's decay apply, as to kernels).
// The embedding's backward adds rows into the table in row order: one thread, one order,
// so the bits do not depend on the thread count.
// Tested in tests/test_layers_attention.py (numpy oracles, finite differences, bad tokens).
#include <cmath>
#include <cstring>
#include <limits>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "layers/kinds.h"

namespace fastmlp {

namespace {

template <typename T>
class EmbeddingLayer final : public Layer<T> {
 public:
  explicit EmbeddingLayer(const LayerSpec& spec) : Layer<T>("Embedding") {
    spec.check_known({"input_dim", "output_dim"});
    vocab_ = spec.get_int("input_dim", 0);
    dim_ = spec.get_int("output_dim", 0);
    FASTMLP_CHECK(vocab_ > 0, "input_dim must be > 0, got " + std::to_string(vocab_));
    FASTMLP_CHECK(dim_ > 0, "output_dim must be > 0, got " + std::to_string(dim_));
    // Tokens travel as values of T: every one of them must be exact.
    constexpr int64_t exact = int64_t(1) << std::numeric_limits<T>::digits;
    FASTMLP_CHECK(vocab_ <= exact,
                  "input_dim " + std::to_string(vocab_) + " is above " + std::to_string(exact) +
                      ", the largest token a " + (sizeof(T) == 4 ? "float32" : "float64") +
                      " network carries exactly: train in float64 (precision='float64')");
  }

  std::vector<ParamSlot> params() const override {
    return {{"embeddings", {vocab_, dim_}, true, "random_uniform", vocab_, dim_}};
  }
  int64_t macs_per_row() const override { return tokens_ * dim_; }

  // y (n*tokens, dim) = embeddings[x (n*tokens)]
  void forward(const Context&, const T* params, T*, T* y, const T* x, int64_t n) override {
    const T* table = this->param(params, 0);
    const int64_t m = n * tokens_;
    parallel_rows(m, dim_, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t t = token(x[r]);
        T* out = y + r * dim_;
        if (t < 0)
          std::fill(out, out + dim_, std::numeric_limits<T>::quiet_NaN());
        else
          std::memcpy(out, table + t * dim_, sizeof(T) * size_t(dim_));
      }
    });
  }

  // d embeddings[t] (+)= sum of dy over the rows holding token t; tokens have no gradient
  // (dx, when asked for, is zero).
  void backward(const Context& ctx, const T*, T* grad, T* dx, T* dy, const T* x, const T*,
                int64_t n) override {
    T* g = this->grad_of(grad, 0);
    if (!ctx.accumulate) std::fill(g, g + vocab_ * dim_, T(0));
    const int64_t m = n * tokens_;
    for (int64_t r = 0; r < m; ++r) {
      const int64_t t = token(x[r]);
      if (t < 0) continue;
      T* row = g + t * dim_;
      const T* d = dy + r * dim_;
#pragma omp simd
      for (int64_t k = 0; k < dim_; ++k) row[k] += d[k];
    }
    if (dx) std::fill(dx, dx + m, T(0));
  }

 private:
  Shape infer(const Shape& in) override {
    tokens_ = shape_size(in);
    Shape out = in;
    out.push_back(dim_);
    return out;
  }

  // The token x stands for, or -1 when x is not an integer in [0, vocab).
  int64_t token(T x) const {
    if (!(x >= T(0) && x < T(vocab_))) return -1;  // NaN fails too
    const int64_t t = int64_t(x);
    return T(t) == x ? t : -1;
  }

  int64_t vocab_, dim_, tokens_ = 0;
};

template <typename T>
class PositionEmbeddingLayer final : public Layer<T> {
 public:
  explicit PositionEmbeddingLayer(const LayerSpec& spec) : Layer<T>("PositionEmbedding") {
    spec.check_known({"max_length"});
    max_length_ = spec.get_int("max_length", 0);
    FASTMLP_CHECK(max_length_ > 0, "max_length must be > 0, got " + std::to_string(max_length_));
  }

  std::vector<ParamSlot> params() const override {
    return {{"embeddings", {max_length_, dim_}, true, "glorot_uniform", max_length_, dim_}};
  }
  int64_t macs_per_row() const override { return steps_ * dim_; }

  // y (n, steps, dim) = x (n, steps, dim) + embeddings[:steps]
  void forward(const Context&, const T* params, T*, T* y, const T* x, int64_t n) override {
    const T* table = this->param(params, 0);
    const int64_t size = steps_ * dim_;
    parallel_rows(n, size, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
  #pragma omp simd
        for (int64_t k = 0; k < size; ++k) y[i * size + k] = x[i * size + k] + table[k];
      }
    });
  }

  // d embeddings[:steps] (+)= sum over samples of dy (samples in order); dx = dy.
  void backward(const Context& ctx, const T*, T* grad, T* dx, T* dy, const T*, const T*,
                int64_t n) override {
    const int64_t size = steps_ * dim_;
    T* g = this->grad_of(grad, 0);
    // Column slices of the table: each entry is summed over the samples in one order by
    // one thread, whatever the thread count.
    constexpr int64_t kSlice = 256;
    const int64_t slices = (size + kSlice - 1) / kSlice;
    parallel_rows(slices, n * kSlice, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s) {
        const int64_t lo = s * kSlice, hi = std::min(size, lo + kSlice);
        if (!ctx.accumulate) std::fill(g + lo, g + hi, T(0));
        for (int64_t i = 0; i < n; ++i) {
          const T* d = dy + i * size;
  #pragma omp simd
          for (int64_t k = lo; k < hi; ++k) g[k] += d[k];
        }
      }
    });
    if (dx && dx != dy) std::memcpy(dx, dy, sizeof(T) * size_t(n * size));
  }

 private:
  Shape infer(const Shape& in) override {
    FASTMLP_CHECK(in.size() == 2, "needs samples of shape (steps, features), got " +
                                      shape_str(in));
    FASTMLP_CHECK(in[0] <= max_length_,
                  "a sequence of " + std::to_string(in[0]) + " steps (input shape " +
                      shape_str(in) + ") is longer than max_length " +
                      std::to_string(max_length_));
    steps_ = in[0];
    dim_ = in[1];
    return in;
  }

  int64_t max_length_, steps_ = 0, dim_ = 0;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> make_embedding(const LayerSpec& spec) {
  return std::make_unique<EmbeddingLayer<T>>(spec);
}

template <typename T>
std::unique_ptr<Layer<T>> make_position_embedding(const LayerSpec& spec) {
  return std::make_unique<PositionEmbeddingLayer<T>>(spec);
}

template std::unique_ptr<Layer<float>> make_embedding<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_embedding<double>(const LayerSpec&);
template std::unique_ptr<Layer<float>> make_position_embedding<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_position_embedding<double>(const LayerSpec&);

}  // namespace fastmlp
