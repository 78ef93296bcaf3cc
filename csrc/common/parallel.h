// OpenMP helpers shared by the elementwise kernels. Elementwise loops split rows
// statically and never reduce across threads, so results do not depend on the
// thread count; small loops stay serial because a parallel region costs ~1 us.
#pragma once
#include <cstdint>

namespace fastmlp {

// Below this many elements a loop is not worth waking the thread team for.
constexpr int64_t kParallelMinElements = 1 << 15;

inline bool worth_parallel(int64_t elements) { return elements >= kParallelMinElements; }

}  // namespace fastmlp
