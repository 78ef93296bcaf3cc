// The thread pool behind parallel_run (common/parallel.h): why it exists is said there.
//
// One job runs at a time. A job is published as a ticket, generation << 32 | next task;
// a thread claims task i of generation g by a compare-and-swap from (g, i) to (g, i + 1),
// so a worker that wakes up late, after its job has ended, can never claim a task of the
// next one (the generation no longer matches) and never reads a job it did not claim from.
// The caller claims tasks like any worker and then waits until every claimed task has
// finished; it never waits for a worker that did not show up.
//
// Waiting: a worker that runs out of tasks spins for the next job for kIdleSpin (jobs of a
// training step follow each other within microseconds: waking a sleeping thread costs
// more), then sleeps on a condition variable. The caller waiting for the last tasks spins
// for kDoneSpin, then sleeps. Spinning yields the core (sched_yield) after the first
// microseconds, so on a busy machine a waiting thread hands its core to the thread it
// waits for, or to another process, instead of burning its time slice.
//
// fork: the child has only the thread that called fork; a pthread_atfork child handler
// drops the pool (leaked: its mutexes may be held by threads that no longer exist), and the
// child's first parallel call builds a new one, so the child gets its threads back.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/parallel.h"

namespace fastmlp {
namespace {

using Clock = std::chrono::steady_clock;

// Measured on the team's 2-core machines (benchmarks/RESULTS.md, "Threads"): a wake-up
// through the condition variable costs 20-60 us there, the gap between two parallel calls
// of a training step is 1-20 us.
constexpr auto kIdleSpin = std::chrono::microseconds(200);
constexpr auto kDoneSpin = std::chrono::microseconds(200);
// Plain pause-spinning before spinning turns into yielding.
constexpr auto kPauseSpin = std::chrono::microseconds(4);

// Set on the pool's workers and on a caller while it runs tasks: a parallel call from
// inside a task runs serially.
thread_local bool t_in_task = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
  _mm_pause();
#endif
}

// Spins until done() or `limit` has passed (pause first, then yield); true if done().
template <typename Done>
bool spin_until(Done done, std::chrono::microseconds limit) {
  const auto start = Clock::now();
  for (uint32_t i = 1;; ++i) {
    if (done()) return true;
    if ((i & 15) == 0) {
      const auto waited = Clock::now() - start;
      if (waited > limit) return false;
      if (waited > kPauseSpin) {
        std::this_thread::yield();
        continue;
      }
    }
    cpu_relax();
  }
}

class Pool {
 public:
  // Runs the job on `threads` threads (the caller and threads - 1 workers); the caller holds
  // submit_.
  void run(int64_t n_tasks, int threads, TaskFn fn, void* ctx) {
    const int helpers = threads - 1;
    while (int(workers_) < helpers) spawn();
    const uint64_t g = ++generation_ & 0xFFFFFFFFu;
    fn_ = fn;
    ctx_ = ctx;
    finished_.store(0, std::memory_order_relaxed);
    job_n_.store(g << 32 | uint64_t(n_tasks), std::memory_order_relaxed);
    job_helpers_.store(g << 32 | uint64_t(helpers), std::memory_order_relaxed);
    ticket_.store(g << 32, std::memory_order_release);
    // Publish, then wake sleepers (a sleeper increments sleepers_ before it re-reads gen_:
    // with both sequentially consistent, one of the two sees the other).
    gen_.store(uint32_t(g), std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(m_);
      work_cv_.notify_all();
    }
    t_in_task = true;
    work(uint32_t(g));
    t_in_task = false;
    const auto all_done = [&] {
      return finished_.load(std::memory_order_acquire) == n_tasks;
    };
    if (!spin_until(all_done, kDoneSpin)) {
      std::unique_lock<std::mutex> lock(m_);
      caller_waiting_.store(true, std::memory_order_seq_cst);
      while (finished_.load(std::memory_order_seq_cst) != n_tasks) done_cv_.wait(lock);
      caller_waiting_.store(false, std::memory_order_relaxed);
    }
  }

  std::mutex submit_;  // one job at a time

 private:
  // Claims and runs tasks of generation g until none is left.
  void work(uint32_t g) {
    for (;;) {
      uint64_t t = ticket_.load(std::memory_order_acquire);
      if (uint32_t(t >> 32) != g) return;
      const uint64_t n = job_n_.load(std::memory_order_acquire);
      if (uint32_t(n >> 32) != g) return;
      const uint64_t task = t & 0xFFFFFFFFu, n_tasks = n & 0xFFFFFFFFu;
      if (task >= n_tasks) return;
      if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel)) continue;
      // Task `task` of job g is ours: the job cannot end before it finishes, so fn_ and
      // ctx_ are still g's.
      fn_(ctx_, int64_t(task));
      if (finished_.fetch_add(1, std::memory_order_seq_cst) + 1 == int64_t(n_tasks) &&
          caller_waiting_.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lock(m_);
        done_cv_.notify_one();
      }
    }
  }

  void worker_loop(int id, uint32_t seen) {
    t_in_task = true;
    for (;;) {
      const auto fresh = [&] { return gen_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(fresh, kIdleSpin)) {
        std::unique_lock<std::mutex> lock(m_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        while (gen_.load(std::memory_order_seq_cst) == seen) work_cv_.wait(lock);
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
      seen = gen_.load(std::memory_order_acquire);
      const uint64_t h = job_helpers_.load(std::memory_order_acquire);
      if (uint32_t(h >> 32) == seen && uint64_t(id) < (h & 0xFFFFFFFFu)) work(seen);
    }
  }

  void spawn() {
    const int id = workers_++;
    std::thread([this, id, seen = gen_.load()] { worker_loop(id, seen); }).detach();
  }

  int workers_ = 0;          // guarded by submit_
  uint64_t generation_ = 0;  // guarded by submit_
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::atomic<uint64_t> ticket_{0};       // generation << 32 | next task
  std::atomic<uint64_t> job_n_{0};        // generation << 32 | task count
  std::atomic<uint64_t> job_helpers_{0};  // generation << 32 | workers that may help
  std::atomic<int64_t> finished_{0};
  std::atomic<uint32_t> gen_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_waiting_{false};
  std::mutex m_;
  std::condition_variable work_cv_, done_cv_;
};

std::atomic<Pool*> g_pool{nullptr};

#if defined(__unix__) || defined(__APPLE__)
void forget_pool_in_child() { g_pool.store(nullptr, std::memory_order_relaxed); }
#endif

Pool* pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return p;
#if defined(__unix__) || defined(__APPLE__)
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, &forget_pool_in_child);
    return true;
  }();
  (void)registered;
#endif
  Pool* fresh = new Pool();
  if (g_pool.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) return fresh;
  delete fresh;  // another thread built one first (no threads started yet)
  return p;
}

}  // namespace

int max_threads() {
  if (t_in_task) return 1;
#ifdef _OPENMP
  return std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}

bool enter_serial() {
  const bool was = t_in_task;
  t_in_task = true;
  return was;
}

void leave_serial(bool was_serial) { t_in_task = was_serial; }

void parallel_run(int64_t n_tasks, int threads, TaskFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  threads = int(std::min<int64_t>(threads, n_tasks));
  Pool* p = nullptr;
  if (threads > 1 && !t_in_task) p = pool();
  if (!p || !p->submit_.try_lock()) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(ctx, t);
    return;
  }
  p->run(n_tasks, threads, fn, ctx);
  p->submit_.unlock();
}

}  // namespace fastmlp
