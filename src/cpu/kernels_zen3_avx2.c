/* kernels_zen3_avx2.c — the AVX2 kernels of kernels_avx2.c again with larger register tiles (table
 * "zen3_tiles", from which kernels.c's zen3 table takes some types). On Zen 3 (AMD family 25
 * without AVX-512: EPYC Milan, model 1) prompts and the decode of Q4_0 and Q6_K are compute-bound
 * per core. Per-type throughput with 2 threads, 5632 x 2048 weights x 64 tokens, variants
 * interleaved (docs/PERFORMANCE.md, the Zen 3 section), GMAC/s: F16 2x4 44-47 -> 3x4 47-53; Q8_0
 * 1x4 33 -> 2x4 45; Q4_0 2x4 49 -> 4x4 51; Q4_K 1x4 73 -> 2x4 83-85; Q6_K 1x4 37 -> 2x4 48-52.
 * Decode (one token, 45056 x 2048 from DRAM, 2 threads, GB/s of weights): Q4_0 2-row tile 15.4 ->
 * 4-row 16.1 (1 thread 9.1 -> 10.5), Q6_K 1-row 10 -> 2-row 13 (more rows share the activation
 * loads); Q4_K kept its 1-row decode (2 rows: 20 -> 17), which kernels.c takes from the avx2 table.
 * The prefetches stay: on Zen 3, unlike Zen 4, they help (Q8_0 decode 19 -> 23 GB/s, Q4_K 17 ->
 * 20). The float types keep avx2's 2-row tile (its KNR_F): a 3-row tile, faster in the
 * microbenchmark, was 15-20% slower in the model's prompt (lmc bench pp64, F16), and kernels.c's
 * zen3 table takes the float types from avx2 anyway. */
#define KERN_FILL kern_fill_zen3_avx2
#define KERN_NAME "zen3_tiles"
#define KNR_8 2
#define KNR 4
#define KNR_K 2
#include "kernels_avx2.c"
