/* test_gguf.c — the GGUF reader: every shared model opens with sane facts; a small in-memory GGUF
 * writer builds a valid file and hostile variants (truncations, absurd counts, bad tensors), each
 * of which must fail with a message naming the item and the offset; then a deterministic mutation
 * fuzz. */
#include "gguf.h"
#include "testutil.h"

#include <ftw.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* ---- a tiny GGUF writer
 * -------------------------------------------------------------------------- */

typedef t_buf wbuf;

static void w_raw(wbuf *b, const void *d, size_t n) {
    t_buf_put(b, d, n);
}
static void w_u8(wbuf *b, uint8_t v) {
    t_buf_le(b, v, 1);
}
static void w_u16(wbuf *b, uint16_t v) {
    t_buf_le(b, v, 2);
}
static void w_u32(wbuf *b, uint32_t v) {
    t_buf_le(b, v, 4);
}
static void w_u64(wbuf *b, uint64_t v) {
    t_buf_le(b, v, 8);
}
static void w_f32(wbuf *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    w_u32(b, u);
}
static void w_f64(wbuf *b, double f) {
    uint64_t u;
    memcpy(&u, &f, 8);
    w_u64(b, u);
}
static void w_str(wbuf *b, const char *s) {
    w_u64(b, strlen(s));
    w_raw(b, s, strlen(s));
}
static void w_key(wbuf *b, const char *key, uint32_t type) {
    w_str(b, key);
    w_u32(b, type);
}

typedef struct {
    const char *name;
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t type;
    uint64_t offset;
} ttensor;

/* How a test file is built; t_valid_spec() gives the valid one that cases modify. */
typedef struct {
    char magic[5];
    uint32_t version;
    bool n_kv_set, n_tensors_set;
    uint64_t n_kv, n_tensors; /* header counts when *_set, else the real ones */
    bool no_align_key;
    uint32_t align;       /* value of general.alignment */
    int (*extra)(wbuf *); /* writes extra kvs after the standard ones, returns how many */
    ttensor t[4];
    int nt;
    bool data_size_set;
    uint64_t data_size; /* bytes after the aligned data start; default: end of the last tensor */
} tspec;

/* Test-side table of the few types the tests use (block size, bytes per block). */
static uint64_t t_nbytes(const ttensor *t) {
    int64_t blk, sz;
    switch (t->type) {
    case 0:
        blk = 1, sz = 4;
        break; /* F32 */
    case 1:
        blk = 1, sz = 2;
        break; /* F16 */
    case 8:
        blk = 32, sz = 34;
        break; /* Q8_0 */
    case 16:
        blk = 256, sz = 66;
        break; /* IQ2_XXS */
    default:
        return 0;
    }
    uint64_t n = 1;
    if (t->ne[0] <= 0 || t->ne[0] > (1 << 20)) return 0;
    for (uint32_t d = 1; d < t->n_dims && d < 4; d++) {
        if (t->ne[d] <= 0 || t->ne[d] > (1 << 20)) return 0;
        n *= (uint64_t)t->ne[d];
    }
    return (uint64_t)(t->ne[0] / blk * sz) * n;
}

#define N_STD_KV 17
static void w_std_kvs(wbuf *b, const tspec *s) {
    w_key(b, "general.architecture", 8), w_str(b, "llama");
    if (!s->no_align_key) w_key(b, "general.alignment", 4), w_u32(b, s->align);
    w_key(b, "test.u8", 0), w_u8(b, 200);
    w_key(b, "test.i8", 1), w_u8(b, (uint8_t)-5);
    w_key(b, "test.u16", 2), w_u16(b, 60000);
    w_key(b, "test.i16", 3), w_u16(b, (uint16_t)-300);
    w_key(b, "test.u32", 4), w_u32(b, 4000000000u);
    w_key(b, "test.i32", 5), w_u32(b, (uint32_t)-7);
    w_key(b, "test.f32", 6), w_f32(b, 1.5f);
    w_key(b, "test.bool", 7), w_u8(b, 1);
    w_key(b, "test.u64", 10), w_u64(b, 1ull << 40);
    w_key(b, "test.i64", 11), w_u64(b, (uint64_t) - (1ll << 40));
    w_key(b, "test.f64", 12), w_f64(b, -2.25);
    w_key(b, "test.arr_i32", 9), w_u32(b, 5), w_u64(b, 3), w_u32(b, 1), w_u32(b, (uint32_t)-2),
        w_u32(b, 3);
    w_key(b, "test.arr_f32", 9), w_u32(b, 6), w_u64(b, 2), w_f32(b, 0.5f), w_f32(b, -4.0f);
    w_key(b, "test.arr_str", 9), w_u32(b, 8), w_u64(b, 3), w_str(b, "<unk>"), w_str(b, "<s>"),
        w_str(b, "</s>");
    /* [[1, 2], [3]] as arrays of uint8 */
    w_key(b, "test.nested", 9), w_u32(b, 9), w_u64(b, 2);
    w_u32(b, 0), w_u64(b, 2), w_u8(b, 1), w_u8(b, 2);
    w_u32(b, 0), w_u64(b, 1), w_u8(b, 3);
}

static tspec t_valid_spec(void) {
    tspec s = {.magic = "GGUF", .version = 3, .align = 32, .nt = 3};
    s.t[0] = (ttensor){"a", 2, {4, 2, 1, 1}, 0, 0};   /* F32: 32 bytes */
    s.t[1] = (ttensor){"b", 2, {32, 2, 1, 1}, 8, 32}; /* Q8_0: 68 bytes */
    s.t[2] = (ttensor){"c", 1, {8, 1, 1, 1}, 1, 128}; /* F16: 16 bytes */
    return s;
}

/* Builds the file; returns a malloc'ed buffer of exactly *len bytes (so ASan sees any over-read).
 */
static uint8_t *t_build(const tspec *s, size_t *len) {
    wbuf b = {0};
    w_raw(&b, s->magic, 4);
    w_u32(&b, s->version);
    int n_extra = 0;
    wbuf kvs = {0};
    w_std_kvs(&kvs, s);
    if (s->extra) n_extra = s->extra(&kvs);
    uint64_t n_kv = N_STD_KV - (s->no_align_key ? 1 : 0) + (uint64_t)n_extra;
    w_u64(&b, s->n_tensors_set ? s->n_tensors : (uint64_t)s->nt);
    w_u64(&b, s->n_kv_set ? s->n_kv : n_kv);
    w_raw(&b, kvs.p, kvs.n);
    free(kvs.p);
    uint64_t end = 0;
    for (int i = 0; i < s->nt; i++) {
        const ttensor *t = &s->t[i];
        w_str(&b, t->name);
        w_u32(&b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            w_u64(&b, d < 4 ? (uint64_t)t->ne[d] : 1);
        w_u32(&b, t->type);
        w_u64(&b, t->offset);
        uint64_t e = t->offset + t_nbytes(t);
        if (t_nbytes(t) && e > end && e < (1u << 20)) end = e; /* hostile shapes get no data */
    }
    uint64_t align = s->align && !(s->align & (s->align - 1)) && !s->no_align_key ? s->align : 32;
    if (s->nt > 0 || s->data_size_set) /* vocab-only files may end without padding */
        while (b.n % align)
            w_u8(&b, 0);
    uint64_t data = s->data_size_set ? s->data_size : end;
    for (uint64_t i = 0; i < data; i++)
        w_u8(&b, (uint8_t)(i * 7 + 1));
    uint8_t *out = malloc(b.n ? b.n : 1);
    memcpy(out, b.p, b.n);
    *len = b.n;
    free(b.p);
    return out;
}

/* Opens a spec'd file and checks the status and that the message holds every needle. */
static void t_expect(const char *what, const tspec *s, lmc_status want, const char *n1,
                     const char *n2) {
    size_t len;
    uint8_t *buf = t_build(s, &len);
    gguf_file *f = NULL;
    lmc_status st = gguf_open_buffer(buf, len, "case.gguf", &f);
    const char *msg = lmc_last_error();
    CHECK(st == want, "%s: status %d, want %d (%s)", what, st, want, msg);
    CHECK(f == NULL, "%s: out set on failure", what);
    CHECK(strstr(msg, "case.gguf") != NULL, "%s: message lacks the file name: %s", what, msg);
    if (n1) CHECK(strstr(msg, n1) != NULL, "%s: message lacks '%s': %s", what, n1, msg);
    if (n2) CHECK(strstr(msg, n2) != NULL, "%s: message lacks '%s': %s", what, n2, msg);
    gguf_close(f);
    free(buf);
}

/* ---- extra kv writers for the hostile cases
 * ------------------------------------------------------ */

static int x_huge_str(wbuf *b) {
    return w_key(b, "test.badstr", 8), w_u64(b, 1ull << 62), 1;
}
static int x_huge_key(wbuf *b) {
    return w_u64(b, 1ull << 62), w_raw(b, "abc", 3), 1;
}
static int x_empty_key(wbuf *b) {
    return w_u64(b, 0), w_u32(b, 0), w_u8(b, 0), 1;
}
static int x_huge_arr(wbuf *b) {
    return w_key(b, "test.badarr", 9), w_u32(b, 4), w_u64(b, 1ull << 62), 1;
}
static int x_huge_arr_str(wbuf *b) {
    return w_key(b, "test.badarrs", 9), w_u32(b, 8), w_u64(b, 1ull << 61), 1;
}
static int x_huge_arr_arr(wbuf *b) {
    return w_key(b, "test.badarra", 9), w_u32(b, 9), w_u64(b, 1ull << 60), 1;
}
static int x_bad_type(wbuf *b) {
    return w_key(b, "test.badtype", 13), w_u32(b, 0), 1;
}
static int x_bad_elem(wbuf *b) {
    return w_key(b, "test.badelem", 9), w_u32(b, 77), w_u64(b, 1), w_u32(b, 0), 1;
}
static int x_bad_bool(wbuf *b) {
    return w_key(b, "test.badbool", 7), w_u8(b, 2), 1;
}
static int x_dup_key(wbuf *b) {
    return w_key(b, "test.u8", 0), w_u8(b, 1), 1;
}
static int x_deep(wbuf *b) {
    w_key(b, "test.deep", 9);
    for (int i = 0; i < 20; i++)
        w_u32(b, 9), w_u64(b, 1);
    w_u32(b, 0), w_u64(b, 0);
    return 1;
}
static int x_nested_bad_str(wbuf *b) { /* [["ok", <string running past the end>]] */
    w_key(b, "test.nstr", 9), w_u32(b, 9), w_u64(b, 1), w_u32(b, 8), w_u64(b, 2), w_str(b, "ok");
    w_u64(b, 1ull << 40);
    return 1;
}

/* ---- the valid file
 * ------------------------------------------------------------------------------ */

static void test_valid(void) {
    tspec s = t_valid_spec();
    size_t len;
    uint8_t *buf = t_build(&s, &len);
    gguf_file *f = NULL;
    lmc_status st = gguf_open_buffer(buf, len, "valid.gguf", &f);
    CHECK(st == LMC_OK, "valid file: %s", lmc_last_error());
    if (st) {
        free(buf);
        return;
    }
    CHECK(f->version == 3 && f->n_kv == N_STD_KV && f->n_tensors == 3, "counts %llu %llu",
          (unsigned long long)f->n_kv, (unsigned long long)f->n_tensors);
    CHECK(f->alignment == 32 && f->data_offset % 32 == 0, "alignment %llu data %llu",
          (unsigned long long)f->alignment, (unsigned long long)f->data_offset);
    CHECK(f->data_offset + 144 == len, "data offset %llu len %zu",
          (unsigned long long)f->data_offset, len);

    char *arch = gguf_get_str_dup(f, "general.architecture");
    CHECK(arch && !strcmp(arch, "llama"), "architecture %s", arch ? arch : "(null)");
    free(arch);
    CHECK(gguf_get_str_dup(f, "test.u8") == NULL, "string getter on a uint8");
    CHECK(gguf_find_key(f, "nope") == NULL, "missing key found");

    uint32_t u;
    int64_t i64;
    float fl;
    bool bo;
    CHECK(gguf_get_u32(f, "test.u8", &u) && u == 200, "u8 -> u32");
    CHECK(gguf_get_u32(f, "test.u16", &u) && u == 60000, "u16 -> u32");
    CHECK(gguf_get_u32(f, "test.u32", &u) && u == 4000000000u, "u32");
    CHECK(!gguf_get_u32(f, "test.i32", &u), "negative i32 must not convert to u32");
    CHECK(!gguf_get_u32(f, "test.u64", &u), "2^40 must not fit in u32");
    CHECK(!gguf_get_u32(f, "test.f32", &u), "float is not an integer");
    CHECK(gguf_get_i64(f, "test.i8", &i64) && i64 == -5, "i8 %lld", (long long)i64);
    CHECK(gguf_get_i64(f, "test.i16", &i64) && i64 == -300, "i16");
    CHECK(gguf_get_i64(f, "test.i32", &i64) && i64 == -7, "i32");
    CHECK(gguf_get_i64(f, "test.i64", &i64) && i64 == -(1ll << 40), "i64");
    CHECK(gguf_get_i64(f, "test.u64", &i64) && i64 == (1ll << 40), "u64 -> i64");
    CHECK(gguf_get_f32(f, "test.f32", &fl) && fl == 1.5f, "f32");
    CHECK(gguf_get_f32(f, "test.f64", &fl) && fl == -2.25f, "f64 -> f32");
    CHECK(!gguf_get_f32(f, "test.u8", &fl), "u8 is not a float");
    CHECK(gguf_get_bool(f, "test.bool", &bo) && bo, "bool");
    CHECK(!gguf_get_bool(f, "test.u8", &bo), "u8 is not a bool");

    const gguf_kv *a = gguf_get_arr(f, "test.arr_i32", GGUF_VT_INT32);
    CHECK(a && a->v.arr.n == 3 && a->v.arr.nbytes == 12, "int32 array");
    if (a) CHECK(gguf_arr_i64(a, 1) == -2 && gguf_arr_f64(a, 2) == 3.0, "int32 array elements");
    CHECK(gguf_get_arr(f, "test.arr_i32", GGUF_VT_FLOAT32) == NULL, "element type filter");
    a = gguf_get_arr(f, "test.arr_f32", GGUF_VT_COUNT);
    CHECK(a && gguf_arr_f64(a, 0) == 0.5 && gguf_arr_i64(a, 1) == -4, "float32 array elements");
    a = gguf_get_arr(f, "test.arr_str", GGUF_VT_STRING);
    CHECK(a && a->v.arr.n == 3 && a->v.arr.strs, "string array");
    if (a && a->v.arr.strs)
        CHECK(a->v.arr.strs[1].len == 3 && !memcmp(a->v.arr.strs[1].ptr, "<s>", 3) &&
                  a->v.arr.strs[2].len == 4 && !memcmp(a->v.arr.strs[2].ptr, "</s>", 4),
              "string array elements");
    a = gguf_get_arr(f, "test.nested", GGUF_VT_ARRAY);
    CHECK(a && a->v.arr.n == 2 && a->v.arr.strs == NULL && a->v.arr.nbytes == 2 * 12 + 3,
          "nested array");

    const gguf_tensor *t = gguf_find_tensor(f, "b");
    CHECK(t && t->type == 8 && t->n_dims == 2 && t->ne[0] == 32 && t->ne[1] == 2 && t->ne[2] == 1 &&
              t->nbytes == 68 && t->offset == 32,
          "tensor b");
    if (t) CHECK((const uint8_t *)t->data == buf + f->data_offset + 32, "tensor b data pointer");
    t = gguf_find_tensor(f, "c");
    CHECK(t && t->nbytes == 16 && t->ne[1] == 1, "tensor c");
    CHECK(gguf_find_tensor(f, "d") == NULL, "missing tensor found");
    CHECK(!strcmp(gguf_vtype_name(GGUF_VT_FLOAT32), "float32") &&
              gguf_vtype_size(GGUF_VT_UINT16) == 2 && gguf_vtype_size(GGUF_VT_STRING) == 0 &&
              !strcmp(gguf_vtype_name(99), "?"),
          "vtype helpers");
    gguf_close(f);

    /* The same bytes through a real file and mmap. */
    char path[] = "/tmp/lmc_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        CHECK(write(fd, buf, len) == (ssize_t)len, "write");
        close(fd);
        f = NULL;
        st = gguf_open(path, &f);
        CHECK(st == LMC_OK && f && f->mapped && f->n_tensors == 3, "gguf_open: %s",
              lmc_last_error());
        gguf_close(f);
        unlink(path);
    }
    st = gguf_open("/nonexistent/x.gguf", &f);
    CHECK(st == LMC_ERR_IO && strstr(lmc_last_error(), "/nonexistent/x.gguf"), "missing file: %s",
          lmc_last_error());

    /* Every truncation must fail cleanly (the last tensor's data ends at the end of the file). */
    int trunc_ok = 1;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *tb = malloc(cut ? cut : 1);
        memcpy(tb, buf, cut);
        f = NULL;
        st = gguf_open_buffer(cut ? tb : NULL, cut, "trunc.gguf", &f);
        const char *msg = lmc_last_error();
        if (st != LMC_ERR_FORMAT || f || !strstr(msg, "trunc.gguf") || !strstr(msg, "offset")) {
            CHECK(0, "truncated at %zu: status %d: %s", cut, st, msg);
            trunc_ok = 0;
            gguf_close(f);
            free(tb);
            break;
        }
        free(tb);
    }
    CHECK(trunc_ok, "truncations");
    free(buf);
}

/* ---- hostile variants
 * ---------------------------------------------------------------------------- */

static void test_malformed(void) {
    tspec s;
    s = t_valid_spec(), memcpy(s.magic, "GGUX", 4);
    t_expect("bad magic", &s, LMC_ERR_FORMAT, "magic", "offset 0");
    s = t_valid_spec(), s.version = 1;
    t_expect("version 1", &s, LMC_ERR_UNSUPPORTED, "version 1", "offset");
    s = t_valid_spec(), s.version = 4;
    t_expect("version 4", &s, LMC_ERR_UNSUPPORTED, "version 4", "offset");
    s = t_valid_spec(), s.n_kv_set = true, s.n_kv = 1ull << 62;
    t_expect("absurd n_kv", &s, LMC_ERR_FORMAT, "key/value count", "offset");
    s = t_valid_spec(), s.n_tensors_set = true, s.n_tensors = 1ull << 62;
    t_expect("absurd n_tensors", &s, LMC_ERR_FORMAT, "tensor count", "offset");
    s = t_valid_spec(), s.n_tensors_set = true, s.n_tensors = 4;
    t_expect("one tensor too many", &s, LMC_ERR_FORMAT, "tensor", "offset");
    s = t_valid_spec(), s.n_kv_set = true, s.n_kv = N_STD_KV + 1;
    t_expect("one kv too many", &s, LMC_ERR_FORMAT, "tensor", "offset");

    s = t_valid_spec(), s.extra = x_huge_str;
    t_expect("absurd string length", &s, LMC_ERR_FORMAT, "'test.badstr'", "offset");
    s = t_valid_spec(), s.extra = x_huge_key;
    t_expect("absurd key length", &s, LMC_ERR_FORMAT, "key/value entry 17", "offset");
    s = t_valid_spec(), s.extra = x_empty_key;
    t_expect("empty key", &s, LMC_ERR_FORMAT, "empty key", "offset");
    s = t_valid_spec(), s.extra = x_huge_arr;
    t_expect("absurd array count", &s, LMC_ERR_FORMAT, "'test.badarr'", "offset");
    s = t_valid_spec(), s.extra = x_huge_arr_str;
    t_expect("absurd string array count", &s, LMC_ERR_FORMAT, "'test.badarrs'", "offset");
    s = t_valid_spec(), s.extra = x_huge_arr_arr;
    t_expect("absurd array-of-arrays count", &s, LMC_ERR_FORMAT, "'test.badarra'", "offset");
    s = t_valid_spec(), s.extra = x_deep;
    t_expect("deeply nested arrays", &s, LMC_ERR_FORMAT, "'test.deep'", "nested");
    s = t_valid_spec(), s.extra = x_nested_bad_str;
    t_expect("bad string in nested array", &s, LMC_ERR_FORMAT, "'test.nstr'", "offset");
    s = t_valid_spec(), s.extra = x_bad_type;
    t_expect("unknown value type", &s, LMC_ERR_FORMAT, "'test.badtype'", "unknown value type 13");
    s = t_valid_spec(), s.extra = x_bad_elem;
    t_expect("unknown array element type", &s, LMC_ERR_FORMAT, "'test.badelem'", "element type 77");
    s = t_valid_spec(), s.extra = x_bad_bool;
    t_expect("bool value 2", &s, LMC_ERR_FORMAT, "'test.badbool'", "offset");
    s = t_valid_spec(), s.extra = x_dup_key;
    t_expect("duplicate key", &s, LMC_ERR_FORMAT, "'test.u8'", "duplicate key");

    s = t_valid_spec(), s.align = 0;
    t_expect("alignment 0", &s, LMC_ERR_FORMAT, "general.alignment", "offset");
    s = t_valid_spec(), s.align = 3;
    t_expect("alignment 3", &s, LMC_ERR_FORMAT, "general.alignment", "power of two");

    uint32_t bad_types[] = {4, 5, 31, 99, 40, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        s = t_valid_spec(), s.t[1].type = bad_types[i];
        char what[64];
        snprintf(what, sizeof what, "unknown tensor type %u", bad_types[i]);
        t_expect(what, &s, LMC_ERR_FORMAT, "tensor 'b'", "unknown tensor type");
    }
    s = t_valid_spec(), s.t[1].n_dims = 5;
    t_expect("n_dims 5", &s, LMC_ERR_FORMAT, "tensor 'b'", "n_dims 5");
    s = t_valid_spec(), s.t[1].ne[1] = 0;
    t_expect("ne 0", &s, LMC_ERR_FORMAT, "tensor 'b'", "ne[1]");
    s = t_valid_spec(), s.t[1].ne[1] = -3;
    t_expect("ne negative", &s, LMC_ERR_FORMAT, "tensor 'b'", "ne[1]");
    s = t_valid_spec(), s.t[0].n_dims = 3, s.t[0].ne[0] = 1ll << 30, s.t[0].ne[1] = 1ll << 30,
    s.t[0].ne[2] = 1ll << 30;
    t_expect("ne product overflow", &s, LMC_ERR_FORMAT, "tensor 'a'", "overflow");
    s = t_valid_spec(), s.t[0].n_dims = 2, s.t[0].ne[0] = 1ll << 40, s.t[0].ne[1] = 1ll << 22;
    t_expect("byte size overflow", &s, LMC_ERR_FORMAT, "tensor 'a'", "overflow");
    s = t_valid_spec(), s.t[1].ne[0] = 33;
    t_expect("ne0 not a block multiple", &s, LMC_ERR_FORMAT, "tensor 'b'", "block size");
    s = t_valid_spec(), s.t[2].offset = 4096, s.data_size_set = true, s.data_size = 144;
    t_expect("offset past end", &s, LMC_ERR_FORMAT, "tensor 'c'", "past the end");
    s = t_valid_spec(), s.t[2].offset = 1ull << 63, s.data_size_set = true, s.data_size = 144;
    t_expect("offset 2^63", &s, LMC_ERR_FORMAT, "tensor 'c'", "past the end");
    s = t_valid_spec(), s.data_size_set = true, s.data_size = 143;
    t_expect("data one byte short", &s, LMC_ERR_FORMAT, "tensor 'c'", "offset");
    s = t_valid_spec(), s.t[2].offset = 100;
    t_expect("misaligned offset", &s, LMC_ERR_FORMAT, "tensor 'c'", "alignment");
    s = t_valid_spec(), s.t[1].offset = 0;
    t_expect("overlapping tensors", &s, LMC_ERR_FORMAT, "overlaps", "offset");
    s = t_valid_spec(), s.t[2].name = "a";
    t_expect("duplicate tensor name", &s, LMC_ERR_FORMAT, "tensor 'a' (tensor table entry 2)",
             "duplicate");
    s = t_valid_spec(), s.t[0].name = "";
    t_expect("empty tensor name", &s, LMC_ERR_FORMAT, "tensor table entry 0", "empty");
}

/* Valid variations: other alignments, no alignment key, unsupported-but-known types, no tensors. */
static void test_valid_variants(void) {
    tspec s = t_valid_spec();
    s.align = 64, s.t[1].offset = 64, s.t[2].offset = 192;
    size_t len;
    uint8_t *buf = t_build(&s, &len);
    gguf_file *f = NULL;
    CHECK(gguf_open_buffer(buf, len, "a64.gguf", &f) == LMC_OK && f->alignment == 64 &&
              f->data_offset % 64 == 0,
          "alignment 64: %s", lmc_last_error());
    gguf_close(f), free(buf);

    s = t_valid_spec(), s.no_align_key = true;
    buf = t_build(&s, &len);
    CHECK(gguf_open_buffer(buf, len, "noalign.gguf", &f) == LMC_OK && f->alignment == 32 &&
              f->n_kv == N_STD_KV - 1,
          "default alignment: %s", lmc_last_error());
    gguf_close(f), free(buf);

    s = t_valid_spec(), s.version = 2;
    s.t[2] = (ttensor){
        "iq", 2, {256, 3, 1, 1}, 16, 128}; /* IQ2_XXS: known to ggml, unsupported by lmc */
    buf = t_build(&s, &len);
    CHECK(gguf_open_buffer(buf, len, "iq.gguf", &f) == LMC_OK && f->version == 2,
          "IQ2_XXS tensor: %s", lmc_last_error());
    if (f)
        CHECK(gguf_find_tensor(f, "iq") && gguf_find_tensor(f, "iq")->nbytes == 3 * 66,
              "IQ2_XXS bytes");
    gguf_close(f), free(buf);

    s = t_valid_spec(), s.nt = 0;
    buf = t_build(&s, &len);
    CHECK(gguf_open_buffer(buf, len, "vocab.gguf", &f) == LMC_OK && f->n_tensors == 0 &&
              f->data_offset <= len,
          "no tensors: %s", lmc_last_error());
    gguf_close(f), free(buf);
}

/* Flip random bytes of the valid file; only "no crash, a message on error" is required. */
static void test_fuzz(void) {
    tspec s = t_valid_spec();
    size_t len;
    uint8_t *orig = t_build(&s, &len);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int n_ok = 0, n_err = 0, bad = 0;
    for (int it = 0; it < 4000; it++) {
        uint8_t *buf = malloc(len);
        memcpy(buf, orig, len);
        int flips = 1 + (int)(rng % 4);
        for (int k = 0; k < flips; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t pos = (size_t)(rng % (len - 144)); /* the header and tables, not the payload */
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            buf[pos] = (it & 1) ? (uint8_t)rng : buf[pos] ^ (uint8_t)(1u << (rng % 8));
        }
        gguf_file *f = NULL;
        lmc_status st = gguf_open_buffer(buf, len, "fuzz.gguf", &f);
        if (st == LMC_OK) {
            n_ok++;
            if (!f) bad++;
            for (uint64_t i = 0; f && i < f->n_tensors; i++) /* touch every tensor byte range */
                if ((const uint8_t *)f->tensors[i].data + f->tensors[i].nbytes > buf + len) bad++;
        } else {
            n_err++;
            if (f || !lmc_last_error()[0]) bad++;
        }
        gguf_close(f);
        free(buf);
    }
    CHECK(bad == 0, "fuzz: %d bad outcomes", bad);
    CHECK(n_err > 0 && n_ok > 0, "fuzz: %d ok, %d errors", n_ok, n_err);
    free(orig);
}

/* ---- the shared models
 * --------------------------------------------------------------------------- */

static int n_models;

static int visit(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)ftw;
    size_t n = strlen(path);
    if (flag != FTW_F || n < 5 || strcmp(path + n - 5, ".gguf")) return 0;
    gguf_file *f = NULL;
    lmc_status st = gguf_open(path, &f);
    CHECK(st == LMC_OK, "%s: %s", path, lmc_last_error());
    if (st) return 0;
    n_models++;
    CHECK(f->n_kv > 0 && f->data_offset <= f->size, "%s: basic facts", path);
    /* vocab-only files may end before the aligned data start; the reader clamps it there */
    CHECK(f->n_tensors == 0 || f->data_offset % f->alignment == 0, "%s: data offset unaligned",
          path);
    CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STRING) != NULL, "%s: no token list",
          path);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        const uint8_t *d = t->data;
        CHECK(d >= f->base + f->data_offset && d + t->nbytes <= f->base + f->size,
              "%s: tensor %llu outside", path, (unsigned long long)i);
    }
    char *arch = gguf_get_str_dup(f, "general.architecture");
    CHECK(arch != NULL, "%s: no architecture", path);
    free(arch);
    gguf_close(f);
    return 0;
}

static void test_models(void) {
    const char *root = t_shared("models");
    CHECK(nftw(root, visit, 16, FTW_PHYS) == 0, "walking %s", root);
    CHECK(n_models >= 10, "only %d models found", n_models);

    gguf_file *f = NULL;
    lmc_status st = gguf_open(t_shared("models/stories260K.gguf"), &f);
    CHECK(st == LMC_OK, "stories260K: %s", lmc_last_error());
    if (!st) {
        char *arch = gguf_get_str_dup(f, "general.architecture");
        CHECK(arch && !strcmp(arch, "llama"), "stories260K architecture");
        free(arch);
        CHECK(f->n_tensors > 0, "stories260K tensors");
        const gguf_kv *tok = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STRING);
        CHECK(tok && tok->v.arr.n == 512, "stories260K vocab");
        const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
        CHECK(emb && emb->ne[1] == 512 && emb->type == 0, "stories260K token_embd");
        uint32_t n_layer = 0;
        CHECK(gguf_get_u32(f, "llama.block_count", &n_layer) && n_layer > 0,
              "stories260K block_count");
        gguf_close(f);
    }
    st = gguf_open(t_shared("models/llama-2-tiny-random.gguf"), &f);
    CHECK(st == LMC_OK, "llama-2-tiny-random: %s", lmc_last_error());
    if (!st) {
        const gguf_kv *tok = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STRING);
        CHECK(tok && tok->v.arr.n == 32000 && tok->v.arr.strs[0].len > 0, "llama-2 vocab");
        const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
        CHECK(emb && emb->ne[1] == 32000, "llama-2 token_embd");
        gguf_close(f);
    }
}

int main(void) {
    test_valid();
    test_malformed();
    test_valid_variants();
    test_fuzz();
    if (t_shared("models"))
        test_models();
    else
        printf("note: shared models absent; only the in-memory tests ran\n");
    return t_done();
}
