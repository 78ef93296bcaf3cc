// Prefetch for writing: the line comes in exclusive, so a later store to it does not wait
// for the other cores' copies to be invalidated.
#pragma once
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#endif

namespace fastmlp {

inline void prefetch_for_write(const void* p) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  // prefetchw in asm: the compiler would emit it only with -mprfchw, and Intel CPUs older
  // than Broadwell run it as a NOP (without reporting it in CPUID).
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  _m_prefetchw(const_cast<void*>(p));
#elif defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 1, 3);
#else
  (void)p;
#endif
}

}  // namespace fastmlp
