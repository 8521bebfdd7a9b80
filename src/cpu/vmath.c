/* vmath.c — vmath.h's entry points: the baseline copy of vmath_body.h's exp and tanh, and the
 * choice, once per process, between it and the AVX2 copy (vmath_avx2.c) by the CPU's features. */
#include "vmath.h"

#include <pthread.h>

#define VM_NAME(f) f##_c
#include "vmath_body.h"

typedef void (*vm_fn)(float *y, const float *x, int64_t n);
static vm_fn g_exp = vmath_exp_c, g_tanh = vmath_tanh_c;
static int g_avx2;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void vm_init(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    g_avx2 = __builtin_cpu_supports("avx2");
    if (g_avx2) {
        g_exp = vmath_exp_avx2;
        g_tanh = vmath_tanh_avx2;
    }
#endif
}

int vmath_have_avx2(void) {
    pthread_once(&g_once, vm_init);
    return g_avx2;
}

void vmath_exp(float *y, const float *x, int64_t n) {
    pthread_once(&g_once, vm_init);
    g_exp(y, x, n);
}

void vmath_tanh(float *y, const float *x, int64_t n) {
    pthread_once(&g_once, vm_init);
    g_tanh(y, x, n);
}
