/* kernels_np_avx2.c — the AVX2 kernels of kernels_avx2.c again, without software prefetch in the
 * weight streams (KERN_NOPF, kernels_x86.h): table "avx2np", which kernels.c picks for the CPUs
 * where the hardware prefetcher alone streams decode's weights faster. */
#define KERN_NOPF 1
#define KERN_FILL kern_fill_avx2np
#define KERN_NAME "avx2np"
#include "kernels_avx2.c"
