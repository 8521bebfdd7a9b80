/* util.h — internal helpers shared by the library: error messages, half/bfloat conversion, timing.
 * Nothing here prints or exits. */
#ifndef LMC_UTIL_H
#define LMC_UTIL_H

#include "lmc.h"
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define LMC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LMC_PRINTF(a, b)
#endif

/* Sets the thread's last error message and returns st, so callers can `return lmc_err(...)`. */
lmc_status lmc_err(lmc_status st, const char *fmt, ...) LMC_PRINTF(2, 3);
/* Prefixes the current message with "prefix: " (adds context as an error travels up). */
void lmc_err_prefix(const char *fmt, ...) LMC_PRINTF(1, 2);

static inline float lmc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t lmc_f32_to_f16(float f) { /* round to nearest even */
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static inline float lmc_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Monotonic time in seconds. */
double lmc_time_s(void);

/* A growing string for text built piece by piece (grammar and schema converters): strbuf_printf
 * appends; on out of memory it sets oom and appends nothing more. The caller frees p. */
typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} strbuf;
void strbuf_printf(strbuf *b, const char *fmt, ...) LMC_PRINTF(2, 3);

#endif
