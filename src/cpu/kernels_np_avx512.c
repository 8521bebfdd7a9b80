/* kernels_np_avx512.c — the AVX-512 kernels of kernels_avx512.c again, without software prefetch in
 * the weight streams of decode (KERN_NOPF, kernels_x86.h; the prompt kernels' packing keeps its
 * prefetch) and one weight row per decode tile for the K-quants and Q4_0 (one sequential stream per
 * thread): table "avx512np", whose K-quant decode kernels.c's zen4 table uses (on Zen 4 the
 * hardware prefetcher alone streams one row at a time faster than several with prefetches). */
#define KERN_NOPF 1
#define KERN_FILL kern_fill_avx512np
#define KERN_NAME "avx512np"
#define KERN_FILL_MORE kern_fill_avx512np_z
#define KNR_K 1
#define Q4D_NR 1
#include "kernels_avx512.c"
