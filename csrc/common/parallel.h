// Threads for every parallel loop of the core: fixed tasks handed out dynamically by our own
// small thread pool (common/thread_pool.cpp), never an OpenMP parallel region.
//
// Why not `#pragma omp parallel`: on a machine whose cores are busy with other work,
// libgomp's threads spin at the end of every region for a thread that the OS has preempted,
// and a static split leaves that thread's half of the work waiting; a training epoch has
// thousands of regions, so a fit beside a second one took 58x its time alone. And a child
// of fork() that runs an OpenMP region hangs (libgomp's pool threads are not copied).
// Here the calling thread works too and takes whatever tasks no other thread has claimed,
// so a preempted worker delays at most the one task it holds; waiting threads spin only
// briefly, then sleep; a forked child starts a fresh pool on its first parallel call.
//
// Results stay bitwise independent of the thread count: a task is a fixed piece of work
// (which thread runs it does not change its result) and reductions merge per-task partials
// in task order. The thread count is OpenMP's (omp_get_max_threads(), read at each call),
// so OMP_NUM_THREADS and threadpoolctl limit these threads as before.
// Tested by tests/test_threads.py (thread counts, nesting, fork) and by every kernel test.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace fastmlp {

// Below this many elements a loop is not worth waking another thread for.
constexpr int64_t kParallelMinElements = 1 << 15;
// Elements per task of an elementwise loop: a few microseconds of work, so that a thread
// the OS preempts holds up little and the others share the rest.
constexpr int64_t kParallelChunkElements = 1 << 14;

inline bool worth_parallel(int64_t elements) { return elements >= kParallelMinElements; }

// Threads a parallel call may use now: omp_get_max_threads() of the calling thread
// (OMP_NUM_THREADS, omp_set_num_threads, threadpoolctl), 1 inside a task of a parallel
// call (no nesting) and in builds without OpenMP.
int max_threads();

// While one lives, the calling thread's parallel calls run serially and max_threads() is 1,
// as inside a task: for work that must not wake other threads (nn/train_loop.h's serial
// row slices on a busy machine).
bool enter_serial();
void leave_serial(bool was_serial);
class SerialScope {
 public:
  SerialScope() : was_(enter_serial()) {}
  ~SerialScope() { leave_serial(was_); }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  bool was_;
};

// Runs fn(ctx, t) for every t in [0, n_tasks) on at most `threads` threads, the caller one
// of them, and returns when all have run. Tasks are claimed in increasing order by whichever
// thread is free; fn must not throw. Another thread's call that finds the pool busy runs
// its tasks itself, in order.
using TaskFn = void (*)(void* ctx, int64_t task);
void parallel_run(int64_t n_tasks, int threads, TaskFn fn, void* ctx);

// body(t) for t in [0, n_tasks) on at most `threads` threads (see parallel_run).
template <typename F>
void parallel_for(int64_t n_tasks, int threads, F&& body) {
  if (n_tasks <= 0) return;
  if (threads <= 1 || n_tasks == 1) {
    for (int64_t t = 0; t < n_tasks; ++t) body(t);
    return;
  }
  using Body = std::remove_reference_t<F>;
  parallel_run(
      n_tasks, threads, [](void* ctx, int64_t t) { (*static_cast<Body*>(ctx))(t); },
      const_cast<void*>(static_cast<const void*>(&body)));
}

template <typename F>
void parallel_for(int64_t n_tasks, F&& body) {
  parallel_for(n_tasks, max_threads(), static_cast<F&&>(body));
}

// body(i0, i1) over rows [0, n) of `width` elements each, in chunks of about
// kParallelChunkElements, in parallel when the loop is worth it (worth_parallel). For
// loops whose rows are independent: the chunking never changes a result.
template <typename F>
void parallel_rows(int64_t n, int64_t width, F&& body) {
  if (n <= 0) return;
  const int64_t elements = n * std::max<int64_t>(width, 1);
  if (!worth_parallel(elements)) return body(int64_t(0), n);
  const int64_t rows = std::max<int64_t>(1, kParallelChunkElements / std::max<int64_t>(width, 1));
  parallel_for((n + rows - 1) / rows, [&](int64_t t) {
    body(t * rows, std::min(n, (t + 1) * rows));
  });
}

}  // namespace fastmlp
