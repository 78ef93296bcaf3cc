// The one training loop of the core, shared by the MLP (nn/network.h) and the layer
// engine (layers/sequential.h): an epoch of mini-batches over a shuffled order, each
// followed by the fused penalized optimizer step (with gradient clipping and the cosine
// schedule), Ctrl-C checks between batches; the row slices that let small networks use
// every core; the L2 term of a full-batch loss; and the row gather of the input.
// Reductions use fixed splits and a fixed merge order: results do not depend on the
// thread count. Tested through both users (tests/test_threads.py, test_training_extras.py,
// test_layers*.py).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <new>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "nn/optimizers.h"

namespace fastmlp {

// Called between mini-batches; returning true stops the epoch early (Ctrl-C).
using InterruptCheck = std::function<bool()>;

// Buffer sizes are products of user-controlled sizes: refuse overflow before allocating.
inline int64_t checked_mul(int64_t a, int64_t b) {
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) throw std::bad_alloc();
  return a * b;
}

// dst (m,width) = src rows (rows[i], or first+i); returns src itself when no copy is needed.
template <typename T>
const T* gather_rows(AlignedBuffer<T>& dst, const T* src, int64_t width, const int64_t* rows,
                     int64_t first, int64_t m) {
  if (!rows) return src + first * width;
  dst.reserve(size_t(checked_mul(m, width)));
  T* out = dst.data();
  if (width == 1) {  // targets and sample weights of one column: a plain gather, no copy calls
    for (int64_t i = 0; i < m; ++i) out[i] = src[rows[i]];
    return out;
  }
  // Shuffled rows are random reads the hardware prefetcher cannot predict: fetch the rows
  // a few iterations ahead so their cache misses overlap.
  constexpr int64_t kAhead = 8;
  const int64_t row_bytes = int64_t(sizeof(T)) * width;
parallel_rows(m, width, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      if (i + kAhead < m) {
        const char* next = reinterpret_cast<const char*>(src + rows[i + kAhead] * width);
#if defined(__GNUC__)
        for (int64_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(next + b);
#endif
      }
      std::memcpy(out + i * width, src + rows[i] * width, size_t(row_bytes));
    }
  });
  return out;
}

// sum(x^2) in double over fixed blocks, merged in block order: the same bits for any
// thread count.
template <typename T>
double sum_of_squares(const T* x, int64_t n, std::vector<double>& partial) {
  constexpr int64_t kBlock = 1 << 14;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  partial.assign(size_t(blocks), 0.0);
  parallel_for(blocks, worth_parallel(n) ? max_threads() : 1, [&](int64_t b) {
    double s = 0.0;
    const int64_t end = std::min(n, (b + 1) * kBlock);
    for (int64_t i = b * kBlock; i < end; ++i) s += double(x[i]) * double(x[i]);
    partial[size_t(b)] = s;
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

// The full-batch loss from its data term: grad (the unscaled sum of per-row data
// gradients) becomes (grad + alpha*w) / S on the first n_decayed entries and grad / S on
// the rest; returns data_loss / S + 0.5 alpha ||w[:n_decayed]||^2 / S.
template <typename T>
double add_l2_term(const T* params, T* grad, int64_t n_params, int64_t n_decayed,
                   double data_loss, double weight_sum, double alpha,
                   std::vector<double>& partial) {
  const double sq = sum_of_squares(params, n_decayed, partial);
  const T a = T(alpha), inv = T(1.0 / weight_sum);
  parallel_rows(n_params, 1, [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i)
      grad[i] = i < n_decayed ? (grad[i] + a * params[i]) * inv : grad[i] * inv;
  });
  return data_loss / weight_sum + 0.5 * alpha * sq / weight_sum;
}

// Small networks cannot keep two cores busy within one product, so they split a
// mini-batch into kRowSlices slices, each run by its own copy of the workspaces.
constexpr int kRowSlices = 2;

// Whether a network with `macs_per_row` multiply-adds per sample splits batches of
// `chunk_rows`: when each slice keeps enough rows to stay efficient, and its products are
// below GEMM's own threading threshold or it has a layer that prefers them (`prefer`:
// recurrent and attention layers, see Layer::prefers_row_slices).
constexpr int64_t kMinSliceRows = 32;
inline bool worth_row_slices(int64_t macs_per_row, int64_t chunk_rows, bool prefer = false) {
  constexpr int64_t kSmallBatchMacs = int64_t(1) << 22;
  return chunk_rows >= kRowSlices * kMinSliceRows &&
         (prefer || macs_per_row * chunk_rows < kSmallBatchMacs);
}

// The largest chunk of rows (a power of two up to 4096) that a network of `macs_per_row`
// splits into row slices, or 0 if none: a small network's full-batch gradient (L-BFGS)
// then runs chunk by chunk on the slices, on every core, as the training loop's batches
// do. load_digits' 64-100-10: 512-row chunks, 0.89-0.93 ms a gradient against 1.56-1.59
// in one 1,797-row chunk, whose products run on one core (too small to split) and whose
// elementwise passes stream 1.4 MB activations.
inline int64_t sliced_chunk_rows(int64_t macs_per_row) {
  for (int64_t rows = 4096; rows >= kRowSlices * kMinSliceRows; rows /= 2)
    if (worth_row_slices(macs_per_row, rows)) return rows;
  return 0;
}

// Whether the row slices of the next batch run on two threads or one after the other,
// from their measured times. On a busy machine (other processes on the cores) a thread
// the OS preempts stalls the barrier that ends every parallel batch for a whole time
// slice: measured on the MNIST-1D CNN, 10x slower than one thread. The choice changes no
// result (the same slices, merged in the same order), only where they run. The chosen
// mode's time per row is a moving average; every kProbe batches the other mode runs for
// two batches and its estimate is the second one's fresh time, not an average with a
// stale one. The first batch after a switch is not a measure of its mode: the first
// parallel batch pays for waking (or starting) the pool's threads, which sleep after a
// run of serial batches. Counting it kept small networks serial for a thousand batches
// (digits: 20% slower epochs), and a GAN's passes of 64-row slices (100-200 us each)
// serial for most of its steps (25% slower fits).
class SliceScheduler {
 public:
  bool parallel() {
    ++batches_;
    const double serial = per_row_[0], par = per_row_[1];
    if (par == 0.0) return true;       // measure the parallel mode first,
    if (serial == 0.0) return false;   // then the serial one
    const bool faster = par <= serial;
    return batches_ % kProbe < 2 ? !faster : faster;
  }
  void record(bool parallel, double seconds, int64_t rows) {
    const int mode = parallel ? 1 : 0;
    if (mode != last_mode_) {  // a switch: warming up
      last_mode_ = mode;
      fresh_ = true;
      return;
    }
    double& avg = per_row_[mode];
    const double x = seconds / double(rows);
    avg = avg == 0.0 || fresh_ ? x : 0.8 * avg + 0.2 * x;
    fresh_ = false;
  }

 private:
  static constexpr int64_t kProbe = 64;
  double per_row_[2] = {0.0, 0.0};  // serial, parallel
  int64_t batches_ = 0;
  int last_mode_ = -1;
  bool fresh_ = true;  // the next recorded time replaces the mode's estimate
};

// Rows per slice when m rows are split into the row slices (the last may have fewer, or none).
inline int64_t rows_per_slice(int64_t m) { return (m + kRowSlices - 1) / kRowSlices; }

// run(s) for every row slice s of a pass over m rows, on two threads or one after the
// other as `scheduler` chooses; it learns how long the pass took.
template <typename RunFn>
void run_row_slices(RunFn&& run, int64_t m, SliceScheduler& scheduler) {
  const int threads = std::min(kRowSlices, max_threads());
  const bool parallel = threads > 1 && scheduler.parallel();
  const auto start = std::chrono::steady_clock::now();
  if (parallel) {
    // Inside a task the kernels' own parallel calls run serially (no nesting).
    parallel_for(kRowSlices, threads, run);
  } else {
    // One slice after the other, truly serial: the kernels' own parallel calls would
    // otherwise wake the other thread, the very wait this mode avoids.
    SerialScope serial;
    for (int64_t s = 0; s < kRowSlices; ++s) run(s);
  }
  if (threads > 1) {
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    scheduler.record(parallel, took.count(), m);
  }
}

// The data loss and gradient of m rows over the row slices (run_row_slices):
// slice(s, g, lo, len, &weight_sum) computes slice s (rows [lo, lo+len) of the batch) into
// g (grad for slice 0, slice_grads[s-1] for the others) and returns its loss; the slices'
// gradients are then added in slice order, so the bits do not depend on the threads. The
// last slice's gradient is not added but left in *more, for the optimizer step to add in
// its own pass over the parameters (penalized_update's `more`); more null: added here.
template <typename T, typename SliceFn>
double sum_over_row_slices(SliceFn&& slice, T* grad, const T** more,
                           std::vector<AlignedBuffer<T>>& slice_grads, int64_t n_params,
                           int64_t m, double* weight_sum, SliceScheduler& scheduler) {
  const int64_t per = rows_per_slice(m);
  double losses[kRowSlices] = {}, sums[kRowSlices] = {};
  run_row_slices(
      [&](int64_t s) {
        const int64_t lo = s * per, len = std::min(per, m - lo);
        if (len <= 0) return;
        T* g = s == 0 ? grad : slice_grads[size_t(s) - 1].data();
        losses[s] = slice(int(s), g, lo, len, &sums[s]);
      },
      m, scheduler);
  if (more) *more = nullptr;
  double loss = losses[0];
  *weight_sum = sums[0];
  for (int s = 1; s < kRowSlices; ++s) {
    if (s * per >= m) break;
    const T* g = slice_grads[size_t(s) - 1].data();
    if (more && (s + 1 == kRowSlices || (s + 1) * per >= m)) {
      *more = g;
    } else {
      parallel_rows(n_params, 1, [&](int64_t i0, int64_t i1) {
#pragma omp simd
        for (int64_t i = i0; i < i1; ++i) grad[i] += g[i];
      });
    }
    loss += losses[s];
    *weight_sum += sums[s];
  }
  return loss;
}

// The weighted mean loss over n rows taken in chunks of chunk_rows: chunk(start, len)
// returns the sum of the chunk's weighted losses; sw (n) or null (weights of 1). Between
// chunks `check` may stop it: then *interrupted is set and the result is NaN.
template <typename T, typename ChunkFn>
double mean_over_chunks(ChunkFn&& chunk, int64_t n, int64_t chunk_rows, const T* sw,
                        const InterruptCheck& check, bool* interrupted) {
  double data_loss = 0.0, weight_sum = 0.0;
  for (int64_t start = 0; start < n; start += chunk_rows) {
    const int64_t mc = std::min(chunk_rows, n - start);
    data_loss += chunk(start, mc);
    if (sw) {
      for (int64_t i = 0; i < mc; ++i) weight_sum += double(sw[start + i]);
    } else {
      weight_sum += double(mc);
    }
    if (check && start + mc < n && check()) {
      *interrupted = true;
      return std::numeric_limits<double>::quiet_NaN();
    }
  }
  return data_loss / weight_sum;
}

// One epoch: consecutive batches of `order` (null: rows in order), each followed by an
// optimizer step; returns sum(batch_loss * batch_len) / m as scikit-learn's loss_
// (adamw: the data term only, since alpha is a decay there, not a penalty).
// batch(grad, &more, rows, first, len, &weight_sum) leaves the unscaled data gradient of
// the batch's rows (rows[i], or first+i) in grad (plus *more when it sets more: a second
// gradient still to add, see sum_over_row_slices) and returns the sum of their weighted
// losses. The first n_decayed parameters get the L2 penalty (or AdamW's decay).
// state_a/state_b: sgd velocity (b unused) or adam m and v; adam_t is the step counter;
// first_step: the steps before this epoch (the cosine schedule's position). Sets
// *interrupted and returns the loss so far when `check` asks to stop.
template <typename T, typename BatchFn>
double train_epoch_loop(BatchFn&& batch, T* params, T* grad, T* state_a, T* state_b,
                        int64_t& adam_t, const OptimizerConfig& opt, int64_t n_params,
                        int64_t n_decayed, const int64_t* order, int64_t m, int64_t batch_size,
                        int64_t chunk_rows, double alpha, int64_t first_step,
                        std::vector<double>& partial, const InterruptCheck& check,
                        bool* interrupted) {
  FASTMLP_CHECK(batch_size > 0 && batch_size <= chunk_rows,
                "batch_size must be in [1, chunk_rows]");
  FASTMLP_CHECK(opt.schedule != Schedule::cosine ||
                    (opt.warmup_steps >= 0 && opt.warmup_steps < opt.total_steps),
                "the cosine schedule needs 0 <= warmup_steps < total_steps");
  *interrupted = false;
  // adamw's alpha decays the weights inside the step; it adds no penalty to the loss.
  const double penalty = opt.solver == Solver::adamw ? 0.0 : alpha;
  OptimizerConfig step_opt = opt;
  double total = 0.0;
  for (int64_t start = 0, step = first_step; start < m; start += batch_size, ++step) {
    const int64_t mb = std::min(batch_size, m - start);
    // An unshuffled epoch walks rows [start, start+mb) without an index list.
    const int64_t* r = order ? order + start : nullptr;
    double weight_sum;
    const T* more = nullptr;
    const double data_loss = batch(grad, &more, r, start, mb, &weight_sum);
    if (opt.solver != Solver::sgd) ++adam_t;
    if (opt.schedule == Schedule::cosine)
      step_opt.learning_rate =
          cosine_learning_rate(opt.learning_rate, step, opt.warmup_steps, opt.total_steps);
    // The penalty, the 1/S scaling and the optimizer step in one pass over the parameters;
    // the batch loss uses the weights from before the step, as scikit-learn's does.
    const double sq = penalized_update(step_opt, adam_t, params, state_a, state_b, grad, more,
                                       n_params, n_decayed, alpha, 1.0 / weight_sum, partial);
    total += (data_loss / weight_sum + 0.5 * penalty * sq / weight_sum) * double(mb);
    if (check && check()) {
      *interrupted = true;
      break;
    }
  }
  return total / double(m);
}

}  // namespace fastmlp
