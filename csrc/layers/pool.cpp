// Pooling layers, 1-D and 2-D, channels last: MaxPooling and AveragePooling (Keras's
// pool_size, strides = pool_size by default, padding "valid"/"same"; the average counts
// only the values inside the input, as Keras's), and GlobalMaxPooling/GlobalAveragePooling
// (one window over all positions, output (channels,)). Direct loops vectorized over the
// channels; max pooling keeps the position of each maximum (the first one on ties) for
// backward. Samples are independent, so threads split samples and nothing depends on
// their count. Tested in tests/test_layers_conv.py (numpy oracles, finite differences).
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "common/simd_clones.h"
#include "layers/kinds.h"
#include "layers/window.h"
#include "nn/train_loop.h"

namespace fastmlp {

namespace {

// One more window value v (at offset `at`) into the running max (argmax am) or sum.
template <bool Max, typename T>
__attribute__((always_inline)) inline void pool_step(T* out, int32_t* am, const T* v,
                                                     int32_t at, int64_t c) {
  if constexpr (Max) {
    // The first maximum wins; a NaN replaces anything (it propagates).
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      const bool take = v[k] > out[k] || v[k] != v[k];
      out[k] = take ? v[k] : out[k];
      am[k] = take ? at + int32_t(k) : am[k];
    }
  } else {
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) out[k] += v[k];
  }
}

// Whether every window lies inside the input (no bounds to check).
inline bool windows_inside(const Window& g) {
  return g.h.pad == 0 && g.w.pad == 0 && (g.h.out - 1) * g.h.stride + g.h.size <= g.h.in &&
         (g.w.out - 1) * g.w.stride + g.w.size <= g.w.in;
}

// One sample: y (oh, ow, c) = the max (and its offset in arg) or the mean of each window
// of x (h, w, c). One function for the whole sample, built per SIMD level, so the loops
// over the channels inline and vectorize even when they are short.
// row_offsets (windows_inside only; null otherwise): for each value j = q c + k of an
// output row, the offset of its window's first input value from the row's, q stride c + k.
// With it a whole output row is one vector loop per window tap (gathers), where the loops
// over c values per window run mostly as masked or scalar remainders when c is below a
// vector (LeNet's 6 channels: 16% of its epoch in this function). The taps, their order
// and the comparisons are the same: so are the results, bit for bit.
template <bool Max, typename T>
FASTMLP_SIMD_CLONES void pool_sample(T* y, int32_t* arg, const T* x, const Window& g,
                                     int64_t c, const int32_t* row_offsets) {
  if (row_offsets) {
    const int64_t width = g.w.out * c;
    const T inv = T(1) / T(g.taps());
    for (int64_t p = 0; p < g.h.out; ++p) {
      T* out = y + p * width;
      int32_t* am = Max ? arg + p * width : nullptr;
      const int32_t row = int32_t(p * g.h.stride * g.w.in * c);
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) {
        const int32_t at = row + row_offsets[j];
        out[j] = x[at];
        if constexpr (Max) am[j] = at;
      }
      for (int64_t a = 0; a < g.h.size; ++a)
        for (int64_t b = a == 0 ? 1 : 0; b < g.w.size; ++b) {
          const int32_t tap = row + int32_t((a * g.w.in + b) * c);
#pragma omp simd
          for (int64_t j = 0; j < width; ++j) {
            const int32_t at = tap + row_offsets[j];
            const T v = x[at];
            if constexpr (Max) {
              const bool take = v > out[j] || v != v;
              out[j] = take ? v : out[j];
              am[j] = take ? at : am[j];
            } else {
              out[j] += v;
            }
          }
        }
      if constexpr (!Max) {
#pragma omp simd
        for (int64_t j = 0; j < width; ++j) out[j] *= inv;
      }
    }
    return;
  }
  if (windows_inside(g)) {
    // Every window inside the input: no bounds to check.
    const T inv = T(1) / T(g.taps());
    for (int64_t p = 0; p < g.h.out; ++p)
      for (int64_t q = 0; q < g.w.out; ++q) {
        T* out = y + (p * g.w.out + q) * c;
        int32_t* am = Max ? arg + (p * g.w.out + q) * c : nullptr;
        const int32_t at0 = int32_t((p * g.h.stride * g.w.in + q * g.w.stride) * c);
        for (int64_t k = 0; k < c; ++k) {
          out[k] = x[at0 + k];
          if constexpr (Max) am[k] = at0 + int32_t(k);
        }
        for (int64_t a = 0; a < g.h.size; ++a)
          for (int64_t b = a == 0 ? 1 : 0; b < g.w.size; ++b) {
            const int32_t at = at0 + int32_t((a * g.w.in + b) * c);
            pool_step<Max>(out, am, x + at, at, c);
          }
        if constexpr (!Max) {
#pragma omp simd
          for (int64_t k = 0; k < c; ++k) out[k] *= inv;
        }
      }
    return;
  }
  for (int64_t p = 0; p < g.h.out; ++p)
    for (int64_t q = 0; q < g.w.out; ++q) {
      T* out = y + (p * g.w.out + q) * c;
      int32_t* am = Max ? arg + (p * g.w.out + q) * c : nullptr;
      int64_t count = 0;
      for (int64_t a = 0; a < g.h.size; ++a) {
        const int64_t r = p * g.h.stride + a - g.h.pad;
        if (r < 0 || r >= g.h.in) continue;
        for (int64_t b = 0; b < g.w.size; ++b) {
          const int64_t s = q * g.w.stride + b - g.w.pad;
          if (s < 0 || s >= g.w.in) continue;
          const int32_t at = int32_t((r * g.w.in + s) * c);
          const T* v = x + at;
          if (count++ == 0) {
            for (int64_t k = 0; k < c; ++k) {
              out[k] = v[k];
              if constexpr (Max) am[k] = at + int32_t(k);
            }
          } else {
            pool_step<Max>(out, am, v, at, c);
          }
        }
      }
      if constexpr (!Max) {
        const T inv = T(1) / T(count);
#pragma omp simd
        for (int64_t k = 0; k < c; ++k) out[k] *= inv;
      }
    }
}

template <typename T>
class PoolLayer final : public Layer<T> {
 public:
  PoolLayer(const LayerSpec& spec, const char* kind, size_t dims, bool max, bool global)
      : Layer<T>(kind), dims_(dims), max_(max), global_(global) {
    if (global) {
      spec.check_known({});
      return;
    }
    spec.check_known({"pool_size", "strides", "padding"});
    pool_ = spec.get_ints("pool_size", std::vector<int64_t>(dims, 2), dims);
    for (int64_t k : pool_)
      FASTMLP_CHECK(k > 0, "pool_size must be > 0, got " + std::to_string(k));
    strides_ = spec.has("strides") ? spec.get_ints("strides", {}, dims) : pool_;
    for (int64_t s : strides_)
      FASTMLP_CHECK(s > 0, "strides must be > 0, got " + std::to_string(s));
    padding_ = read_padding(spec, dims, "valid");
  }

  int64_t workspace_per_row() const override {
    // the positions of the maxima, as int32 (counted in values of T, rounded up)
    return max_ ? (shape_size(this->out_) * 4 + int64_t(sizeof(T)) - 1) / int64_t(sizeof(T)) : 0;
  }
  void reserve(int64_t rows) override {
    if (max_) argmax_.reserve(size_t(checked_mul(rows, shape_size(this->out_))));
  }
  int64_t macs_per_row() const override { return g_.out_positions() * g_.taps() * c_; }

  // y (n, oh, ow, c) = max or mean of each window of x (n, h, w, c)
  void forward(const Context&, const T*, T*, T* y, const T* x, int64_t n) override {
    const int64_t in_size = g_.h.in * g_.w.in * c_, out_size = g_.out_positions() * c_;
    const int32_t* rows = row_offsets_.empty() ? nullptr : row_offsets_.data();
    parallel_rows(n, in_size, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        if (max_)
          pool_sample<true>(y + i * out_size, argmax_.data() + i * out_size, x + i * in_size, g_,
                            c_, rows);
        else
          pool_sample<false>(y + i * out_size, nullptr, x + i * in_size, g_, c_, rows);
      }
    });
  }

  void backward(const Context&, const T*, T*, T* dx, T* dy, const T*, const T*,
                int64_t n) override {
    if (!dx) return;
    const int64_t in_size = g_.h.in * g_.w.in * c_, out_size = g_.out_positions() * c_;
    parallel_rows(n, in_size, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        T* di = dx + i * in_size;
        const T* gi = dy + i * out_size;
        std::fill(di, di + in_size, T(0));
        if (max_) {
          const int32_t* ai = argmax_.data() + i * out_size;
          for (int64_t j = 0; j < out_size; ++j) di[ai[j]] += gi[j];
          continue;
        }
        for (int64_t p = 0; p < g_.h.out; ++p)
          for (int64_t q = 0; q < g_.w.out; ++q) {
            const int64_t r0 = std::max<int64_t>(p * g_.h.stride - g_.h.pad, 0);
            const int64_t r1 = std::min(p * g_.h.stride - g_.h.pad + g_.h.size, g_.h.in);
            const int64_t s0 = std::max<int64_t>(q * g_.w.stride - g_.w.pad, 0);
            const int64_t s1 = std::min(q * g_.w.stride - g_.w.pad + g_.w.size, g_.w.in);
            const T inv = T(1) / T((r1 - r0) * (s1 - s0));
            const T* g = gi + (p * g_.w.out + q) * c_;
            for (int64_t r = r0; r < r1; ++r)
              for (int64_t s = s0; s < s1; ++s) {
                T* d = di + (r * g_.w.in + s) * c_;
  #pragma omp simd
                for (int64_t k = 0; k < c_; ++k) d[k] += g[k] * inv;
              }
          }
      }
    });
  }

 private:
  Shape infer(const Shape& in) override {
    int64_t h, w;
    spatial_input(in, dims_, &h, &w, &c_);
    FASTMLP_CHECK(h * w * c_ <= std::numeric_limits<int32_t>::max(), "input too large");
    if (global_) {
      g_.h = {h, h, 1, 0, 1};
      g_.w = {w, w, 1, 0, 1};
      return {c_};
    }
    const char* names[2] = {dims_ == 1 ? "steps" : "height", dims_ == 1 ? "steps" : "width"};
    for (size_t axis = 0; axis < dims_; ++axis) {
      const size_t slot = dims_ == 1 ? 1 : axis;  // which of h, w
      try {
        (slot == 0 ? g_.h : g_.w) = window_axis(slot == 0 ? h : w, pool_[axis], strides_[axis],
                                                padding_, axis, "pool_size");
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string(e.what()) + " along the " + names[slot] +
                                    " of input shape " + shape_str(in));
      }
    }
    // Fewer channels than a vector's lanes: whole output rows at a time (pool_sample).
    row_offsets_.clear();
    if (c_ < 64 / int64_t(sizeof(T)) && windows_inside(g_))
      for (int64_t q = 0; q < g_.w.out; ++q)
        for (int64_t k = 0; k < c_; ++k)
          row_offsets_.push_back(int32_t(q * g_.w.stride * c_ + k));
    if (dims_ == 1) return {g_.w.out, c_};
    return {g_.h.out, g_.w.out, c_};
  }

  size_t dims_;
  bool max_, global_;
  std::vector<int64_t> pool_, strides_;
  Padding padding_;
  Window g_;
  int64_t c_ = 0;
  AlignedBuffer<int32_t> argmax_;  // per output value: its maximum's offset in the sample
  std::vector<int32_t> row_offsets_;  // see pool_sample; empty: the per-window loops
};

}  // namespace

#define FASTMLP_POOL_FACTORY(fn, kind, dims, max, global)                 \
  template <typename T>                                                   \
  std::unique_ptr<Layer<T>> fn(const LayerSpec& spec) {                   \
    return std::make_unique<PoolLayer<T>>(spec, kind, dims, max, global); \
  }                                                                       \
  template std::unique_ptr<Layer<float>> fn<float>(const LayerSpec&);     \
  template std::unique_ptr<Layer<double>> fn<double>(const LayerSpec&);
FASTMLP_POOL_FACTORY(make_max_pooling1d, "MaxPooling1D", 1, true, false)
FASTMLP_POOL_FACTORY(make_max_pooling2d, "MaxPooling2D", 2, true, false)
FASTMLP_POOL_FACTORY(make_average_pooling1d, "AveragePooling1D", 1, false, false)
FASTMLP_POOL_FACTORY(make_average_pooling2d, "AveragePooling2D", 2, false, false)
FASTMLP_POOL_FACTORY(make_global_max_pooling1d, "GlobalMaxPooling1D", 1, true, true)
FASTMLP_POOL_FACTORY(make_global_max_pooling2d, "GlobalMaxPooling2D", 2, true, true)
FASTMLP_POOL_FACTORY(make_global_average_pooling1d, "GlobalAveragePooling1D", 1, false, true)
FASTMLP_POOL_FACTORY(make_global_average_pooling2d, "GlobalAveragePooling2D", 2, false, true)
#undef FASTMLP_POOL_FACTORY

}  // namespace fastmlp
