/* kernels_np_avx512.c — the AVX-512 kernels of kernels_avx512.c again, without software prefetch in
 * the weight streams of decode (KERN_NOPF, kernels_x86.h; the prompt kernels' packing keeps its
 * prefetch): table "avx512np", which kernels.c picks for the CPUs where the hardware prefetcher
 * alone streams decode's weights faster (Zen 4). */
#define KERN_NOPF 1
#define KERN_FILL kern_fill_avx512np
#define KERN_NAME "avx512np"
#define KERN_FILL_MORE kern_fill_avx512np_z
#include "kernels_avx512.c"
