/* quantize.h — float rows to ggml blocks: the reference quantizers of every type lmc can write,
 * bit-exact with ggml's (quantize_row_*_ref, used by llama-quantize without an importance matrix).
 * Rows only; choosing a type per tensor is quantize_mix.c's, files are quantize_model.c's. */
#ifndef LMC_QUANTIZE_H
#define LMC_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

/* Whether rows can be quantized to this type (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K,
 * Q3_K, Q4_K, Q5_K, Q6_K). */
bool quant_can_write(uint32_t type);
/* Quantizes nrows rows of n_per_row floats into dst (nrows * lmc_row_size(type, n_per_row) bytes).
 * n_per_row must be a multiple of the type's block size and the type writable. */
void quant_rows(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row);

/* Whether the AVX2 searches may be used (default: when the CPU has AVX2). Both paths give the same
 * bytes; tests compare them. */
void quant_use_simd(bool on);

#endif
