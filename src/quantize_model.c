/* quantize_model.c — lmc_quantize: a GGUF model in, a quantized GGUF out, as llama-quantize writes
 * it (tensors in its order, metadata copied with general.file_type and the quantization version
 * set). Streams tensor by tensor: each row is converted to f32 and quantized by one thread into
 * the tensor's output buffer, which is written before the next tensor is read. The output goes to
 * a temporary file renamed at the end. No importance matrix. */
#include "cpu/threadpool.h"
#include "gguf.h"
#include "gguf_write.h"
#include "quant.h"
#include "quantize.h"
#include "quantize_mix.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

static const struct {
    const char *name;
    int32_t ftype;
} ftype_names[] = {
    {"F32", LMC_FTYPE_ALL_F32},   {"F16", LMC_FTYPE_F16},       {"BF16", LMC_FTYPE_BF16},
    {"Q4_0", LMC_FTYPE_Q4_0},     {"Q4_1", LMC_FTYPE_Q4_1},     {"Q5_0", LMC_FTYPE_Q5_0},
    {"Q5_1", LMC_FTYPE_Q5_1},     {"Q8_0", LMC_FTYPE_Q8_0},     {"Q2_K", LMC_FTYPE_Q2_K},
    {"Q3_K_S", LMC_FTYPE_Q3_K_S}, {"Q3_K_M", LMC_FTYPE_Q3_K_M}, {"Q3_K_L", LMC_FTYPE_Q3_K_L},
    {"Q4_K_S", LMC_FTYPE_Q4_K_S}, {"Q4_K_M", LMC_FTYPE_Q4_K_M}, {"Q5_K_S", LMC_FTYPE_Q5_K_S},
    {"Q5_K_M", LMC_FTYPE_Q5_K_M}, {"Q6_K", LMC_FTYPE_Q6_K},
};
enum { N_FTYPES = sizeof ftype_names / sizeof ftype_names[0] };

int32_t lmc_ftype_from_name(const char *name) {
    for (int i = 0; name && i < N_FTYPES; i++)
        if (!strcasecmp(name, ftype_names[i].name)) return ftype_names[i].ftype;
    /* llama-quantize's aliases */
    if (name && !strcasecmp(name, "Q3_K")) return LMC_FTYPE_Q3_K_M;
    if (name && !strcasecmp(name, "Q4_K")) return LMC_FTYPE_Q4_K_M;
    if (name && !strcasecmp(name, "Q5_K")) return LMC_FTYPE_Q5_K_M;
    return -1;
}

const char *lmc_ftype_name(int32_t ftype) {
    for (int i = 0; i < N_FTYPES; i++)
        if (ftype_names[i].ftype == ftype) return ftype_names[i].name;
    return NULL;
}

int32_t lmc_type_from_name(const char *name) {
    for (uint32_t t = 0; name && t < LMC_TYPE_COUNT; t++) {
        const lmc_type_traits *tr = lmc_type_get(t);
        if (tr && !strcasecmp(tr->name, name)) return (int32_t)t;
    }
    return -1;
}

lmc_quantize_params lmc_quantize_default_params(void) {
    lmc_quantize_params p;
    memset(&p, 0, sizeof p);
    p.ftype = LMC_FTYPE_Q8_0;
    p.output_tensor_type = p.token_embedding_type = -1;
    return p;
}

/* ---- the plan: tensor order and types ---------------------------------------------------------
 */

typedef struct {
    const gguf_tensor *t;
    char *name; /* NUL-terminated copy */
    int layer;  /* blk number, -1 for others (the order key) */
    int32_t type_out;
    uint64_t bytes_out;
} plan_item;

static int cmp_items(const void *a, const void *b) {
    const plan_item *x = a, *y = b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    return strcmp(x->name, y->name); /* bytewise, as std::string's < */
}

static lmc_status read_hparams(const gguf_file *f, quant_mix *m) {
    char *arch = gguf_get_str_dup(f, "general.architecture");
    if (!arch) return lmc_err(LMC_ERR_FORMAT, "%s: no general.architecture", f->path);
    char key[160];
    uint32_t v = 0;
    snprintf(key, sizeof key, "%s.block_count", arch);
    m->n_layer = gguf_get_u32(f, key, &v) ? (int)v : 0;
    snprintf(key, sizeof key, "%s.attention.head_count", arch);
    const gguf_kv *arr = gguf_get_arr(f, key, GGUF_VT_COUNT);
    m->n_head = arr ? (arr->v.arr.n ? (int)gguf_arr_i64(arr, 0) : 0)
                    : (gguf_get_u32(f, key, &v) ? (int)v : 0);
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    arr = gguf_get_arr(f, key, GGUF_VT_COUNT);
    m->n_head_kv = arr ? (arr->v.arr.n ? (int)gguf_arr_i64(arr, 0) : 0)
                       : (gguf_get_u32(f, key, &v) ? (int)v : m->n_head);
    snprintf(key, sizeof key, "%s.expert_count", arch);
    m->n_expert = gguf_get_u32(f, key, &v) ? (int)v : 0;
    m->falcon = !strcmp(arch, "falcon");
    /* llama.cpp's LLM_TYPE_70B: llama with 80 layers and grouped-query attention */
    m->is_70b = !strcmp(arch, "llama") && m->n_layer == 80 && m->n_head != m->n_head_kv;
    free(arch);
    return LMC_OK;
}

static bool is_float_type(uint32_t t) {
    return t == LMC_TYPE_F32 || t == LMC_TYPE_F16 || t == LMC_TYPE_BF16;
}

/* Chooses every tensor's output type in output order; checks that each can be produced. */
static lmc_status make_plan(const gguf_file *f, const lmc_quantize_params *p, quant_mix *m,
                            plan_item *items) {
    const uint64_t n = f->n_tensors;
    for (uint64_t i = 0; i < n; i++) {
        const gguf_tensor *t = &f->tensors[i];
        items[i].t = t;
        if (!(items[i].name = malloc(t->name.len + 1)))
            return lmc_err(LMC_ERR_OOM, "out of memory");
        memcpy(items[i].name, t->name.ptr, t->name.len);
        items[i].name[t->name.len] = 0;
        items[i].layer = -1;
        sscanf(items[i].name, "blk.%d.", &items[i].layer);
    }
    qsort(items, n, sizeof *items, cmp_items);
    const char **names = malloc(n * sizeof *names + 1);
    if (!names) return lmc_err(LMC_ERR_OOM, "out of memory");
    for (uint64_t i = 0; i < n; i++)
        names[i] = items[i].name;
    quant_mix_begin(m, names, (int)n);
    free(names);
    for (uint64_t i = 0; i < n; i++) {
        const gguf_tensor *t = items[i].t;
        int32_t to = quant_mix_type(m, items[i].name, t->ne, t->type);
        if (to < 0) return LMC_ERR_UNSUPPORTED;
        if ((uint32_t)to != t->type) {
            if (!is_float_type(t->type) && !p->allow_requantize)
                return lmc_err(LMC_ERR_UNSUPPORTED,
                               "%s: requantizing from type %s is disabled (allow it with "
                               "--allow-requantize: quality is lost twice)",
                               items[i].name, lmc_type_name(t->type));
            const lmc_type_traits *in = lmc_type_get(t->type);
            if (!in || !in->to_float)
                return lmc_err(LMC_ERR_UNSUPPORTED, "%s: cannot convert from type %s",
                               items[i].name, lmc_type_name(t->type));
            if (!quant_can_write((uint32_t)to))
                return lmc_err(LMC_ERR_UNSUPPORTED, "%s: lmc cannot write type %s", items[i].name,
                               lmc_type_name((uint32_t)to));
            if (t->ne[0] % lmc_type_get((uint32_t)to)->blck_size)
                return lmc_err(LMC_ERR_UNSUPPORTED, "%s: rows of %lld weights do not fit %s",
                               items[i].name, (long long)t->ne[0], lmc_type_name((uint32_t)to));
        }
        items[i].type_out = to;
        items[i].bytes_out =
            (uint32_t)to == t->type
                ? t->nbytes
                : lmc_row_size((uint32_t)to, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
    }
    return LMC_OK;
}

/* ---- metadata ---------------------------------------------------------------------------------
 */

/* Bytes of a key/value's encoded value (after its type). */
static uint64_t kv_value_bytes(const gguf_kv *kv) {
    switch (kv->type) {
    case GGUF_VT_STRING:
        return 8 + kv->v.str.len;
    case GGUF_VT_ARRAY:
        return 4 + 8 + kv->v.arr.nbytes;
    default:
        return gguf_vtype_size(kv->type);
    }
}

static lmc_status copy_metadata(const gguf_file *f, int32_t ftype, gguf_writer *w) {
    lmc_status st = LMC_OK;
    for (uint64_t i = 0; !st && i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        const uint8_t *value = f->base + kv->offset + 8 + kv->key.len + 4;
        st = gguf_writer_set_raw(w, kv->key.ptr, kv->key.len, kv->type, value, kv_value_bytes(kv));
    }
    if (!st) st = gguf_writer_set_u32(w, "general.quantization_version", 2);
    if (!st) st = gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype);
    static const char *const split_keys[] = {"split.no", "split.count", "split.tensors.count"};
    for (int i = 0; i < 3; i++)
        gguf_writer_remove(w, split_keys[i], strlen(split_keys[i]));
    return st;
}

/* ---- tensor data ------------------------------------------------------------------------------
 */

typedef struct {
    tp_pool *pool;
    const gguf_tensor *t;
    uint32_t type_out;
    uint8_t *out;
    uint64_t row_in, row_out; /* bytes per row */
} rows_job;

/* f16 -> f32 for every half: a table is several times faster than converting bit by bit, and the
 * conversion is exact either way. Filled once, before the threads start. */
static float g_f16_table[65536];
static pthread_once_t g_f16_once = PTHREAD_ONCE_INIT;

static void f16_table_fill(void) {
    for (uint32_t h = 0; h < 65536; h++)
        g_f16_table[h] = lmc_f16_to_f32((uint16_t)h);
}

/* Rows [begin, end): to f32 (in the thread's scratch unless already f32), then quantized. */
static void quantize_rows_fn(void *ctx, int64_t begin, int64_t end, int tid) {
    const rows_job *j = ctx;
    const int64_t ne0 = j->t->ne[0];
    float *tmp = tp_scratch(j->pool, tid);
    for (int64_t r = begin; r < end; r++) {
        const uint8_t *src = (const uint8_t *)j->t->data + (uint64_t)r * j->row_in;
        const float *x = (const float *)src;
        if (j->t->type == LMC_TYPE_F16) {
            for (int64_t i = 0; i < ne0; i++) {
                uint16_t h;
                memcpy(&h, src + 2 * i, 2);
                tmp[i] = g_f16_table[h];
            }
            x = tmp;
        } else if (j->t->type != LMC_TYPE_F32 || ((uintptr_t)src & 3)) {
            lmc_dequantize(j->t->type, src, tmp, ne0);
            x = tmp;
        }
        quant_rows(j->type_out, x, j->out + (uint64_t)r * j->row_out, 1, ne0);
    }
}

typedef struct {
    const char *in, *out;
    char *tmp_path;
    FILE *fp;
    gguf_file *f;
    gguf_writer *w;
    plan_item *items;
    tp_pool *pool;
    uint8_t *buf; /* the output of the largest converted tensor */
} qrun;

/* Lets the kernel drop the input tensor's mapped pages (they are file-backed and read-only: a page
 * shared with the next tensor is simply read again), so the resident set stays about one tensor. */
static void drop_pages(const gguf_file *f, const gguf_tensor *t) {
    if (!f->mapped || !t->nbytes) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)t->data & ~(page - 1), b = (uintptr_t)t->data + t->nbytes;
    madvise((void *)a, b - a, MADV_DONTNEED);
}

static lmc_status write_tensors(qrun *q, const lmc_quantize_params *p) {
    const uint64_t n = q->f->n_tensors;
    for (uint64_t i = 0; i < n; i++) {
        if (p->cancel && *p->cancel) return lmc_err(LMC_ERR_CANCELLED, "quantize cancelled");
        const plan_item *it = &q->items[i];
        const gguf_tensor *t = it->t;
        double t0 = lmc_time_s();
        const void *data = t->data;
        if ((uint32_t)it->type_out != t->type) {
            rows_job j = {q->pool,
                          t,
                          (uint32_t)it->type_out,
                          q->buf,
                          lmc_row_size(t->type, t->ne[0]),
                          lmc_row_size((uint32_t)it->type_out, t->ne[0])};
            tp_parallel_for(q->pool, t->ne[1] * t->ne[2] * t->ne[3], quantize_rows_fn, &j);
            data = q->buf;
        }
        lmc_status st = gguf_writer_write_data(q->w, q->fp, q->tmp_path, data, it->bytes_out);
        if (st) return st;
        drop_pages(q->f, t);
        if (p->progress) {
            lmc_quantize_tensor_info info = {(int32_t)i + 1,
                                             (int32_t)n,
                                             it->name,
                                             {0},
                                             0,
                                             t->type,
                                             (uint32_t)it->type_out,
                                             t->nbytes,
                                             it->bytes_out,
                                             lmc_time_s() - t0};
            memcpy(info.ne, t->ne, sizeof info.ne);
            info.n_dims = quant_n_dims(t->ne);
            p->progress(&info, p->progress_user);
        }
    }
    return LMC_OK;
}

/* Opens the input, plans, and prepares the writer, the pool and the buffers. */
static lmc_status prepare(qrun *q, const lmc_quantize_params *p) {
    lmc_status st = gguf_open(q->in, &q->f);
    if (st) return st;
    quant_mix m;
    memset(&m, 0, sizeof m);
    m.ftype = p->ftype;
    m.pure = p->pure;
    m.output_type = p->output_tensor_type;
    m.embd_type = p->token_embedding_type;
    if ((st = read_hparams(q->f, &m))) return st;
    if (!(q->items = calloc(q->f->n_tensors + 1, sizeof *q->items)))
        return lmc_err(LMC_ERR_OOM, "out of memory");
    if ((st = make_plan(q->f, p, &m, q->items))) return st;
    if (!(q->w = gguf_writer_init(q->f->alignment))) return lmc_err(LMC_ERR_OOM, "out of memory");
    if ((st = copy_metadata(q->f, p->ftype, q->w))) return st;
    uint64_t max_buf = 0;
    int64_t max_ne0 = 1;
    for (uint64_t i = 0; i < q->f->n_tensors; i++) {
        const plan_item *it = &q->items[i];
        const gguf_tensor *t = it->t;
        st = gguf_writer_add_tensor(q->w, it->name, strlen(it->name), quant_n_dims(t->ne), t->ne,
                                    (uint32_t)it->type_out, it->bytes_out);
        if (st) return st;
        if ((uint32_t)it->type_out != t->type) {
            if (it->bytes_out > max_buf) max_buf = it->bytes_out;
            if (t->ne[0] > max_ne0) max_ne0 = t->ne[0];
        }
    }
    if (max_buf && !(q->buf = malloc(max_buf)))
        return lmc_err(LMC_ERR_OOM, "out of memory (%llu bytes for one tensor)",
                       (unsigned long long)max_buf);
    pthread_once(&g_f16_once, f16_table_fill);
    int nt = p->n_threads > 0 ? p->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    return tp_create(nt > 0 ? nt : 1, (size_t)max_ne0 * sizeof(float), &q->pool);
}

lmc_status lmc_quantize(const char *in, const char *out, const lmc_quantize_params *params) {
    lmc_quantize_params p = params ? *params : lmc_quantize_default_params();
    if (!in || !out) return lmc_err(LMC_ERR_INVALID_ARG, "lmc_quantize: no input or output path");
    if (quant_ftype_default_type(p.ftype) < 0)
        return lmc_err(LMC_ERR_INVALID_ARG, "unknown file type %d", p.ftype);
    const int32_t ot[2] = {p.output_tensor_type, p.token_embedding_type};
    for (int i = 0; i < 2; i++)
        if (ot[i] >= 0 && !quant_can_write((uint32_t)ot[i]))
            return lmc_err(LMC_ERR_INVALID_ARG, "lmc cannot write tensors of type %s",
                           lmc_type_name((uint32_t)ot[i]));
    if (!strcmp(in, out))
        return lmc_err(LMC_ERR_INVALID_ARG, "%s: input and output are the same", out);
    if (!p.force && access(out, F_OK) == 0)
        return lmc_err(LMC_ERR_INVALID_ARG, "%s exists (use --force to overwrite it)", out);

    qrun q = {.in = in, .out = out};
    lmc_status st = prepare(&q, &p);
    size_t plen = strlen(out) + 32;
    if (!st && !(q.tmp_path = malloc(plen))) st = lmc_err(LMC_ERR_OOM, "out of memory");
    if (!st) {
        snprintf(q.tmp_path, plen, "%s.tmp-%ld", out, (long)getpid());
        if (!(q.fp = fopen(q.tmp_path, "wb")))
            st = lmc_err(LMC_ERR_IO, "%s: cannot create: %s", q.tmp_path, strerror(errno));
    }
    if (!st) st = gguf_writer_write_meta(q.w, q.fp, q.tmp_path);
    if (!st) st = write_tensors(&q, &p);
    if (q.fp && fclose(q.fp) && !st) st = lmc_err(LMC_ERR_IO, "%s: write failed", q.tmp_path);
    if (!st && rename(q.tmp_path, out))
        st = lmc_err(LMC_ERR_IO, "%s: cannot rename to %s: %s", q.tmp_path, out, strerror(errno));
    if (st && q.fp) remove(q.tmp_path);
    tp_free(q.pool);
    free(q.buf);
    gguf_writer_free(q.w);
    if (q.items)
        for (uint64_t i = 0; q.f && i < q.f->n_tensors; i++)
            free(q.items[i].name);
    free(q.items);
    gguf_close(q.f);
    free(q.tmp_path);
    return st;
}
