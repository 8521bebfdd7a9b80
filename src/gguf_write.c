/* gguf_write.c — the streaming GGUF v3 writer (see gguf_write.h). Key/values are kept as encoded
 * byte strings so copying a file's metadata is byte-exact; the tensor table is kept as records and
 * encoded when the header is written. Little-endian hosts only (as the rest of lmc). */
#include "gguf_write.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *bytes; /* key (u64 length + bytes), u32 type, value */
    size_t len;
    size_t key_len;
} wkv;

typedef struct {
    char *name;
    size_t name_len;
    uint32_t n_dims, type;
    int64_t ne[4];
    uint64_t offset, nbytes;
} wtensor;

struct gguf_writer {
    uint64_t alignment;
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint64_t data_size; /* bytes of the data section so far (padded) */
    size_t next;        /* index of the tensor whose data comes next */
};

static uint64_t pad_to(uint64_t n, uint64_t a) {
    return (n + a - 1) / a * a;
}

gguf_writer *gguf_writer_init(uint64_t alignment) {
    gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = alignment ? alignment : 32;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++)
        free(w->kv[i].bytes);
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

void gguf_writer_remove(gguf_writer *w, const char *key, size_t key_len) {
    for (size_t i = 0; i < w->n_kv; i++) {
        if (w->kv[i].key_len == key_len && !memcmp(w->kv[i].bytes + 8, key, key_len)) {
            free(w->kv[i].bytes);
            memmove(w->kv + i, w->kv + i + 1, (w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return;
        }
    }
}

lmc_status gguf_writer_set_raw(gguf_writer *w, const char *key, size_t key_len, uint32_t vtype,
                               const void *value, size_t value_len) {
    gguf_writer_remove(w, key, key_len);
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 64;
        wkv *nk = realloc(w->kv, cap * sizeof *nk);
        if (!nk) return lmc_err(LMC_ERR_OOM, "gguf writer: out of memory");
        w->kv = nk;
        w->cap_kv = cap;
    }
    size_t len = 8 + key_len + 4 + value_len;
    char *b = malloc(len);
    if (!b) return lmc_err(LMC_ERR_OOM, "gguf writer: out of memory");
    uint64_t kl = key_len;
    memcpy(b, &kl, 8);
    memcpy(b + 8, key, key_len);
    memcpy(b + 8 + key_len, &vtype, 4);
    if (value_len) memcpy(b + 12 + key_len, value, value_len);
    w->kv[w->n_kv++] = (wkv){b, len, key_len};
    return LMC_OK;
}

lmc_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    return gguf_writer_set_raw(w, key, strlen(key), 4 /* GGUF uint32 */, &v, 4);
}

lmc_status gguf_writer_add_tensor(gguf_writer *w, const char *name, size_t name_len,
                                  uint32_t n_dims, const int64_t *ne, uint32_t type,
                                  uint64_t nbytes) {
    if (n_dims < 1 || n_dims > 4)
        return lmc_err(LMC_ERR_INVALID_ARG, "gguf writer: %u dims", n_dims);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) return lmc_err(LMC_ERR_OOM, "gguf writer: out of memory");
        w->t = nt;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = malloc(name_len + 1)))
        return lmc_err(LMC_ERR_OOM, "gguf writer: out of memory");
    memcpy(t->name, name, name_len);
    t->name[name_len] = 0;
    t->name_len = name_len;
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++)
        t->ne[d] = d < (int)n_dims ? ne[d] : 1;
    t->type = type;
    t->nbytes = nbytes;
    t->offset = w->data_size;
    w->data_size += pad_to(nbytes, w->alignment);
    w->n_t++;
    return LMC_OK;
}

static lmc_status put(FILE *f, const char *path, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, f) != n) return lmc_err(LMC_ERR_IO, "%s: write failed", path);
    return LMC_OK;
}

static lmc_status put_zeros(FILE *f, const char *path, size_t n) {
    static const char zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        lmc_status st = put(f, path, zeros, k);
        if (st) return st;
        n -= k;
    }
    return LMC_OK;
}

lmc_status gguf_writer_write_meta(gguf_writer *w, FILE *f, const char *path) {
    uint32_t version = 3;
    uint64_t n_t = w->n_t, n_kv = w->n_kv, pos = 24;
    lmc_status st = put(f, path, "GGUF", 4);
    if (!st) st = put(f, path, &version, 4);
    if (!st) st = put(f, path, &n_t, 8);
    if (!st) st = put(f, path, &n_kv, 8);
    for (size_t i = 0; !st && i < w->n_kv; i++) {
        st = put(f, path, w->kv[i].bytes, w->kv[i].len);
        pos += w->kv[i].len;
    }
    for (size_t i = 0; !st && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t nl = t->name_len;
        st = put(f, path, &nl, 8);
        if (!st) st = put(f, path, t->name, t->name_len);
        if (!st) st = put(f, path, &t->n_dims, 4);
        if (!st) st = put(f, path, t->ne, 8 * (size_t)t->n_dims);
        if (!st) st = put(f, path, &t->type, 4);
        if (!st) st = put(f, path, &t->offset, 8);
        pos += 8 + t->name_len + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
    }
    if (!st) st = put_zeros(f, path, (size_t)(pad_to(pos, w->alignment) - pos));
    return st;
}

lmc_status gguf_writer_write_data(gguf_writer *w, FILE *f, const char *path, const void *data,
                                  uint64_t nbytes) {
    if (w->next >= w->n_t || w->t[w->next].nbytes != nbytes)
        return lmc_err(LMC_ERR_INVALID_ARG, "gguf writer: tensor data out of order or mis-sized");
    w->next++;
    lmc_status st = put(f, path, data, (size_t)nbytes);
    if (!st) st = put_zeros(f, path, (size_t)(pad_to(nbytes, w->alignment) - nbytes));
    return st;
}
