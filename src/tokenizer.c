/* tokenizer.c — loading the tokenizers a llama-family GGUF describes in tokenizer.ggml.*:
 * SentencePiece (score-driven bigram merges, byte fallback, "▁" for spaces) and byte-level BPE
 * (ranked merges over GPT-2's byte alphabet after a PCRE2 pre-tokenizer): the token and merge
 * maps, the pre-tokenizer regexes, special tokens and their lstrip/rstrip attributes (tok_attr.c),
 * and the vocabulary's accessors. Encoding is tok_encode.c, decoding tok_decode.c; the struct they
 * share is tok_vocab.h. Ids equal llama.cpp's (tests/test_tok_goldens.c). Not handled:
 * Unigram/WordPiece vocabularies, Unicode normalization (NFC/NFKC). */
#include "tok_vocab.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hash maps --------------------------------------------------------------------------------
 */

static uint64_t tok_hash(const char *s, size_t n) { /* FNV-1a, 64-bit */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

static lmc_status map_init(str_map *m, uint64_t n) {
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    m->slot = malloc(cap * sizeof *m->slot);
    if (!m->slot)
        return lmc_err(LMC_ERR_OOM, "out of memory (token map of %llu)", (unsigned long long)cap);
    memset(m->slot, 0xff, cap * sizeof *m->slot);
    m->mask = cap - 1;
    return LMC_OK;
}

const char *tok_str(const struct tok_vocab *v, int32_t id) {
    return v->arena + v->off[id];
}

/* Later duplicates replace earlier ones (a token text appearing twice maps to its last id). */
static void map_put(const struct tok_vocab *v, str_map *m, int32_t id) {
    uint64_t i = tok_hash(tok_str(v, id), v->len[id]) & m->mask;
    while (m->slot[i] >= 0) {
        int32_t o = m->slot[i];
        if (v->len[o] == v->len[id] && !memcmp(tok_str(v, o), tok_str(v, id), v->len[id])) {
            m->slot[i] = id;
            return;
        }
        i = (i + 1) & m->mask;
    }
    m->slot[i] = id;
}

int32_t tok_map_get(const struct tok_vocab *v, const str_map *m, const char *s, size_t n) {
    uint64_t i = tok_hash(s, n) & m->mask;
    for (int32_t o; (o = m->slot[i]) >= 0; i = (i + 1) & m->mask)
        if (v->len[o] == n && !memcmp(tok_str(v, o), s, n)) return o;
    return -1;
}

static uint64_t pair_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static lmc_status pair_init(pair_map *m, uint64_t n) {
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    m->slot = malloc(cap * sizeof *m->slot);
    if (!m->slot) return lmc_err(LMC_ERR_OOM, "out of memory (merge table)");
    for (uint64_t i = 0; i < cap; i++)
        m->slot[i].key = UINT64_MAX;
    m->mask = cap - 1;
    return LMC_OK;
}

static void pair_put(pair_map *m, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint64_t i = pair_hash(k) & m->mask;
    while (m->slot[i].key != UINT64_MAX && m->slot[i].key != k)
        i = (i + 1) & m->mask;
    m->slot[i] = (pair_slot){k, rank, merged};
}

/* The pair's slot, or NULL. */
const pair_slot *tok_pair_get(const pair_map *m, int32_t a, int32_t b) {
    if (!m->slot) return NULL;
    uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint64_t i = pair_hash(k) & m->mask; m->slot[i].key != UINT64_MAX; i = (i + 1) & m->mask)
        if (m->slot[i].key == k) return &m->slot[i];
    return NULL;
}

/* ---- UTF-8 helpers ----------------------------------------------------------------------------
 */

/* Length of the UTF-8 sequence a lead byte starts (1 for ASCII and for invalid bytes). */
int tok_utf8_len(uint8_t c) {
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) return 2;
    if ((c & 0xf0) == 0xe0) return 3;
    if ((c & 0xf8) == 0xf0) return 4;
    return 1;
}

int tok_utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes one code point at s (n bytes left); *used gets its length. Invalid: returns -1, used 1.
 */
int32_t tok_utf8_get(const uint8_t *s, size_t n, int *used) {
    int l = tok_utf8_len(s[0]);
    *used = 1;
    if (l == 1) return s[0] < 0x80 ? s[0] : -1;
    if ((size_t)l > n) return -1;
    uint32_t cp = s[0] & (0x7f >> l);
    for (int i = 1; i < l; i++) {
        if ((s[i] & 0xc0) != 0x80) return -1;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    *used = l;
    return (int32_t)cp;
}

/* Parses "<0xNN>"; -1 when the text is not a byte token. */
int tok_byte_value(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* ---- pre-tokenizers ---------------------------------------------------------------------------
 */

/* The split regexes per pre-tokenizer (tokenizer.ggml.pre), applied in order: each regex splits
 * every piece into its matches and the text between them (both kept, like Hugging Face's Split with
 * behavior "Isolated"). The contractions are spelled with explicit case classes rather than
 * (?i:...) because PCRE2's caseless matching with UCP would also accept e.g. U+017F for 's'. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
/* the part of the Llama-3 and Qwen2 regexes after the contractions; they differ in \p{N}'s count */
#define RE_L3_TAIL(DIGITS)                                                                         \
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" DIGITS                                                 \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3 RE_CONTRACTIONS RE_L3_TAIL("{1,3}")
#define RE_QWEN2 RE_CONTRACTIONS RE_L3_TAIL("")
/* DeepSeek LLM (its tokenizer.json's Split sequence): newlines, runs of cased letters (Latin,
 * Greek, Cyrillic, ...), ASCII and full-width punctuation, trailing spaces, CJK/Hangul runs, single
 * digits. Code points are written as escapes: Unicode normalization by an editor would silently
 * change literal characters such as U+212A KELVIN SIGN. */
#define RE_DS_LETTERS                                                                              \
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"            \
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}-\\x{377}\\x{37B}-\\x{37D}"        \
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"                  \
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}"    \
    "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}"                 \
    "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"                 \
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}"         \
    "\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"        \
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"                 \
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"         \
    "\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}"         \
    "\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}-\\x{2184}"                  \
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}-\\x{2CF3}"                 \
    "\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}"                 \
    "\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"                 \
    "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"             \
    "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"         \
    "\\x{1E900}-\\x{1E943}]+"
#define RE_DS_PUNCT                                                                                \
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+"

/* GPT-4o / Phi-4-mini, as llama.cpp spells it: "an upper-case letter" is a letter that is not
 * a-z (so any non-ASCII letter), "a lower-case letter" one that is not A-Z. */
#define RE_GPT4O_UPPER "(?:(?=\\p{L})[^a-z])"
#define RE_GPT4O_LOWER "(?:(?=\\p{L})[^A-Z])"
#define RE_GPT4O                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_GPT4O_UPPER "*" RE_GPT4O_LOWER "+" RE_CONTRACTIONS                 \
    "?|[^\\r\\n\\p{L}\\p{N}]?" RE_GPT4O_UPPER "+" RE_GPT4O_LOWER "*" RE_CONTRACTIONS               \
    "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct {
    const char *names; /* '|'-separated names of tokenizer.ggml.pre */
    const char *re[TOK_MAX_RE];
    bool ignore_merges; /* a word that is itself a token is not merged (Llama-3) */
} pre_rules;

static const pre_rules pre_table[] = {
    {"default|gpt-2|gpt2", {RE_GPT2}, false},
    {"llama-bpe|llama3|llama-v3", {RE_LLAMA3}, true},
    {"qwen2|deepseek-r1-qwen", {RE_QWEN2}, false},
    {"gpt-4o", {RE_GPT4O}, false},
    {"starcoder|smollm", {"\\p{N}", RE_GPT2}, false},
    {"deepseek-llm",
     {"[\\r\\n]", RE_DS_LETTERS, RE_DS_PUNCT, "\\s+$",
      "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}"},
     false},
};

static bool name_in_list(const char *name, const char *list) {
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !memcmp(p, name, n)) return true;
        p += l + (e ? 1 : 0);
    }
    return false;
}

static lmc_status pre_compile(struct tok_vocab *v, const pre_rules *r, const char *path) {
    for (int i = 0; i < TOK_MAX_RE && r->re[i]; i++) {
        int err;
        PCRE2_SIZE at;
        pcre2_code *c =
            pcre2_compile((PCRE2_SPTR)r->re[i], PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                          &err, &at, NULL);
        if (!c) {
            char msg[128];
            pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof msg);
            return lmc_err(LMC_ERR_UNSUPPORTED, "%s: pre-tokenizer regex %d: %s at %zu", path, i,
                           msg, (size_t)at);
        }
        pcre2_jit_compile(
            c, PCRE2_JIT_COMPLETE); /* falls back to the interpreter when JIT is absent */
        v->re[v->n_re++] = c;
    }
    v->ignore_merges = r->ignore_merges;
    return LMC_OK;
}

/* ---- loading ----------------------------------------------------------------------------------
 */

static int32_t meta_id(const gguf_file *f, const char *key, int32_t n_vocab) {
    int64_t x;
    if (!gguf_get_i64(f, key, &x) || x < 0 || x >= n_vocab) return -1;
    return (int32_t)x;
}

static bool meta_bool(const gguf_file *f, const char *key, bool def) {
    bool b;
    return gguf_get_bool(f, key, &b) ? b : def;
}

static void gpt2_byte_map(struct tok_vocab *v) {
    uint32_t extra = 256;
    for (int i = 0; i < 324; i++)
        v->cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        v->byte_cp[b] = printable ? (uint32_t)b : extra++;
        v->cp_byte[v->byte_cp[b]] = (int16_t)b;
    }
}

static int cmp_u32_desc(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Special-token lookup: distinct lengths per first byte, longest first. */
static lmc_status build_specials(struct tok_vocab *v) {
    uint32_t count[257] = {0};
    int32_t n_sp = 0;
    for (int32_t i = 0; i < v->n_vocab; i++)
        if ((v->attr[i] & TA_SPECIAL) && v->len[i]) n_sp++;
    lmc_status st = map_init(&v->specials, (uint64_t)n_sp);
    if (st != LMC_OK) return st;
    uint32_t *tmp = malloc(((size_t)n_sp + 1) * sizeof *tmp);
    v->sp_lens = malloc(((size_t)n_sp + 1) * sizeof *v->sp_lens);
    if (!tmp || !v->sp_lens) {
        free(tmp);
        return lmc_err(LMC_ERR_OOM, "out of memory (special tokens)");
    }
    for (int32_t i = 0; i < v->n_vocab; i++)
        if ((v->attr[i] & TA_SPECIAL) && v->len[i]) {
            map_put(v, &v->specials, i);
            count[(uint8_t)tok_str(v, i)[0]]++;
        }
    uint32_t pos = 0;
    for (int b = 0; b < 256; b++) {
        uint32_t k = 0;
        if (count[b]) {
            for (int32_t i = 0; i < v->n_vocab; i++)
                if ((v->attr[i] & TA_SPECIAL) && v->len[i] && (uint8_t)tok_str(v, i)[0] == b)
                    tmp[k++] = v->len[i];
            qsort(tmp, k, sizeof *tmp, cmp_u32_desc);
        }
        v->sp_start[b] = pos;
        for (uint32_t j = 0; j < k; j++)
            if (j == 0 || tmp[j] != tmp[j - 1]) v->sp_lens[pos++] = tmp[j];
    }
    v->sp_start[256] = pos;
    free(tmp);
    if (!(v->sp_all = malloc(((size_t)pos + 1) * sizeof *v->sp_all)))
        return lmc_err(LMC_ERR_OOM, "out of memory (special tokens)");
    memcpy(v->sp_all, v->sp_lens, (size_t)pos * sizeof *v->sp_all);
    qsort(v->sp_all, pos, sizeof *v->sp_all, cmp_u32_desc);
    for (uint32_t j = 0; j < pos; j++)
        if (j == 0 || v->sp_all[j] != v->sp_all[v->n_sp_all - 1])
            v->sp_all[v->n_sp_all++] = v->sp_all[j];
    return LMC_OK;
}

static lmc_status load_merges(struct tok_vocab *v, const gguf_file *f) {
    const gguf_kv *m = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_VT_STRING);
    if (!m)
        return lmc_err(LMC_ERR_FORMAT,
                       "%s: byte-level BPE vocabulary without tokenizer.ggml.merges", f->path);
    if (m->v.arr.n > INT32_MAX) return lmc_err(LMC_ERR_FORMAT, "%s: too many merges", f->path);
    lmc_status st = pair_init(&v->merges, m->v.arr.n);
    if (st != LMC_OK) return st;
    char buf[1024];
    for (uint64_t r = 0; r < m->v.arr.n; r++) {
        const gguf_str *s = &m->v.arr.strs[r];
        /* "left right": the separator is the first space after the first byte (a left part of a
         * single space would otherwise split at 0). Merges whose parts are not tokens cannot apply.
         */
        const char *sp = s->len > 1 ? memchr(s->ptr + 1, ' ', s->len - 1) : NULL;
        if (!sp)
            return lmc_err(LMC_ERR_FORMAT, "%s: tokenizer.ggml.merges[%llu] has no space", f->path,
                           (unsigned long long)r);
        size_t la = (size_t)(sp - s->ptr), lb = s->len - la - 1;
        if (la + lb > sizeof buf) continue;
        int32_t a = tok_map_get(v, &v->tokens, s->ptr, la),
                b = tok_map_get(v, &v->tokens, sp + 1, lb);
        if (a < 0 || b < 0) continue;
        memcpy(buf, s->ptr, la);
        memcpy(buf + la, sp + 1, lb);
        int32_t ab = tok_map_get(v, &v->tokens, buf, la + lb);
        if (ab < 0) continue;
        pair_put(&v->merges, a, b, (int32_t)r, ab);
    }
    return LMC_OK;
}

static void set_warning(struct tok_vocab *v, const char *fmt, const char *arg) {
    size_t n = strlen(fmt) + strlen(arg) + 1;
    free(v->warning);
    v->warning = malloc(n);
    if (v->warning) snprintf(v->warning, n, fmt, arg);
}

/* Attributes and end-of-generation tokens as llama.cpp derives them (tok_attr.c). */
static lmc_status derive_attrs(struct tok_vocab *v, const gguf_file *f) {
    static const char *const fim_keys[FIM_N][2] = {
        [FIM_PRE] = {"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"},
        [FIM_SUF] = {"tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"},
        [FIM_MID] = {"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"},
        [FIM_PAD] = {"tokenizer.ggml.fim_pad_token_id", NULL},
        [FIM_REP] = {"tokenizer.ggml.fim_rep_token_id", NULL},
        [FIM_SEP] = {"tokenizer.ggml.fim_sep_token_id", NULL},
    };
    char *name = gguf_get_str_dup(f, "general.name");
    tok_attr_in a = {.n_vocab = v->n_vocab,
                     .arena = v->arena,
                     .off = v->off,
                     .len = v->len,
                     .attr = v->attr,
                     .eog = v->eog,
                     .eos = v->eos,
                     .eot = v->eot,
                     .eom = v->eom,
                     .name = name};
    for (int k = 0; k < FIM_N; k++) {
        /* the deprecated key wins when both are present, as in llama.cpp (read last) */
        a.fim[k] = meta_id(f, fim_keys[k][0], v->n_vocab);
        int32_t old = fim_keys[k][1] ? meta_id(f, fim_keys[k][1], v->n_vocab) : -1;
        if (old >= 0) a.fim[k] = old;
    }
    tok_attr_derive(&a);
    v->eot = a.eot;
    v->eom = a.eom;
    free(name);
    return LMC_OK;
}

/* The token texts of tokenizer.ggml.tokens (n of them) into the arena, every attribute normal. */
static lmc_status load_texts(struct tok_vocab *v, const gguf_file *f, const gguf_kv *toks) {
    const uint64_t n = toks->v.arr.n;
    if (n == 0 || n > INT32_MAX)
        return lmc_err(LMC_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries", f->path,
                       (unsigned long long)n);
    v->n_vocab = (int32_t)n;
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (toks->v.arr.strs[i].len > UINT32_MAX)
            return lmc_err(LMC_ERR_FORMAT, "%s: token %llu is too long", f->path,
                           (unsigned long long)i);
        total += toks->v.arr.strs[i].len + 1; /* bounded by the file size: the reader checked it */
    }
    v->arena = malloc(total);
    v->off = malloc(n * sizeof *v->off);
    v->len = malloc(n * sizeof *v->len);
    v->score = calloc(n, sizeof *v->score);
    v->attr = malloc(n * sizeof *v->attr);
    v->eog = calloc(n, 1);
    if (!v->arena || !v->off || !v->len || !v->score || !v->attr || !v->eog)
        return lmc_err(LMC_ERR_OOM, "out of memory (vocabulary of %llu tokens)",
                       (unsigned long long)n);
    uint64_t pos = 0;
    for (uint64_t i = 0; i < n; i++) {
        const gguf_str *s = &toks->v.arr.strs[i];
        if (s->len) memcpy(v->arena + pos, s->ptr, s->len);
        v->arena[pos + s->len] = 0;
        v->off[i] = pos;
        v->len[i] = (uint32_t)s->len;
        v->attr[i] = TA_NORMAL;
        pos += s->len + 1;
    }
    return LMC_OK;
}

/* tokenizer.ggml.scores and tokenizer.ggml.token_type, when present: one per token. */
static lmc_status load_scores_types(struct tok_vocab *v, const gguf_file *f) {
    const uint64_t n = (uint64_t)v->n_vocab;
    const gguf_kv *scores = gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_VT_COUNT);
    if (scores) {
        if ((scores->v.arr.type != GGUF_VT_FLOAT32 && scores->v.arr.type != GGUF_VT_FLOAT64) ||
            scores->v.arr.n != n)
            return lmc_err(LMC_ERR_FORMAT, "%s: tokenizer.ggml.scores must hold %llu floats",
                           f->path, (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++)
            v->score[i] = (float)gguf_arr_f64(scores, i);
    }
    const gguf_kv *types = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_VT_COUNT);
    if (types) {
        uint32_t t = types->v.arr.type;
        bool integer = t == GGUF_VT_INT32 || t == GGUF_VT_UINT32 || t == GGUF_VT_INT8 ||
                       t == GGUF_VT_UINT8 || t == GGUF_VT_INT16 || t == GGUF_VT_UINT16 ||
                       t == GGUF_VT_INT64 || t == GGUF_VT_UINT64;
        if (!integer || types->v.arr.n != n)
            return lmc_err(LMC_ERR_FORMAT, "%s: tokenizer.ggml.token_type must hold %llu integers",
                           f->path, (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++)
            v->attr[i] = tok_attr_of_type(gguf_arr_i64(types, i));
    }
    return LMC_OK;
}

/* SentencePiece: the <0xNN> byte tokens, whether "▁" ever follows another character inside a
 * token (spm_split_ws), the unknown token, BOS and the space prefix. */
static void setup_spm(struct tok_vocab *v, const gguf_file *f) {
    for (int32_t i = 0; i < v->n_vocab; i++) {
        int b = (v->attr[i] & TA_BYTE) ? tok_byte_value(tok_str(v, i), v->len[i]) : -1;
        if (b >= 0) v->byte_tok[b] = i;
    }
    v->spm_split_ws = true;
    for (int32_t i = 0; i < v->n_vocab && v->spm_split_ws; i++) {
        const char *t = tok_str(v, i);
        for (uint32_t k = 1; k + 3 <= v->len[i]; k++)
            if (!memcmp(t + k, "\xe2\x96\x81", 3) &&
                (k < 3 || memcmp(t + k - 3, "\xe2\x96\x81", 3))) {
                v->spm_split_ws = false;
                break;
            }
    }
    if (v->unk < 0)
        for (int32_t i = 0; i < v->n_vocab && v->unk < 0; i++)
            if (v->attr[i] & TA_UNKNOWN) v->unk = i;
    v->add_bos = meta_bool(f, "tokenizer.ggml.add_bos_token", true);
    v->add_space_prefix = meta_bool(f, "tokenizer.ggml.add_space_prefix", true);
}

/* Byte-level BPE: GPT-2's byte alphabet and its tokens, the merges, the pre-tokenizer of
 * tokenizer.ggml.pre (GPT-2's, with a warning, when it is unknown or absent), BOS. */
static lmc_status setup_bpe(struct tok_vocab *v, const gguf_file *f) {
    gpt2_byte_map(v);
    for (int b = 0; b < 256; b++) {
        char c[4];
        int l = tok_utf8_put(v->byte_cp[b], c);
        v->byte_tok[b] = tok_map_get(v, &v->tokens, c, (size_t)l);
    }
    lmc_status st = load_merges(v, f);
    if (st != LMC_OK) return st;
    char *pre = gguf_get_str_dup(f, "tokenizer.ggml.pre");
    const pre_rules *rules = NULL;
    for (size_t i = 0; i < sizeof pre_table / sizeof pre_table[0] && pre; i++)
        if (name_in_list(pre, pre_table[i].names)) rules = &pre_table[i];
    if (!rules) {
        rules = &pre_table[0];
        if (pre)
            set_warning(v,
                        "unknown pre-tokenizer '%s': using the GPT-2 split rules instead; "
                        "token ids may differ from the model's own tokenizer",
                        pre);
        else
            set_warning(v, "%sno tokenizer.ggml.pre in the file: using the GPT-2 split rules", "");
    }
    free(pre);
    if ((st = pre_compile(v, rules, f->path)) != LMC_OK) return st;
    v->add_bos =
        meta_bool(f, "tokenizer.ggml.add_bos_token", rules->ignore_merges /* Llama-3 adds BOS */);
    v->add_space_prefix = false;
    return LMC_OK;
}

lmc_status tok_load(const gguf_file *f, struct tok_vocab **out) {
    *out = NULL;
    const gguf_kv *toks = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STRING);
    char *model = gguf_get_str_dup(f, "tokenizer.ggml.model");
    lmc_status st = LMC_OK;
    struct tok_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        st = lmc_err(LMC_ERR_OOM, "out of memory");
        goto fail;
    }
    if (!model || !toks) {
        st = lmc_err(LMC_ERR_FORMAT,
                     "%s: no tokenizer in the file (tokenizer.ggml.model and tokenizer.ggml.tokens "
                     "are required)",
                     f->path);
        goto fail;
    }
    if (!strcmp(model, "llama")) {
        v->kind = TOK_SPM;
    } else if (!strcmp(model, "gpt2")) {
        v->kind = TOK_BPE;
    } else {
        st = lmc_err(LMC_ERR_UNSUPPORTED,
                     "%s: tokenizer model '%s' is not supported (only 'llama' and 'gpt2')", f->path,
                     model);
        goto fail;
    }
    if ((st = load_texts(v, f, toks)) != LMC_OK) goto fail;
    if ((st = load_scores_types(v, f)) != LMC_OK) goto fail;
    if ((st = map_init(&v->tokens, (uint64_t)v->n_vocab)) != LMC_OK) goto fail;
    for (int32_t i = 0; i < v->n_vocab; i++)
        map_put(v, &v->tokens, i);
    v->bos = meta_id(f, "tokenizer.ggml.bos_token_id", v->n_vocab);
    v->eos = meta_id(f, "tokenizer.ggml.eos_token_id", v->n_vocab);
    v->unk = meta_id(f, "tokenizer.ggml.unknown_token_id", v->n_vocab);
    v->eot = meta_id(f, "tokenizer.ggml.eot_token_id", v->n_vocab);
    v->eom = meta_id(f, "tokenizer.ggml.eom_token_id", v->n_vocab);
    for (int b = 0; b < 256; b++)
        v->byte_tok[b] = -1;
    if (v->kind == TOK_SPM)
        setup_spm(v, f);
    else if ((st = setup_bpe(v, f)) != LMC_OK)
        goto fail;
    v->add_eos = meta_bool(f, "tokenizer.ggml.add_eos_token", false);
    if ((st = derive_attrs(v, f)) != LMC_OK) goto fail;
    if ((st = build_specials(v)) != LMC_OK) goto fail;
    free(model);
    *out = v;
    return LMC_OK;
fail:
    free(model);
    tok_free(v);
    return st;
}

void tok_free(struct tok_vocab *v) {
    if (!v) return;
    free(v->arena);
    free(v->off);
    free(v->len);
    free(v->score);
    free(v->attr);
    free(v->eog);
    free(v->tokens.slot);
    free(v->specials.slot);
    free(v->sp_lens);
    free(v->sp_all);
    free(v->merges.slot);
    for (int i = 0; i < v->n_re; i++)
        pcre2_code_free(v->re[i]);
    free(v->warning);
    free(v);
}

int32_t tok_n_vocab(const struct tok_vocab *v) {
    return v->n_vocab;
}
int32_t tok_bos(const struct tok_vocab *v) {
    return v->bos;
}
int32_t tok_eos(const struct tok_vocab *v) {
    return v->eos;
}
bool tok_add_bos(const struct tok_vocab *v) {
    return v->add_bos && v->bos >= 0;
}
bool tok_is_eog(const struct tok_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_vocab && v->eog[id];
}
bool tok_strips_leading_space(const struct tok_vocab *v) {
    return v->kind == TOK_SPM && v->add_space_prefix;
}
const char *tok_warning(const struct tok_vocab *v) {
    return v->warning;
}
const char *tok_text(const struct tok_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_vocab ? tok_str(v, id) : NULL;
}
