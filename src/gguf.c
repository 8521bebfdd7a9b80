/* gguf.c — a bounds-checked GGUF v2/v3 reader: header, key/value table, tensor table, data offset.
 * Every count, length and offset is checked against the bytes that remain before it is used or
 * allocated for; it does not interpret keys (arch.c) nor tensor payloads (quant.c). */
#include "gguf.h"

#include "quant.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
/* Arrays of arrays are legal but nobody nests deeply; the limit keeps a hostile file from
 * recursing the stack away. */
#define GGUF_MAX_ARRAY_DEPTH 8
/* Smallest encodings, used to reject counts that cannot fit in the remaining bytes before any
 * allocation: a kv is key length (8) + type (4) + at least 1 value byte; a tensor entry is name
 * length (8) + n_dims (4) + type (4) + offset (8). */
#define GGUF_MIN_KV_BYTES 13
#define GGUF_MIN_TENSOR_BYTES 24

/* The public struct plus the private hash tables used for lookups and duplicate checks. */
typedef struct {
    gguf_file pub;
    uint32_t *kv_hash; /* open addressing, (index + 1) or 0 for empty; hash_cap slots */
    uint32_t *tensor_hash;
    uint64_t kv_hash_cap, tensor_hash_cap;
} gguf_file_impl;

/* Parse state: a cursor over the bytes plus what the current item is, for messages. */
typedef struct {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const char *path;
    char item[160]; /* "key 'general.name'" / "tensor 'x' (tensor table entry 3)" */
    uint64_t item_offset;
} gguf_cursor;

/* ---- messages ----------------------------------------------------------------------------------
 */

/* Copies a file string into buf for a message: at most 64 bytes, non-printable bytes as '?'. */
static const char *gguf_printable(gguf_str s, char *buf, size_t size) {
    size_t n = s.len < 64 ? (size_t)s.len : 64, j = 0;
    if (n > size - 4) n = size - 4;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        buf[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (s.len > n) buf[j++] = '.', buf[j++] = '.', buf[j++] = '.';
    buf[j] = 0;
    return buf;
}

static void gguf_set_item(gguf_cursor *c, uint64_t offset, const char *fmt, ...) LMC_PRINTF(3, 4);
static void gguf_set_item(gguf_cursor *c, uint64_t offset, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->item, sizeof c->item, fmt, ap);
    va_end(ap);
    c->item_offset = offset;
}

/* A format error at byte offset `at`, naming the file and the current item. */
static lmc_status gguf_fail(const gguf_cursor *c, uint64_t at, const char *fmt, ...)
    LMC_PRINTF(3, 4);
static lmc_status gguf_fail(const gguf_cursor *c, uint64_t at, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lmc_err(LMC_ERR_FORMAT, "%s: %s at offset %llu: %s", c->path, c->item,
                   (unsigned long long)at, what);
}

/* ---- primitive reads (memcpy: the file gives no alignment guarantees)
 * ---------------------------- */

static uint64_t gguf_remaining(const gguf_cursor *c) {
    return c->size - c->pos;
}

static lmc_status gguf_need(gguf_cursor *c, uint64_t n, const char *what) {
    if (n > gguf_remaining(c))
        return gguf_fail(c, c->pos,
                         "%s needs %llu bytes but the file ends %llu bytes later (file size %llu)",
                         what, (unsigned long long)n, (unsigned long long)gguf_remaining(c),
                         (unsigned long long)c->size);
    return LMC_OK;
}

static lmc_status gguf_read_u32(gguf_cursor *c, uint32_t *out, const char *what) {
    lmc_status st = gguf_need(c, 4, what);
    if (st) return st;
    uint8_t b[4];
    memcpy(b, c->base + c->pos, 4);
    *out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    c->pos += 4;
    return LMC_OK;
}

static lmc_status gguf_read_u64(gguf_cursor *c, uint64_t *out, const char *what) {
    lmc_status st = gguf_need(c, 8, what);
    if (st) return st;
    uint8_t b[8];
    memcpy(b, c->base + c->pos, 8);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    *out = v;
    c->pos += 8;
    return LMC_OK;
}

static lmc_status gguf_read_str(gguf_cursor *c, gguf_str *out, const char *what) {
    uint64_t at = c->pos, len;
    lmc_status st = gguf_read_u64(c, &len, what);
    if (st) return st;
    if (len > gguf_remaining(c))
        return gguf_fail(
            c, at, "%s length %llu runs past the end of the file (%llu bytes left, file size %llu)",
            what, (unsigned long long)len, (unsigned long long)gguf_remaining(c),
            (unsigned long long)c->size);
    out->len = len;
    out->ptr = (const char *)c->base + c->pos;
    c->pos += len;
    return LMC_OK;
}

/* ---- values
 * -------------------------------------------------------------------------------------- */

size_t gguf_vtype_size(uint32_t t) {
    switch (t) {
    case GGUF_VT_UINT8:
    case GGUF_VT_INT8:
    case GGUF_VT_BOOL:
        return 1;
    case GGUF_VT_UINT16:
    case GGUF_VT_INT16:
        return 2;
    case GGUF_VT_UINT32:
    case GGUF_VT_INT32:
    case GGUF_VT_FLOAT32:
        return 4;
    case GGUF_VT_UINT64:
    case GGUF_VT_INT64:
    case GGUF_VT_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

const char *gguf_vtype_name(uint32_t t) {
    static const char *names[GGUF_VT_COUNT] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                               "int32",  "float32", "bool",   "string", "array",
                                               "uint64", "int64",   "float64"};
    return t < GGUF_VT_COUNT ? names[t] : "?";
}

/* Decodes a scalar of type t from p (size gguf_vtype_size(t) bytes, little-endian) into kv->v. */
static void gguf_decode_scalar(uint32_t t, const uint8_t *p, gguf_kv *kv) {
    uint64_t u = 0;
    size_t n = gguf_vtype_size(t);
    for (size_t i = n; i-- > 0;)
        u = u << 8 | p[i];
    switch (t) {
    case GGUF_VT_INT8:
        kv->v.i64 = (int8_t)(uint8_t)u;
        break;
    case GGUF_VT_INT16:
        kv->v.i64 = (int16_t)(uint16_t)u;
        break;
    case GGUF_VT_INT32:
        kv->v.i64 = (int32_t)(uint32_t)u;
        break;
    case GGUF_VT_INT64:
        kv->v.i64 = (int64_t)u;
        break;
    case GGUF_VT_FLOAT32: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        kv->v.f64 = f;
        break;
    }
    case GGUF_VT_FLOAT64:
        memcpy(&kv->v.f64, &u, 8);
        break;
    default:
        kv->v.u64 = u;
        break;
    }
}

/* Skips (and validates) n array elements of type t at the cursor: the recursive part, used for
 * nested arrays. strs, when not NULL, receives string elements. */
static lmc_status gguf_skip_elems(gguf_cursor *c, uint32_t t, uint64_t n, gguf_str *strs,
                                  int depth) {
    uint64_t at = c->pos;
    if (t == GGUF_VT_STRING) {
        if (n > gguf_remaining(c) / 8)
            return gguf_fail(c, at, "array of %llu strings cannot fit in the %llu bytes left",
                             (unsigned long long)n, (unsigned long long)gguf_remaining(c));
        for (uint64_t i = 0; i < n; i++) {
            gguf_str s;
            char what[48];
            snprintf(what, sizeof what, "string element %llu", (unsigned long long)i);
            lmc_status st = gguf_read_str(c, &s, what);
            if (st) return st;
            if (strs) strs[i] = s;
        }
        return LMC_OK;
    }
    if (t == GGUF_VT_ARRAY) {
        if (depth >= GGUF_MAX_ARRAY_DEPTH)
            return gguf_fail(c, at, "arrays nested more than %d deep", GGUF_MAX_ARRAY_DEPTH);
        if (n > gguf_remaining(c) / 12) /* each inner array: type (4) + count (8) */
            return gguf_fail(c, at, "array of %llu arrays cannot fit in the %llu bytes left",
                             (unsigned long long)n, (unsigned long long)gguf_remaining(c));
        for (uint64_t i = 0; i < n; i++) {
            uint32_t et;
            uint64_t en, eat = c->pos;
            lmc_status st = gguf_read_u32(c, &et, "nested array element type");
            if (!st) st = gguf_read_u64(c, &en, "nested array count");
            if (st) return st;
            if (et >= GGUF_VT_COUNT)
                return gguf_fail(c, eat, "nested array %llu has unknown element type %u",
                                 (unsigned long long)i, et);
            st = gguf_skip_elems(c, et, en, NULL, depth + 1);
            if (st) return st;
        }
        return LMC_OK;
    }
    size_t es = gguf_vtype_size(t);
    if (es == 0) return gguf_fail(c, at, "unknown array element type %u", t);
    if (n > gguf_remaining(c) / es)
        return gguf_fail(c, at,
                         "array of %llu %s values (%llu bytes each) runs past the end of the file "
                         "(%llu bytes left)",
                         (unsigned long long)n, gguf_vtype_name(t), (unsigned long long)es,
                         (unsigned long long)gguf_remaining(c));
    if (t == GGUF_VT_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (c->base[c->pos + i] > 1)
                return gguf_fail(c, c->pos + i, "bool element %llu has value %u (0 or 1 expected)",
                                 (unsigned long long)i, c->base[c->pos + i]);
    c->pos += n * es;
    return LMC_OK;
}

static lmc_status gguf_read_value(gguf_cursor *c, gguf_kv *kv) {
    uint64_t at = c->pos;
    if (kv->type == GGUF_VT_STRING) return gguf_read_str(c, &kv->v.str, "string value");
    if (kv->type == GGUF_VT_ARRAY) {
        uint32_t et;
        uint64_t n;
        lmc_status st = gguf_read_u32(c, &et, "array element type");
        if (!st) st = gguf_read_u64(c, &n, "array count");
        if (st) return st;
        if (et >= GGUF_VT_COUNT) return gguf_fail(c, at, "array has unknown element type %u", et);
        kv->v.arr.type = et;
        kv->v.arr.n = n;
        kv->v.arr.data = c->base + c->pos;
        if (et == GGUF_VT_STRING && n > 0) {
            /* n <= remaining / 8: checked here too so the allocation is bounded by the file size */
            if (n > gguf_remaining(c) / 8)
                return gguf_fail(c, at, "array of %llu strings cannot fit in the %llu bytes left",
                                 (unsigned long long)n, (unsigned long long)gguf_remaining(c));
            kv->v.arr.strs = malloc((size_t)n * sizeof(gguf_str));
            if (!kv->v.arr.strs)
                return lmc_err(LMC_ERR_OOM, "%s: %s: cannot allocate %llu string entries", c->path,
                               c->item, (unsigned long long)n);
        }
        uint64_t start = c->pos;
        st = gguf_skip_elems(c, et, n, kv->v.arr.strs, 1);
        if (st) return st;
        kv->v.arr.nbytes = c->pos - start;
        return LMC_OK;
    }
    size_t es = gguf_vtype_size(kv->type);
    if (es == 0) return gguf_fail(c, at - 4, "unknown value type %u", kv->type);
    lmc_status st = gguf_need(c, es, "value");
    if (st) return st;
    const uint8_t *p = c->base + c->pos;
    if (kv->type == GGUF_VT_BOOL && *p > 1)
        return gguf_fail(c, at, "bool value %u (0 or 1 expected)", *p);
    gguf_decode_scalar(kv->type, p, kv);
    c->pos += es;
    return LMC_OK;
}

/* ---- lookups (FNV-1a over the name, open addressing) --------------------------------------------
 */

static uint64_t gguf_hash(const char *s, uint64_t len) {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static bool gguf_str_eq(gguf_str a, const char *s, uint64_t len) {
    return a.len == len && (len == 0 || memcmp(a.ptr, s, (size_t)len) == 0);
}

/* Table capacity: a power of two at least twice n (n is bounded by the file size already). */
static uint64_t gguf_hash_cap(uint64_t n) {
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    return cap;
}

/* Finds name among names[] through the table; inserts index idx when not found and idx is given.
 * Returns the existing index, or -1. */
static int64_t gguf_hash_lookup(uint32_t *table, uint64_t cap,
                                const gguf_str *(*name_of)(const void *, uint64_t),
                                const void *items, const char *s, uint64_t len, int64_t idx) {
    if (!table) return -1;
    uint64_t mask = cap - 1, h = gguf_hash(s, len) & mask;
    for (;;) {
        uint32_t slot = table[h];
        if (slot == 0) {
            if (idx >= 0) table[h] = (uint32_t)idx + 1;
            return -1;
        }
        if (gguf_str_eq(*name_of(items, slot - 1), s, len)) return slot - 1;
        h = (h + 1) & mask;
    }
}

static const gguf_str *gguf_kv_name(const void *items, uint64_t i) {
    return &((const gguf_kv *)items)[i].key;
}
static const gguf_str *gguf_tensor_name(const void *items, uint64_t i) {
    return &((const gguf_tensor *)items)[i].name;
}

const gguf_kv *gguf_find_key(const gguf_file *f, const char *key) {
    if (!f || !key) return NULL;
    const gguf_file_impl *fi = (const gguf_file_impl *)f;
    int64_t i =
        gguf_hash_lookup(fi->kv_hash, fi->kv_hash_cap, gguf_kv_name, f->kv, key, strlen(key), -1);
    return i >= 0 ? &f->kv[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!f || !name) return NULL;
    const gguf_file_impl *fi = (const gguf_file_impl *)f;
    int64_t i = gguf_hash_lookup(fi->tensor_hash, fi->tensor_hash_cap, gguf_tensor_name, f->tensors,
                                 name, strlen(name), -1);
    return i >= 0 ? &f->tensors[i] : NULL;
}

/* ---- parsing
 * ------------------------------------------------------------------------------------- */

static lmc_status gguf_parse_kvs(gguf_cursor *c, gguf_file_impl *fi) {
    gguf_file *f = &fi->pub;
    char name[80];
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        uint64_t at = c->pos;
        gguf_set_item(c, at, "key/value entry %llu", (unsigned long long)i);
        lmc_status st = gguf_read_str(c, &kv->key, "key");
        if (st) return st;
        kv->offset = at;
        gguf_printable(kv->key, name, sizeof name);
        gguf_set_item(c, at, "key '%s' (key/value entry %llu)", name, (unsigned long long)i);
        if (kv->key.len == 0) return gguf_fail(c, at, "empty key name");
        if (gguf_hash_lookup(fi->kv_hash, fi->kv_hash_cap, gguf_kv_name, f->kv, kv->key.ptr,
                             kv->key.len, (int64_t)i) >= 0)
            return gguf_fail(c, at, "duplicate key");
        uint64_t tat = c->pos;
        st = gguf_read_u32(c, &kv->type, "value type");
        if (st) return st;
        if (kv->type >= GGUF_VT_COUNT) return gguf_fail(c, tat, "unknown value type %u", kv->type);
        st = gguf_read_value(c, kv);
        if (st) return st;
    }
    return LMC_OK;
}

/* Reads general.alignment when present: a uint32 that is a nonzero power of two. */
static lmc_status gguf_parse_alignment(gguf_cursor *c, gguf_file *f) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_key(f, "general.alignment");
    if (!kv) return LMC_OK;
    gguf_set_item(c, kv->offset, "key 'general.alignment'");
    if (kv->type != GGUF_VT_UINT32)
        return gguf_fail(c, kv->offset, "type %s (uint32 expected)", gguf_vtype_name(kv->type));
    uint64_t a = kv->v.u64;
    if (a == 0 || (a & (a - 1)) != 0)
        return gguf_fail(c, kv->offset, "alignment %llu is not a power of two",
                         (unsigned long long)a);
    f->alignment = a;
    return LMC_OK;
}

static lmc_status gguf_parse_tensor(gguf_cursor *c, gguf_file_impl *fi, uint64_t i) {
    gguf_file *f = &fi->pub;
    gguf_tensor *t = &f->tensors[i];
    char name[80];
    uint64_t at = c->pos;
    gguf_set_item(c, at, "tensor table entry %llu", (unsigned long long)i);
    lmc_status st = gguf_read_str(c, &t->name, "tensor name");
    if (st) return st;
    gguf_printable(t->name, name, sizeof name);
    gguf_set_item(c, at, "tensor '%s' (tensor table entry %llu)", name, (unsigned long long)i);
    if (t->name.len == 0) return gguf_fail(c, at, "empty tensor name");
    if (gguf_hash_lookup(fi->tensor_hash, fi->tensor_hash_cap, gguf_tensor_name, f->tensors,
                         t->name.ptr, t->name.len, (int64_t)i) >= 0)
        return gguf_fail(c, at, "duplicate tensor name");

    uint64_t dat = c->pos;
    st = gguf_read_u32(c, &t->n_dims, "n_dims");
    if (st) return st;
    if (t->n_dims > GGUF_MAX_DIMS)
        return gguf_fail(c, dat, "n_dims %u (at most %d supported)", t->n_dims, GGUF_MAX_DIMS);
    int64_t n_elem = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t v, vat = c->pos;
        st = gguf_read_u64(c, &v, "dimension");
        if (st) return st;
        if (v == 0 || v > (uint64_t)INT64_MAX)
            return gguf_fail(c, vat, "ne[%u] = %lld (must be positive)", d, (long long)(int64_t)v);
        t->ne[d] = (int64_t)v;
        if (t->ne[d] > INT64_MAX / n_elem)
            return gguf_fail(c, vat, "element count overflows at ne[%u] = %lld", d,
                             (long long)t->ne[d]);
        n_elem *= t->ne[d];
    }

    uint64_t tat = c->pos;
    st = gguf_read_u32(c, &t->type, "tensor type");
    if (st) return st;
    const lmc_type_traits *tr = lmc_type_get(t->type);
    if (!tr) return gguf_fail(c, tat, "unknown tensor type id %u", t->type);
    if (t->ne[0] % tr->blck_size != 0)
        return gguf_fail(c, tat, "ne[0] = %lld is not a multiple of the %s block size %d",
                         (long long)t->ne[0], tr->name, tr->blck_size);
    /* bytes = (ne0 / blck) * type_size * ne1 * ne2 * ne3, each step checked for overflow */
    uint64_t nbytes = (uint64_t)(t->ne[0] / tr->blck_size);
    if (nbytes > UINT64_MAX / (uint64_t)tr->type_size)
        return gguf_fail(c, tat, "byte size overflows");
    nbytes *= (uint64_t)tr->type_size;
    for (int d = 1; d < GGUF_MAX_DIMS; d++) {
        if (nbytes > UINT64_MAX / (uint64_t)t->ne[d])
            return gguf_fail(c, tat, "byte size overflows");
        nbytes *= (uint64_t)t->ne[d];
    }
    t->nbytes = nbytes;

    uint64_t oat = c->pos;
    st = gguf_read_u64(c, &t->offset, "tensor data offset");
    if (st) return st;
    if (t->offset % f->alignment != 0)
        return gguf_fail(c, oat, "data offset %llu is not a multiple of the alignment %llu",
                         (unsigned long long)t->offset, (unsigned long long)f->alignment);
    return LMC_OK;
}

static int gguf_cmp_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Each tensor's data must lie inside the file, and no two tensors may share bytes. */
static lmc_status gguf_check_data(gguf_cursor *c, gguf_file *f) {
    char name[80], name2[80];
    uint64_t avail = f->size - f->data_offset;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset > avail || t->nbytes > avail - t->offset) {
            gguf_set_item(c, f->data_offset + t->offset, "tensor '%s' (tensor table entry %llu)",
                          gguf_printable(t->name, name, sizeof name), (unsigned long long)i);
            return gguf_fail(
                c, f->data_offset + t->offset,
                "data of %llu bytes runs past the end of the file (data section starts at %llu, "
                "file size %llu)",
                (unsigned long long)t->nbytes, (unsigned long long)f->data_offset,
                (unsigned long long)f->size);
        }
        t->data = f->base + f->data_offset + t->offset;
    }
    if (f->n_tensors < 2) return LMC_OK;
    const gguf_tensor **order = malloc((size_t)f->n_tensors * sizeof *order);
    if (!order) return lmc_err(LMC_ERR_OOM, "%s: cannot allocate the tensor order", f->path);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, gguf_cmp_offset);
    lmc_status st = LMC_OK;
    for (uint64_t i = 0; i + 1 < f->n_tensors; i++) {
        const gguf_tensor *a = order[i], *b = order[i + 1];
        if (a->offset + a->nbytes > b->offset) { /* no overflow: both lie inside the file */
            gguf_set_item(c, f->data_offset + b->offset, "tensor '%s'",
                          gguf_printable(b->name, name, sizeof name));
            st = gguf_fail(c, f->data_offset + b->offset,
                           "data overlaps tensor '%s' (data offset %llu, %llu bytes)",
                           gguf_printable(a->name, name2, sizeof name2),
                           (unsigned long long)a->offset, (unsigned long long)a->nbytes);
            break;
        }
    }
    free(order);
    return st;
}

static lmc_status gguf_parse(gguf_file_impl *fi) {
    gguf_file *f = &fi->pub;
    gguf_cursor c = {.base = f->base, .size = f->size, .pos = 0, .path = f->path};
    gguf_set_item(&c, 0, "header");
    lmc_status st = gguf_need(&c, 4, "magic");
    if (st) return st;
    if (memcmp(f->base, GGUF_MAGIC, 4) != 0)
        return gguf_fail(&c, 0, "bad magic %02x %02x %02x %02x (not a GGUF file)", f->base[0],
                         f->base[1], f->base[2], f->base[3]);
    c.pos = 4;
    st = gguf_read_u32(&c, &f->version, "version");
    if (st) return st;
    if (f->version != 2 && f->version != 3) {
        const char *hint = f->version == 1 ? " (GGUF v1 predates 64-bit counts; convert the file)"
                           : (f->version & 0xffff) == 0 ? " (a big-endian file?)"
                                                        : "";
        return lmc_err(LMC_ERR_UNSUPPORTED,
                       "%s: header at offset 4: GGUF version %u is not supported (2 or 3)%s",
                       f->path, f->version, hint);
    }
    st = gguf_read_u64(&c, &f->n_tensors, "tensor count");
    if (!st) st = gguf_read_u64(&c, &f->n_kv, "key/value count");
    if (st) return st;
    if (f->n_tensors > gguf_remaining(&c) / GGUF_MIN_TENSOR_BYTES)
        return gguf_fail(&c, 8, "tensor count %llu cannot fit in a file of %llu bytes",
                         (unsigned long long)f->n_tensors, (unsigned long long)f->size);
    if (f->n_kv > gguf_remaining(&c) / GGUF_MIN_KV_BYTES)
        return gguf_fail(&c, 16, "key/value count %llu cannot fit in a file of %llu bytes",
                         (unsigned long long)f->n_kv, (unsigned long long)f->size);
    if (f->n_kv >= UINT32_MAX || f->n_tensors >= UINT32_MAX) /* indices live in uint32 hash slots */
        return gguf_fail(&c, 8, "more than 2^32 tensors or keys");

    /* counts are bounded by the file size now, so these allocations are too */
    f->kv = calloc((size_t)f->n_kv + 1, sizeof *f->kv);
    f->tensors = calloc((size_t)f->n_tensors + 1, sizeof *f->tensors);
    fi->kv_hash_cap = gguf_hash_cap(f->n_kv);
    fi->tensor_hash_cap = gguf_hash_cap(f->n_tensors);
    fi->kv_hash = calloc((size_t)fi->kv_hash_cap, sizeof *fi->kv_hash);
    fi->tensor_hash = calloc((size_t)fi->tensor_hash_cap, sizeof *fi->tensor_hash);
    if (!f->kv || !f->tensors || !fi->kv_hash || !fi->tensor_hash)
        return lmc_err(LMC_ERR_OOM, "%s: cannot allocate tables for %llu keys and %llu tensors",
                       f->path, (unsigned long long)f->n_kv, (unsigned long long)f->n_tensors);

    st = gguf_parse_kvs(&c, fi);
    if (!st) st = gguf_parse_alignment(&c, f);
    if (st) return st;
    if (f->n_tensors > gguf_remaining(&c) / GGUF_MIN_TENSOR_BYTES) {
        gguf_set_item(&c, c.pos, "tensor table");
        return gguf_fail(&c, c.pos, "%llu tensor entries cannot fit in the %llu bytes left",
                         (unsigned long long)f->n_tensors, (unsigned long long)gguf_remaining(&c));
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        st = gguf_parse_tensor(&c, fi, i);
        if (st) return st;
    }
    /* The data section starts at the next multiple of the alignment. Vocab-only files (no tensors)
     * often end without that padding, so clamp to the file size there; with tensors it must fit. */
    uint64_t data_offset = c.pos + (f->alignment - c.pos % f->alignment) % f->alignment;
    if (data_offset > f->size) {
        if (f->n_tensors > 0) {
            gguf_set_item(&c, c.pos, "tensor data section");
            return gguf_fail(&c, c.pos,
                             "aligned start %llu lies past the end of the file (size %llu)",
                             (unsigned long long)data_offset, (unsigned long long)f->size);
        }
        data_offset = f->size;
    }
    f->data_offset = data_offset;
    return gguf_check_data(&c, f);
}

/* ---- open / close
 * -------------------------------------------------------------------------------- */

static lmc_status gguf_open_impl(const void *buf, uint64_t size, bool mapped, const char *name,
                                 gguf_file **out) {
    *out = NULL;
    gguf_file_impl *fi = calloc(1, sizeof *fi);
    char *path = strdup(name ? name : "(buffer)");
    if (!fi || !path) {
        free(fi);
        free(path);
        if (mapped) munmap((void *)buf, (size_t)size);
        return lmc_err(LMC_ERR_OOM, "%s: out of memory", name ? name : "(buffer)");
    }
    fi->pub.path = path;
    fi->pub.base = buf;
    fi->pub.size = size;
    fi->pub.mapped = mapped;
    lmc_status st = gguf_parse(fi);
    if (st) {
        gguf_close(&fi->pub);
        return st;
    }
    *out = &fi->pub;
    return LMC_OK;
}

lmc_status gguf_open_buffer(const void *buf, uint64_t size, const char *name, gguf_file **out) {
    if (!out) return lmc_err(LMC_ERR_INVALID_ARG, "gguf_open_buffer: out is NULL");
    *out = NULL;
    if (!buf && size > 0) return lmc_err(LMC_ERR_INVALID_ARG, "gguf_open_buffer: NULL buffer");
    static const uint8_t empty[1];
    return gguf_open_impl(buf ? buf : empty, size, false, name, out);
}

lmc_status gguf_open(const char *path, gguf_file **out) {
    if (!out || !path) return lmc_err(LMC_ERR_INVALID_ARG, "gguf_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lmc_err(LMC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return lmc_err(LMC_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return lmc_err(LMC_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size == 0) { /* mmap cannot map nothing; the parser reports the missing header */
        close(fd);
        return gguf_open_buffer(NULL, 0, path, out);
    }
    if (size > (uint64_t)SIZE_MAX) {
        close(fd);
        return lmc_err(LMC_ERR_IO, "%s: file of %llu bytes cannot be mapped", path,
                       (unsigned long long)size);
    }
    void *base = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (base == MAP_FAILED)
        return lmc_err(LMC_ERR_IO, "%s: cannot map %llu bytes: %s", path, (unsigned long long)size,
                       strerror(e));
    return gguf_open_impl(base, size, true, path, out);
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    gguf_file_impl *fi = (gguf_file_impl *)f;
    if (f->kv)
        for (uint64_t i = 0; i < f->n_kv; i++)
            if (f->kv[i].type == GGUF_VT_ARRAY) free(f->kv[i].v.arr.strs);
    free(f->kv);
    free(f->tensors);
    free(fi->kv_hash);
    free(fi->tensor_hash);
    if (f->mapped) munmap((void *)f->base, (size_t)f->size);
    free(f->path);
    free(fi);
}

/* ---- typed getters
 * ------------------------------------------------------------------------------- */

static bool gguf_is_unsigned(uint32_t t) {
    return t == GGUF_VT_UINT8 || t == GGUF_VT_UINT16 || t == GGUF_VT_UINT32 || t == GGUF_VT_UINT64;
}
static bool gguf_is_signed(uint32_t t) {
    return t == GGUF_VT_INT8 || t == GGUF_VT_INT16 || t == GGUF_VT_INT32 || t == GGUF_VT_INT64;
}

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out) {
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv) return false;
    if (gguf_is_unsigned(kv->type) && kv->v.u64 <= UINT32_MAX) {
        *out = (uint32_t)kv->v.u64;
        return true;
    }
    if (gguf_is_signed(kv->type) && kv->v.i64 >= 0 && kv->v.i64 <= (int64_t)UINT32_MAX) {
        *out = (uint32_t)kv->v.i64;
        return true;
    }
    return false;
}

bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out) {
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv) return false;
    if (gguf_is_unsigned(kv->type) && kv->v.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)kv->v.u64;
        return true;
    }
    if (gguf_is_signed(kv->type)) {
        *out = kv->v.i64;
        return true;
    }
    return false;
}

bool gguf_get_f32(const gguf_file *f, const char *key, float *out) {
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv || (kv->type != GGUF_VT_FLOAT32 && kv->type != GGUF_VT_FLOAT64)) return false;
    *out = (float)kv->v.f64;
    return true;
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out) {
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv || kv->type != GGUF_VT_BOOL) return false;
    *out = kv->v.u64 != 0;
    return true;
}

char *gguf_get_str_dup(const gguf_file *f, const char *key) {
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv || kv->type != GGUF_VT_STRING) return NULL;
    char *s = malloc((size_t)kv->v.str.len + 1); /* len is bounded by the file size */
    if (!s) return NULL;
    if (kv->v.str.len) memcpy(s, kv->v.str.ptr, (size_t)kv->v.str.len);
    s[kv->v.str.len] = 0;
    return s;
}

const gguf_kv *gguf_get_arr(const gguf_file *f, const char *key, uint32_t elem_type) {
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv || kv->type != GGUF_VT_ARRAY) return NULL;
    if (elem_type != GGUF_VT_COUNT && kv->v.arr.type != elem_type) return NULL;
    return kv;
}

/* Decodes element i of a numeric array; false for strings, arrays and out-of-range indices. */
static bool gguf_arr_elem(const gguf_kv *kv, uint64_t i, gguf_kv *tmp) {
    if (!kv || kv->type != GGUF_VT_ARRAY || i >= kv->v.arr.n) return false;
    size_t es = gguf_vtype_size(kv->v.arr.type);
    if (es == 0) return false;
    tmp->type = kv->v.arr.type;
    gguf_decode_scalar(kv->v.arr.type, kv->v.arr.data + i * es, tmp);
    return true;
}

double gguf_arr_f64(const gguf_kv *kv, uint64_t i) {
    gguf_kv e;
    if (!gguf_arr_elem(kv, i, &e)) return 0.0;
    if (e.type == GGUF_VT_FLOAT32 || e.type == GGUF_VT_FLOAT64) return e.v.f64;
    if (gguf_is_signed(e.type)) return (double)e.v.i64;
    return (double)e.v.u64;
}

int64_t gguf_arr_i64(const gguf_kv *kv, uint64_t i) {
    gguf_kv e;
    if (!gguf_arr_elem(kv, i, &e)) return 0;
    if (e.type == GGUF_VT_FLOAT32 || e.type == GGUF_VT_FLOAT64) {
        /* converting NaN or an out-of-range double is undefined behaviour: clamp first */
        double d = e.v.f64;
        if (!(d >= -9.2e18 && d <= 9.2e18)) return 0;
        return (int64_t)d;
    }
    if (gguf_is_signed(e.type)) return e.v.i64;
    return e.v.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)e.v.u64;
}
