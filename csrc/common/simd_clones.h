// Elementwise loops that the compiler vectorizes by itself are built three times, for
// AVX-512, AVX2+FMA and baseline x86-64, and the loader picks one for the CPU (GNU ifunc):
// the default build stays portable and still runs these loops at the machine's full width.
// Measured on the Adam step of the digits network: 8-lane vsqrtpd/vdivpd in place of
// scalar sqrtsd/divsd.
#pragma once

// The x86-64-v3/v4 levels need GCC 11 or Clang 14; older compilers build the baseline only.
#if defined(__x86_64__) && defined(__linux__) && \
    ((defined(__clang__) && __clang_major__ >= 14) || (!defined(__clang__) && __GNUC__ >= 11))
#define FASTMLP_SIMD_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FASTMLP_SIMD_CLONES
#endif
