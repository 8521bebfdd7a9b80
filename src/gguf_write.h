/* gguf_write.h — a streaming GGUF v3 writer: metadata and the tensor table are collected in memory
 * (their types and sizes known up front), written once, then each tensor's data is streamed in
 * table order with the alignment padding. It does not read GGUF (gguf.c does) or choose types. */
#ifndef LMC_GGUF_WRITE_H
#define LMC_GGUF_WRITE_H

#include "lmc.h"
#include <stdint.h>
#include <stdio.h>

typedef struct gguf_writer gguf_writer;

/* A writer of tensor data aligned to `alignment` bytes (32 unless the caller has a reason). */
gguf_writer *gguf_writer_init(uint64_t alignment);
void gguf_writer_free(gguf_writer *w);

/* A key/value whose value is already GGUF-encoded (type, then the value bytes as the format stores
 * them: a scalar, a length-prefixed string, or element type + count + elements). A key added again
 * replaces the old one and moves to the end, as ggml's gguf_set_val_* do. */
lmc_status gguf_writer_set_raw(gguf_writer *w, const char *key, size_t key_len, uint32_t vtype,
                               const void *value, size_t value_len);
lmc_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_remove(gguf_writer *w, const char *key, size_t key_len);

/* Appends a tensor to the table; its data offset follows the previous tensor's, padded. */
lmc_status gguf_writer_add_tensor(gguf_writer *w, const char *name, size_t name_len,
                                  uint32_t n_dims, const int64_t *ne, uint32_t type,
                                  uint64_t nbytes);

/* Writes the header, the key/values, the tensor table and the padding before the data. */
lmc_status gguf_writer_write_meta(gguf_writer *w, FILE *f, const char *path);
/* Writes the data of the next tensor (nbytes as declared) and its padding. */
lmc_status gguf_writer_write_data(gguf_writer *w, FILE *f, const char *path, const void *data,
                                  uint64_t nbytes);

#endif
