// cuda_launch.cuh — programmatic dependent launch (PDL, sm_90): the device-side wait and trigger
// the decode chain's kernels call, and the host launcher that sets the attribute. Header-only,
// private to the kernel files; which kernels take part is decided in each of them.
#ifndef LMC_CUDA_LAUNCH_CUH
#define LMC_CUDA_LAUNCH_CUH

#include "cuda_internal.h"
#include "cuda_tuning.h"

// Programmatic dependent launch (sm_90): a kernel launched with the programmatic-serialization
// attribute may start while its predecessor runs; pdl_wait() blocks until the predecessor finished
// and its writes are visible, so everything before it may only touch data no neighbour writes
// (weights). pdl_trigger() lets the successor start early (each block calls it once it has begun).
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// Launches a kernel that calls pdl_wait() before reading what earlier kernels wrote, allowing it to
// start during its predecessor's tail. LMC_CUDA_PDL=0 turns the attribute off (for timing).
template <typename... KArgs, typename... Args>
static cudaError_t launch_pdl(void (*k)(KArgs...), dim3 grid, dim3 block, cudaStream_t s,
                              Args... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.stream = s;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = at;
    cfg.numAttrs = cuda_tuning_get()->pdl ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, k, args...);
}

#endif
