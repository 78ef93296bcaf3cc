// CPU features that decide which GEMM micro-kernels can run here (checked at run time,
// so one portable build serves every x86-64 CPU).
#pragma once
#include <cstdint>

namespace fastmlp {

bool cpu_has_avx2_fma();
bool cpu_has_avx512();
// AVX-512 BF16 (vdpbf16ps, vcvtne2ps2bf16) on top of cpu_has_avx512(): Intel Cooper Lake,
// Sapphire Rapids and later, AMD Zen 4 and later. FASTMLP_BF16=0 in the environment
// (read at every call) makes it false, so tests can take the path of CPUs without it.
bool cpu_has_avx512_bf16();
// AMX-BF16 tiles (TDPBF16PS) usable by this process, on top of cpu_has_avx512_bf16(): the
// CPU has AMX-TILE and AMX-BF16 (Intel Sapphire Rapids and later), the OS saves the tile
// state (XCR0), and on Linux the kernel granted this process the tile data permission
// (arch_prctl ARCH_REQ_XCOMP_PERM, asked once; a refusal just leaves AMX unused).
// FASTMLP_AMX=0 in the environment (read at every call) makes it false, so tests can take
// the path of CPUs or kernels without it.
bool cpu_has_amx_bf16();

// The data caches of one core, as the OS reports them (sysconf on Linux), with typical
// values where it does not. The GEMM sizes its blocks from these, never from a CPU name.
struct CacheGeometry {
  int64_t line = 64;
  int64_t l1d = 32 * 1024, l1d_ways = 8;
  int64_t l2 = 1024 * 1024, l2_ways = 16;
};
const CacheGeometry& cache_geometry();  // read once

}  // namespace fastmlp
