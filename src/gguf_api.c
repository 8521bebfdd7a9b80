/* gguf_api.c — the public read-only GGUF API of lmc.h (lmc_gguf_*): a handle over gguf.c's reader
 * that copies its header, key/value and tensor entries out into the public structs. It parses
 * nothing itself (gguf.c does) and never interprets tensor data; the architecture summary comes
 * from arch.c. */
#include "gguf.h"
#include "model.h"
#include "quant.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct lmc_gguf {
    gguf_file *f;
};

lmc_status lmc_gguf_open(const char *path, lmc_gguf **out) {
    if (!path || !out)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gguf_open: path and out are required");
    *out = NULL;
    lmc_gguf *g = calloc(1, sizeof *g);
    if (!g) return lmc_err(LMC_ERR_OOM, "out of memory");
    lmc_status st = gguf_open(path, &g->f);
    if (st != LMC_OK) {
        free(g);
        return st;
    }
    *out = g;
    return LMC_OK;
}

void lmc_gguf_close(lmc_gguf *g) {
    if (!g) return;
    gguf_close(g->f);
    free(g);
}

void lmc_gguf_get_header(const lmc_gguf *g, lmc_gguf_header *out) {
    const gguf_file *f = g->f;
    *out = (lmc_gguf_header){
        .path = f->path,
        .version = f->version,
        .alignment = f->alignment,
        .n_kv = f->n_kv,
        .n_tensors = f->n_tensors,
        .data_offset = f->data_offset,
        .size = f->size,
    };
}

static bool vtype_signed(uint32_t t) {
    return t == GGUF_VT_INT8 || t == GGUF_VT_INT16 || t == GGUF_VT_INT32 || t == GGUF_VT_INT64;
}

lmc_status lmc_gguf_get_kv(const lmc_gguf *g, uint64_t i, lmc_gguf_kv *out) {
    memset(out, 0, sizeof *out);
    if (!g || i >= g->f->n_kv)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gguf_get_kv: entry %llu out of range",
                       (unsigned long long)i);
    const gguf_kv *kv = &g->f->kv[i];
    out->key = kv->key.ptr;
    out->key_len = kv->key.len;
    out->type = kv->type;
    if (kv->type == GGUF_VT_STRING) {
        out->str = kv->v.str.ptr;
        out->str_len = kv->v.str.len;
    } else if (kv->type == GGUF_VT_ARRAY) {
        out->arr_type = kv->v.arr.type;
        out->arr_n = kv->v.arr.n;
        out->arr_nbytes = kv->v.arr.nbytes;
    } else if (kv->type == GGUF_VT_FLOAT32 || kv->type == GGUF_VT_FLOAT64) {
        out->f64 = kv->v.f64;
    } else if (vtype_signed(kv->type)) {
        out->i64 = kv->v.i64;
    } else {
        out->u64 = kv->v.u64;
    }
    return LMC_OK;
}

/* Entry i when it is an array of strings (want_str) or of numbers with an element j, else NULL. */
static const gguf_kv *arr_at(const lmc_gguf *g, uint64_t i, uint64_t j, bool want_str) {
    if (!g || i >= g->f->n_kv) return NULL;
    const gguf_kv *kv = &g->f->kv[i];
    if (kv->type != GGUF_VT_ARRAY || j >= kv->v.arr.n) return NULL;
    uint32_t et = kv->v.arr.type;
    if (want_str ? et != GGUF_VT_STRING : gguf_vtype_size(et) == 0) return NULL;
    return kv;
}

double lmc_gguf_arr_f64(const lmc_gguf *g, uint64_t i, uint64_t j) {
    const gguf_kv *kv = arr_at(g, i, j, false);
    return kv ? gguf_arr_f64(kv, j) : 0.0;
}

int64_t lmc_gguf_arr_i64(const lmc_gguf *g, uint64_t i, uint64_t j) {
    const gguf_kv *kv = arr_at(g, i, j, false);
    return kv ? gguf_arr_i64(kv, j) : 0;
}

const char *lmc_gguf_arr_str(const lmc_gguf *g, uint64_t i, uint64_t j, uint64_t *len) {
    const gguf_kv *kv = arr_at(g, i, j, true);
    if (len) *len = kv ? kv->v.arr.strs[j].len : 0;
    return kv ? kv->v.arr.strs[j].ptr : NULL;
}

lmc_status lmc_gguf_get_tensor(const lmc_gguf *g, uint64_t i, lmc_gguf_tensor *out) {
    memset(out, 0, sizeof *out);
    if (!g || i >= g->f->n_tensors)
        return lmc_err(LMC_ERR_INVALID_ARG, "lmc_gguf_get_tensor: tensor %llu out of range",
                       (unsigned long long)i);
    const gguf_tensor *t = &g->f->tensors[i];
    const lmc_type_traits *tr = lmc_type_get(t->type); /* never NULL: the reader checked the id */
    out->name = t->name.ptr;
    out->name_len = t->name.len;
    out->n_dims = t->n_dims;
    memcpy(out->ne, t->ne, sizeof out->ne);
    out->type = t->type;
    out->type_name = tr ? tr->name : "?";
    out->supported = tr && tr->supported;
    out->offset = t->offset;
    out->nbytes = t->nbytes;
    return LMC_OK;
}

const char *lmc_gguf_type_name(uint32_t type) {
    return gguf_vtype_name(type);
}

const char *lmc_tensor_type_name(uint32_t type) {
    return lmc_type_name(type);
}

lmc_status lmc_gguf_arch_summary(const lmc_gguf *g, char *buf, size_t size) {
    if (size) buf[0] = 0;
    return arch_describe_file(g->f, buf, size);
}
