/* kernels_avx512.c — the x86 kernels (kernels_x86.h) for AVX-512 (F, BW, VL, DQ, VNNI, BF16): float
 * weights in 512-bit registers, int8 dots with VNNI dpbusd/dpwssd, larger tiles for 32 registers.
 * Used only when the CPU has all of these (kernels.c checks). */
#if defined(__x86_64__) || defined(__i386__)
#define KERN_VNNI 1
#define KERN_512 1
#define KERN_FILL kern_fill_avx512
#define KERN_NAME "avx512"
#define KNR_F 4
#define KNT_F 4
#define KNR 4
#define KNT 4
#define KNR_K 2
#define KNT_K 4
#include "kernels_x86.h"
#endif
