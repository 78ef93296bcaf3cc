// FASTMLP_HOST_DEVICE marks the scalar formulas shared by the C++ core and the CUDA
// kernels (nn/activation_math.h, nn/loss_math.h): compiled for both sides by nvcc,
// plain inline functions for the host compiler, so the CPU loops still inline and
// vectorize them.
#pragma once

#ifdef __CUDACC__
#define FASTMLP_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define FASTMLP_HOST_DEVICE inline
#endif
