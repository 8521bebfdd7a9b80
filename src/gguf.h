/* gguf.h — a bounds-checked GGUF v2/v3 reader over a read-only mmap (or a caller's buffer).
 * It parses the header, the key/value table and the tensor table and validates every count, length
 * and offset against the file size; it does not interpret keys (arch.c does) or tensor data
 * (quant.c). Layout reminder: ne[0] is the contiguous (innermost) dimension; a 2-D weight W has
 * ne[0] = inputs and ne[1] = outputs (rows). */
#ifndef LMC_GGUF_H
#define LMC_GGUF_H

#include "lmc.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gguf_vtype {
    GGUF_VT_UINT8 = 0,
    GGUF_VT_INT8 = 1,
    GGUF_VT_UINT16 = 2,
    GGUF_VT_INT16 = 3,
    GGUF_VT_UINT32 = 4,
    GGUF_VT_INT32 = 5,
    GGUF_VT_FLOAT32 = 6,
    GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8,
    GGUF_VT_ARRAY = 9,
    GGUF_VT_UINT64 = 10,
    GGUF_VT_INT64 = 11,
    GGUF_VT_FLOAT64 = 12,
    GGUF_VT_COUNT
};

/* A string inside the file: not NUL-terminated. */
typedef struct {
    uint64_t len;
    const char *ptr;
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;
    uint32_t type;   /* enum gguf_vtype */
    uint64_t offset; /* byte offset of the key in the file, for messages */
    union {
        uint64_t u64; /* all unsigned integer types, bool */
        int64_t i64;  /* all signed integer types */
        double f64;   /* float32, float64 */
        gguf_str str;
        struct {
            uint32_t type;       /* element type */
            uint64_t n;          /* element count */
            const uint8_t *data; /* first element in the file (may be unaligned: memcpy to read) */
            uint64_t nbytes;     /* bytes the elements occupy in the file */
            gguf_str *strs;      /* for arrays of strings: n entries (allocated by the reader) */
        } arr;
    } v;
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[4];   /* ne[0] contiguous; unused dims are 1 */
    uint32_t type;   /* ggml type id (see quant.h) */
    uint64_t offset; /* relative to the data section */
    uint64_t nbytes;
    const void *data; /* base + data_offset + offset */
} gguf_tensor;

typedef struct gguf_file {
    char *path;          /* for messages */
    const uint8_t *base; /* mapped bytes */
    uint64_t size;
    bool mapped; /* base came from mmap (unmapped on close) */
    uint32_t version;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint64_t alignment;   /* general.alignment, default 32 */
    uint64_t data_offset; /* start of the tensor data section */
} gguf_file;

/* Opens and validates a file. Errors: LMC_ERR_IO (cannot open/map), LMC_ERR_FORMAT (malformed: the
 * message names the file, the item and the byte offset), LMC_ERR_UNSUPPORTED (version, tensor
 * type). */
lmc_status gguf_open(const char *path, gguf_file **out);
/* Same over a caller-owned buffer (kept alive by the caller until gguf_close). name is for
 * messages. */
lmc_status gguf_open_buffer(const void *buf, uint64_t size, const char *name, gguf_file **out);
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find_key(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters: return false when the key is missing or its type cannot be converted (integers of
 * any width convert to each other when the value fits; float32/64 to float). */
bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
/* Returns a malloc'ed NUL-terminated copy of a string value, or NULL. */
char *gguf_get_str_dup(const gguf_file *f, const char *key);
/* An array value of the given element type (GGUF_VT_COUNT = any), or NULL. */
const gguf_kv *gguf_get_arr(const gguf_file *f, const char *key, uint32_t elem_type);

/* Element i of a numeric array as double / int64 (caller checks i < n and the type). */
double gguf_arr_f64(const gguf_kv *kv, uint64_t i);
int64_t gguf_arr_i64(const gguf_kv *kv, uint64_t i);

const char *gguf_vtype_name(uint32_t t);
/* Byte size of a scalar value type, 0 for string/array/unknown. */
size_t gguf_vtype_size(uint32_t t);

#endif
