/* kernels_avx2.c — the x86 kernels (kernels_x86.h) for AVX2 + FMA + F16C: 256-bit everything, int8
 * dots through maddubs/madd, tiles sized for 16 vector registers. Used only when the CPU has AVX2. */
#if defined(__x86_64__) || defined(__i386__)
#define KERN_VNNI 0
#define KERN_512 0
#define KERN_FILL kern_fill_avx2
#define KERN_NAME "avx2"
#define KNR_F 2
#define KNT_F 4
#define KNR 2
#define KNT 4
#define KNR_K 1
#define KNT_K 4
#define KNR_8 1
#define KNT_8 4
#include "kernels_x86.h"
#endif
