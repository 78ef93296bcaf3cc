// Run-time CPU feature checks (GCC/Clang builtins also check that the OS saves the
// vector registers). Non-x86 builds only ever run the portable kernel.
#include "common/cpu_features.h"

#include <cstdlib>
#include <cstring>
#if defined(__linux__)
#include <unistd.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#endif

namespace fastmlp {

namespace {

bool env_is_zero(const char* name) {
  const char* env = std::getenv(name);
  return env && std::strcmp(env, "0") == 0;
}

}  // namespace

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
  if (env_is_zero("FASTMLP_BF16")) return false;
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

#if defined(__linux__) && defined(__x86_64__) && defined(FASTMLP_AMX_KERNEL)
// CPUID.(7,0):EDX bit 22 AMX-BF16, bit 24 AMX-TILE; XCR0 bits 17 (XTILECFG) and 18
// (XTILEDATA) say the OS context-switches the tiles; Linux (5.16+) then hands out the
// 8 KB of tile data per process on request, and a process that uses the tiles without it
// dies of SIGILL.
bool amx_usable_here() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  if (!(edx & (1u << 22)) || !(edx & (1u << 24))) return false;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return false;  // OSXSAVE
  unsigned xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & (3u << 17)) != (3u << 17)) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}
#else
// Other OSes (no permission step wired up) or a compiler that could not build the kernel.
bool amx_usable_here() { return false; }
#endif

}  // namespace

bool cpu_has_amx_bf16() {
  if (env_is_zero("FASTMLP_AMX") || !cpu_has_avx512_bf16()) return false;
  static const bool usable = amx_usable_here();  // asked once per process (thread-safe)
  return usable;
}

const CacheGeometry& cache_geometry() {
  static const CacheGeometry g = read_cache_geometry();
  return g;
}

}  // namespace fastmlp
