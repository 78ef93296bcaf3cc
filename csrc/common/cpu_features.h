// CPU features that decide which GEMM micro-kernels can run here (checked at run time,
// so one portable build serves every x86-64 CPU).
#pragma once

namespace fastmlp {

bool cpu_has_avx2_fma();
bool cpu_has_avx512();

}  // namespace fastmlp
