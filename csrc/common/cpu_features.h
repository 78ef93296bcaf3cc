// CPU features that decide which GEMM micro-kernels can run here (checked at run time,
// so one portable build serves every x86-64 CPU).
#pragma once

namespace fastmlp {

bool cpu_has_avx2_fma();
bool cpu_has_avx512();
// AVX-512 BF16 (vdpbf16ps, vcvtne2ps2bf16) on top of cpu_has_avx512(): Intel Cooper Lake,
// Sapphire Rapids and later, AMD Zen 4 and later. FASTMLP_BF16=0 in the environment
// (read at every call) makes it false, so tests can take the path of CPUs without it.
bool cpu_has_avx512_bf16();

}  // namespace fastmlp
