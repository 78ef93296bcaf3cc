// Run-time CPU feature checks (GCC/Clang builtins also check that the OS saves the
// vector registers). Non-x86 builds only ever run the portable kernel.
#include "common/cpu_features.h"

#include <cstdlib>
#include <cstring>
#if defined(__linux__)
#include <unistd.h>
#endif

namespace fastmlp {

#if defined(__x86_64__) || defined(__i386__)
bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
bool cpu_has_avx512() {
  __builtin_cpu_init();
  return cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq");
}
bool cpu_has_avx512_bf16() {
  const char* env = std::getenv("FASTMLP_BF16");
  if (env && std::strcmp(env, "0") == 0) return false;
  __builtin_cpu_init();
  return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
}
#else
bool cpu_has_avx2_fma() { return false; }
bool cpu_has_avx512() { return false; }
bool cpu_has_avx512_bf16() { return false; }
#endif

namespace {

CacheGeometry read_cache_geometry() {
  CacheGeometry g;
#if defined(__linux__) && defined(_SC_LEVEL1_DCACHE_SIZE)
  // 0 or -1 where the kernel or libc does not know: keep the default.
  const auto take = [](int name, int64_t& field) {
    const long v = sysconf(name);
    if (v > 0) field = v;
  };
  take(_SC_LEVEL1_DCACHE_LINESIZE, g.line);
  take(_SC_LEVEL1_DCACHE_SIZE, g.l1d);
  take(_SC_LEVEL1_DCACHE_ASSOC, g.l1d_ways);
  take(_SC_LEVEL2_CACHE_SIZE, g.l2);
  take(_SC_LEVEL2_CACHE_ASSOC, g.l2_ways);
#endif
  return g;
}

}  // namespace

const CacheGeometry& cache_geometry() {
  static const CacheGeometry g = read_cache_geometry();
  return g;
}

}  // namespace fastmlp
