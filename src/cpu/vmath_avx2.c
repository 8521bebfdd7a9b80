/* vmath_avx2.c — vmath.h's exp and tanh compiled for AVX2 (8 floats a step): vmath_body.h's code,
 * the same bits as the baseline copy in vmath.c (no FMA: CMakeLists.txt builds this file with
 * -mavx2 -ffp-contract=off only). */
#include "vmath.h"

#define VM_NAME(f) f##_avx2
#include "vmath_body.h"
