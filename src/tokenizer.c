/* tokenizer.c — the tokenizers a llama-family GGUF describes in tokenizer.ggml.*: SentencePiece
 * (score-driven bigram merges, byte fallback, "▁" for spaces) and byte-level BPE (ranked merges
 * over GPT-2's byte alphabet after a PCRE2 pre-tokenizer), special/user-defined tokens split off
 * first as llama.cpp splits them (with the lstrip/rstrip attributes tok_attr.c derives), and a
 * streaming detokenizer. Ids equal llama.cpp's (tests/test_tok_goldens.c). Not handled:
 * Unigram/WordPiece vocabularies, Unicode normalization (NFC/NFKC). */
#include "tokenizer.h"
#include "tok_attr.h"
#include "util.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tok_kind { TOK_SPM, TOK_BPE };
#define TOK_MAX_RE 8

/* ---- hash maps --------------------------------------------------------------------------------
 */

static uint64_t tok_hash(const char *s, size_t n) { /* FNV-1a, 64-bit */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

/* Open addressing from a token's text to its id; the strings live in the vocabulary's arena. */
typedef struct {
    int32_t *slot; /* id or -1 */
    uint64_t mask;
} str_map;

/* Open addressing from a pair of token ids to (merge rank, merged token id); one slot per cache
 * access. */
typedef struct {
    uint64_t key; /* (left << 32) | right, UINT64_MAX = empty */
    int32_t rank;
    int32_t merged;
} pair_slot;

typedef struct {
    pair_slot *slot;
    uint64_t mask;
} pair_map;

struct tok_vocab {
    enum tok_kind kind;
    int32_t n_vocab;
    char *arena;      /* every token's text, NUL-terminated */
    uint64_t *off;    /* (n_vocab) start of token i in arena */
    uint32_t *len;    /* (n_vocab) its length in bytes */
    float *score;     /* (n_vocab) SentencePiece scores (0 when absent) */
    uint16_t *attr;   /* (n_vocab) TA_* bits (tok_attr.h) */
    str_map tokens;   /* text -> id, every token */
    str_map specials; /* text -> id, tokens with TA_SPECIAL bits */
    /* For each first byte, the distinct lengths of special tokens starting with it, longest first:
     * sp_lens[sp_start[b] .. sp_start[b+1]) */
    uint32_t sp_start[257];
    uint32_t *sp_lens;
    uint32_t *sp_all; /* every distinct special-token length, longest first (n_sp_all) */
    uint32_t n_sp_all;
    pair_map merges;
    int32_t byte_tok[256]; /* SPM: id of <0xNN>; BPE: id of the one-character token of byte NN */
    uint32_t byte_cp[256]; /* BPE: GPT-2's byte -> code point */
    int16_t cp_byte[324];  /* BPE: code point -> byte (-1: not a byte character) */
    int32_t bos, eos, unk, eot, eom;
    uint8_t *eog; /* (n_vocab) end-of-generation flags */
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    bool spm_split_ws; /* no token has "▁" right after another character (see spm_encode) */
    pcre2_code *re[TOK_MAX_RE];
    int n_re;
    char *warning;
};

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

static const char *tok_str(const struct tok_vocab *v, int32_t id) {
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

static int32_t map_get(const struct tok_vocab *v, const str_map *m, const char *s, size_t n) {
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
static const pair_slot *pair_get(const pair_map *m, int32_t a, int32_t b) {
    if (!m->slot) return NULL;
    uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint64_t i = pair_hash(k) & m->mask; m->slot[i].key != UINT64_MAX; i = (i + 1) & m->mask)
        if (m->slot[i].key == k) return &m->slot[i];
    return NULL;
}

/* ---- UTF-8 helpers ----------------------------------------------------------------------------
 */

/* Length of the UTF-8 sequence a lead byte starts (1 for ASCII and for invalid bytes). */
static int utf8_len(uint8_t c) {
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) return 2;
    if ((c & 0xf0) == 0xe0) return 3;
    if ((c & 0xf8) == 0xf0) return 4;
    return 1;
}

static int utf8_put(uint32_t cp, char *o) {
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
static int32_t utf8_get(const uint8_t *s, size_t n, int *used) {
    int l = utf8_len(s[0]);
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
static int byte_token_value(const char *s, size_t n) {
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
        int32_t a = map_get(v, &v->tokens, s->ptr, la), b = map_get(v, &v->tokens, sp + 1, lb);
        if (a < 0 || b < 0) continue;
        memcpy(buf, s->ptr, la);
        memcpy(buf + la, sp + 1, lb);
        int32_t ab = map_get(v, &v->tokens, buf, la + lb);
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

lmc_status tok_load(const gguf_file *f, struct tok_vocab **out) {
    *out = NULL;
    const gguf_kv *toks = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STRING);
    char *model = gguf_get_str_dup(f, "tokenizer.ggml.model");
    char *pre = NULL;
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
    uint64_t n = toks->v.arr.n;
    if (n == 0 || n > INT32_MAX) {
        st = lmc_err(LMC_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries", f->path,
                     (unsigned long long)n);
        goto fail;
    }
    v->n_vocab = (int32_t)n;
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (toks->v.arr.strs[i].len > UINT32_MAX) {
            st = lmc_err(LMC_ERR_FORMAT, "%s: token %llu is too long", f->path,
                         (unsigned long long)i);
            goto fail;
        }
        total += toks->v.arr.strs[i].len + 1; /* bounded by the file size: the reader checked it */
    }
    v->arena = malloc(total);
    v->off = malloc(n * sizeof *v->off);
    v->len = malloc(n * sizeof *v->len);
    v->score = calloc(n, sizeof *v->score);
    v->attr = malloc(n * sizeof *v->attr);
    v->eog = calloc(n, 1);
    if (!v->arena || !v->off || !v->len || !v->score || !v->attr || !v->eog) {
        st = lmc_err(LMC_ERR_OOM, "out of memory (vocabulary of %llu tokens)",
                     (unsigned long long)n);
        goto fail;
    }
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
    const gguf_kv *scores = gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_VT_COUNT);
    if (scores) {
        if ((scores->v.arr.type != GGUF_VT_FLOAT32 && scores->v.arr.type != GGUF_VT_FLOAT64) ||
            scores->v.arr.n != n) {
            st = lmc_err(LMC_ERR_FORMAT, "%s: tokenizer.ggml.scores must hold %llu floats", f->path,
                         (unsigned long long)n);
            goto fail;
        }
        for (uint64_t i = 0; i < n; i++)
            v->score[i] = (float)gguf_arr_f64(scores, i);
    }
    const gguf_kv *types = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_VT_COUNT);
    if (types) {
        uint32_t t = types->v.arr.type;
        bool integer = t == GGUF_VT_INT32 || t == GGUF_VT_UINT32 || t == GGUF_VT_INT8 ||
                       t == GGUF_VT_UINT8 || t == GGUF_VT_INT16 || t == GGUF_VT_UINT16 ||
                       t == GGUF_VT_INT64 || t == GGUF_VT_UINT64;
        if (!integer || types->v.arr.n != n) {
            st = lmc_err(LMC_ERR_FORMAT, "%s: tokenizer.ggml.token_type must hold %llu integers",
                         f->path, (unsigned long long)n);
            goto fail;
        }
        for (uint64_t i = 0; i < n; i++) {
            int64_t x = gguf_arr_i64(types, i);
            v->attr[i] = tok_attr_of_type(x);
        }
    }
    if ((st = map_init(&v->tokens, n)) != LMC_OK) goto fail;
    for (int32_t i = 0; i < v->n_vocab; i++)
        map_put(v, &v->tokens, i);

    v->bos = meta_id(f, "tokenizer.ggml.bos_token_id", v->n_vocab);
    v->eos = meta_id(f, "tokenizer.ggml.eos_token_id", v->n_vocab);
    v->unk = meta_id(f, "tokenizer.ggml.unknown_token_id", v->n_vocab);
    v->eot = meta_id(f, "tokenizer.ggml.eot_token_id", v->n_vocab);
    v->eom = meta_id(f, "tokenizer.ggml.eom_token_id", v->n_vocab);
    for (int b = 0; b < 256; b++)
        v->byte_tok[b] = -1;

    if (v->kind == TOK_SPM) {
        for (int32_t i = 0; i < v->n_vocab; i++) {
            int b = (v->attr[i] & TA_BYTE) ? byte_token_value(tok_str(v, i), v->len[i]) : -1;
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
    } else {
        gpt2_byte_map(v);
        for (int b = 0; b < 256; b++) {
            char c[4];
            int l = utf8_put(v->byte_cp[b], c);
            v->byte_tok[b] = map_get(v, &v->tokens, c, (size_t)l);
        }
        if ((st = load_merges(v, f)) != LMC_OK) goto fail;
        pre = gguf_get_str_dup(f, "tokenizer.ggml.pre");
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
                set_warning(v, "%sno tokenizer.ggml.pre in the file: using the GPT-2 split rules",
                            "");
        }
        if ((st = pre_compile(v, rules, f->path)) != LMC_OK) goto fail;
        v->add_bos = meta_bool(f, "tokenizer.ggml.add_bos_token",
                               rules->ignore_merges /* Llama-3 adds BOS */);
        v->add_space_prefix = false;
    }
    v->add_eos = meta_bool(f, "tokenizer.ggml.add_eos_token", false);

    if ((st = derive_attrs(v, f)) != LMC_OK) goto fail;
    if ((st = build_specials(v)) != LMC_OK) goto fail;
    free(model);
    free(pre);
    *out = v;
    return LMC_OK;
fail:
    free(model);
    free(pre);
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

/* ---- encoding ---------------------------------------------------------------------------------
 */

/* A heap entry: key orders the queue (smallest first); a, b, c are the merge's operands. */
typedef struct {
    uint64_t key;
    int32_t a, b, c;
} heap_ent;

typedef struct {
    int32_t id;         /* BPE: token id of the symbol (-1: a byte without a token) */
    uint32_t start, n;  /* bytes of the symbol in the word; n == 0: merged away */
    int32_t prev, next; /* neighbours (-1 at the ends) */
} sym;

/* Scratch for one tokenize call: grown as needed, freed at the end (nothing survives the call). */
typedef struct {
    const struct tok_vocab *v;
    int32_t *ids;
    size_t n_ids, cap_ids;
    sym *syms;
    size_t cap_syms;
    heap_ent *heap;
    size_t n_heap, cap_heap;
    char *buf;
    size_t cap_buf;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    lmc_status st;
} work;

static bool grow(void **p, size_t *cap, size_t need, size_t elem, work *w) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) goto oom;
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) goto oom;
    *p = q;
    *cap = c;
    return true;
oom:
    w->st = lmc_err(LMC_ERR_OOM, "out of memory while tokenizing");
    return false;
}

static bool emit(work *w, int32_t id) {
    if (!grow((void **)&w->ids, &w->cap_ids, w->n_ids + 1, sizeof *w->ids, w)) return false;
    w->ids[w->n_ids++] = id;
    return true;
}

static bool heap_push(work *w, heap_ent e) {
    if (!grow((void **)&w->heap, &w->cap_heap, w->n_heap + 1, sizeof *w->heap, w)) return false;
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (w->heap[p].key <= e.key) break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = e;
    return true;
}

static heap_ent heap_pop(work *w) {
    heap_ent top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && w->heap[c + 1].key < w->heap[c].key) c++;
        if (last.key <= w->heap[c].key) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

/* SentencePiece BPE: start from UTF-8 characters and repeatedly merge the adjacent pair whose
 * concatenation is the highest-scoring token (ties: leftmost). */
static void spm_try_pair(work *w, const char *text, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const sym *a = &w->syms[l], *b = &w->syms[r];
    int32_t id = map_get(w->v, &w->v->tokens, text + a->start, a->n + b->n);
    if (id < 0) return;
    uint32_t u;
    memcpy(&u, &w->v->score[id], 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* order-preserving float -> uint */
    heap_ent e = {(uint64_t)(~u) << 32 | (uint32_t)l, l, r, (int32_t)(a->n + b->n)};
    heap_push(w, e);
}

/* llama.cpp's length of the character a byte starts, by its high nibble (so 0xF8..0xFF take 4
 * bytes, where utf8_len says 1): SentencePiece symbols are split the same way. */
static size_t spm_char_len(uint8_t c) {
    static const uint8_t by_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return by_nibble[c >> 4];
}

static void spm_chunk(work *w, const char *text, size_t n);

static void spm_encode(work *w, const char *frag, size_t len, bool space_prefix) {
    const struct tok_vocab *v = w->v;
    /* escaped text: optional leading space, every ' ' -> U+2581 (3 bytes) */
    if (len > (SIZE_MAX - 3) / 3) {
        w->st = lmc_err(LMC_ERR_INVALID_ARG, "text too long");
        return;
    }
    if (!grow((void **)&w->buf, &w->cap_buf, 3 * len + 3, 1, w)) return;
    size_t n = 0;
    if (space_prefix) {
        memcpy(w->buf, "\xe2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (frag[i] == ' ') {
            memcpy(w->buf + n, "\xe2\x96\x81", 3);
            n += 3;
        } else
            w->buf[n++] = frag[i];
    }
    if (n > UINT32_MAX || n > INT32_MAX) {
        w->st = lmc_err(LMC_ERR_INVALID_ARG, "text too long (%zu bytes)", n);
        return;
    }
    /* Where no token has "▁" after another character, no merge can span the start of a run of "▁"
     * that follows another character: the runs' pieces are then merged independently, which gives
     * the same result as one queue over the whole text and keeps the queue small (cache-resident).
     */
    size_t s = 0;
    bool prev_ws = true; /* (walks characters as spm_chunk splits them) */
    for (size_t i = 0; i < n && w->st == LMC_OK && v->spm_split_ws;) {
        size_t l = spm_char_len((uint8_t)w->buf[i]);
        if (l > n - i) l = n - i;
        bool ws = l == 3 && !memcmp(w->buf + i, "\xe2\x96\x81", 3);
        if (ws && !prev_ws) {
            spm_chunk(w, w->buf + s, i - s);
            s = i;
        }
        prev_ws = ws;
        i += l;
    }
    if (w->st == LMC_OK) spm_chunk(w, w->buf + s, n - s);
}

static void spm_chunk(work *w, const char *text, size_t n) {
    const struct tok_vocab *v = w->v;
    if (!grow((void **)&w->syms, &w->cap_syms, n, sizeof *w->syms, w)) return;
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t l = spm_char_len((uint8_t)text[i]);
        if (l > n - i) l = n - i;
        w->syms[ns] = (sym){-1, (uint32_t)i, (uint32_t)l, ns - 1, -1};
        if (ns > 0) w->syms[ns - 1].next = ns;
        ns++;
        i += l;
    }
    w->n_heap = 0;
    for (int32_t i = 0; i + 1 < ns; i++)
        spm_try_pair(w, text, i, i + 1);
    while (w->n_heap && w->st == LMC_OK) {
        heap_ent e = heap_pop(w);
        sym *a = &w->syms[e.a], *b = &w->syms[e.b];
        /* stale entry: one side was merged since it was queued */
        if (a->n == 0 || b->n == 0 || a->next != e.b || a->n + b->n != (uint32_t)e.c) continue;
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) w->syms[b->next].prev = e.a;
        spm_try_pair(w, text, a->prev, e.a);
        spm_try_pair(w, text, e.a, a->next);
    }
    for (int32_t i = 0; ns > 0 && i >= 0 && w->st == LMC_OK; i = w->syms[i].next) {
        const sym *s = &w->syms[i];
        int32_t id = map_get(v, &v->tokens, text + s->start, s->n);
        if (id >= 0) {
            emit(w, id);
            continue;
        }
        /* only single characters can be missing (merges always form tokens): byte fallback */
        for (uint32_t k = 0; k < s->n; k++) {
            int32_t bt = v->byte_tok[(uint8_t)text[s->start + k]];
            if (bt < 0) bt = v->unk;
            if (bt < 0) {
                w->st = lmc_err(LMC_ERR_UNSUPPORTED,
                                "byte 0x%02x has no token and the vocabulary has no unknown token",
                                (uint8_t)text[s->start + k]);
                return;
            }
            emit(w, bt);
        }
    }
}

/* Byte-level BPE of one pre-tokenized word: symbols start as one byte each (one GPT-2 character)
 * and the adjacent pair with the lowest merge rank is merged until none applies (ties: leftmost).
 */
static void bpe_try_pair(work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    int32_t a = w->syms[l].id, b = w->syms[r].id;
    if (a < 0 || b < 0) return;
    const pair_slot *p = pair_get(&w->v->merges, a, b);
    if (!p) return;
    heap_ent e = {(uint64_t)(uint32_t)p->rank << 32 | (uint32_t)l, l, a, b};
    heap_push(w, e);
}

static void bpe_word(work *w, const char *word, size_t n) {
    const struct tok_vocab *v = w->v;
    if (n == 0) return;
    if (n > INT32_MAX / 4) {
        w->st = lmc_err(LMC_ERR_INVALID_ARG, "pre-tokenized word too long (%zu bytes)", n);
        return;
    }
    if (v->ignore_merges || n == 1) {
        /* the word as GPT-2 characters: a whole-word token wins outright */
        if (!grow((void **)&w->buf, &w->cap_buf, 2 * n, 1, w)) return;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            m += (size_t)utf8_put(v->byte_cp[(uint8_t)word[i]], w->buf + m);
        int32_t id = map_get(v, &v->tokens, w->buf, m);
        if (id >= 0) {
            emit(w, id);
            return;
        }
    }
    if (!grow((void **)&w->syms, &w->cap_syms, n, sizeof *w->syms, w)) return;
    int32_t ns = (int32_t)n;
    for (int32_t i = 0; i < ns; i++)
        w->syms[i] =
            (sym){v->byte_tok[(uint8_t)word[i]], (uint32_t)i, 1, i - 1, i + 1 < ns ? i + 1 : -1};
    w->n_heap = 0;
    for (int32_t i = 0; i + 1 < ns; i++)
        bpe_try_pair(w, i, i + 1);
    while (w->n_heap && w->st == LMC_OK) {
        heap_ent e = heap_pop(w);
        sym *a = &w->syms[e.a];
        if (a->n == 0 || a->next < 0 || a->id != e.b || w->syms[a->next].id != e.c) continue;
        int32_t r = a->next;
        sym *b = &w->syms[r];
        a->id = pair_get(&v->merges, e.b, e.c)->merged;
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) w->syms[b->next].prev = e.a;
        bpe_try_pair(w, a->prev, e.a);
        bpe_try_pair(w, e.a, a->next);
    }
    for (int32_t i = 0; i >= 0 && w->st == LMC_OK; i = w->syms[i].next) {
        int32_t id = w->syms[i].id;
        if (id < 0) id = v->unk;
        if (id < 0) {
            w->st = lmc_err(LMC_ERR_UNSUPPORTED,
                            "byte 0x%02x has no token and the vocabulary has no unknown token",
                            (uint8_t)word[w->syms[i].start]);
            return;
        }
        emit(w, id);
    }
}

/* Applies split regex `level` to [s, e) of text and recurses on every match and every gap. */
static void bpe_split(work *w, const char *text, size_t s, size_t e, int level) {
    if (w->st != LMC_OK || s >= e) return;
    if (level == w->v->n_re) {
        bpe_word(w, text + s, e - s);
        return;
    }
    const pcre2_code *re = w->v->re[level];
    const PCRE2_SPTR subj = (PCRE2_SPTR)(text + s);
    size_t n = e - s, pos = 0;
    while (pos < n && w->st == LMC_OK) {
        int rc = pcre2_match(re, subj, n, pos, 0, w->md, w->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            char msg[128];
            pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof msg);
            w->st = lmc_err(LMC_ERR_UNSUPPORTED, "pre-tokenizer regex %d failed at byte %zu: %s",
                            level, s + pos, msg);
            return;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { /* an empty match splits nothing: step over one character */
            me = ms + (size_t)utf8_len(subj[ms]);
            if (me > n) me = n;
            bpe_split(w, text, s + pos, s + me, level + 1);
            pos = me;
            continue;
        }
        if (ms > pos) bpe_split(w, text, s + pos, s + ms, level + 1);
        bpe_split(w, text, s + ms, s + me, level + 1);
        pos = me;
    }
    if (pos < n) bpe_split(w, text, s + pos, e, level + 1);
}

static bool is_c_space(char c) { /* C's isspace in the "C" locale */
    return c == ' ' || (c >= '\t' && c <= '\r');
}

enum { MARK_TEXT = -1, MARK_COVERED = -2 };

/* llama.cpp's decoding of one character at s (n > 0 bytes left) for byte-level BPE: a lead byte
 * with its continuation bytes gives a code point (overlong forms and surrogates included), anything
 * else one U+FFFD for one byte. */
static uint32_t bpe_cpt(const uint8_t *s, size_t n, size_t *used) {
    int l = s[0] < 0x80   ? 1
            : s[0] < 0xc0 ? 0
            : s[0] < 0xe0 ? 2
            : s[0] < 0xf0 ? 3
            : s[0] < 0xf8 ? 4
                          : 0;
    *used = 1;
    if (l == 0 || (size_t)l > n) return 0xfffd;
    uint32_t cp = l == 1 ? s[0] : s[0] & (0x7f >> l);
    for (int i = 1; i < l; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0xfffd;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    *used = (size_t)l;
    return cp > 0x10ffff ? 0xfffd : cp;
}

/* Byte-level BPE of a text fragment: llama.cpp first turns it into code points and back (invalid
 * bytes become U+FFFD, overlong forms their character), then splits and merges. */
static void bpe_fragment(work *w, const char *text, size_t n) {
    if (n > SIZE_MAX / 3) {
        w->st = lmc_err(LMC_ERR_INVALID_ARG, "text too long");
        return;
    }
    char *clean = malloc(3 * n + 1); /* U+FFFD for one byte is the worst case: 3 bytes */
    if (!clean) {
        w->st = lmc_err(LMC_ERR_OOM, "out of memory while tokenizing");
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        size_t used;
        uint32_t cp = bpe_cpt((const uint8_t *)text + i, n - i, &used);
        m += (size_t)utf8_put(cp, clean + m);
        i += used;
    }
    bpe_split(w, clean, 0, m, 0);
    free(clean);
}

/* True when a special token of length l starts with byte b. */
static bool sp_has_len(const struct tok_vocab *v, uint8_t b, uint32_t l) {
    for (uint32_t k = v->sp_start[b]; k < v->sp_start[b + 1]; k++)
        if (v->sp_lens[k] == l) return true;
    return false;
}

/* Splits text at special tokens as llama.cpp's partition does: longer tokens first, each taking
 * its occurrences left to right in the text no longer token took, with TA_LSTRIP/TA_RSTRIP also
 * the whitespace before/after it (up to the neighbouring token). (llama.cpp orders tokens of equal
 * length arbitrarily; lmc takes them left to right, which differs only where two equal-length
 * special tokens overlap in the text.) Plain mode matches only user-defined tokens. mark[i]
 * (len): the token starting at byte i, MARK_TEXT, or MARK_COVERED (the rest of a token, or
 * stripped whitespace). Time: the text times the number of distinct special-token lengths; no
 * memory besides mark. */
static void sp_partition(const struct tok_vocab *v, const char *text, size_t len,
                         bool parse_special, int32_t *mark) {
    for (size_t i = 0; i < len; i++)
        mark[i] = MARK_TEXT;
    for (uint32_t k = 0; k < v->n_sp_all; k++) {
        size_t l = v->sp_all[k];
        for (size_t p = 0; l <= len && p <= len - l; p++) {
            if (mark[p] != MARK_TEXT || !sp_has_len(v, (uint8_t)text[p], (uint32_t)l)) continue;
            int32_t t = map_get(v, &v->specials, text + p, l);
            if (t < 0 || (!parse_special && (v->attr[t] & (TA_CONTROL | TA_UNKNOWN)))) continue;
            bool free_run = true;
            for (size_t i = p + 1; i < p + l && free_run; i++)
                free_run = mark[i] == MARK_TEXT;
            if (!free_run) continue;
            mark[p] = t;
            for (size_t i = p + 1; i < p + l; i++)
                mark[i] = MARK_COVERED;
            if (v->attr[t] & TA_LSTRIP)
                for (size_t i = p; i > 0 && mark[i - 1] == MARK_TEXT && is_c_space(text[i - 1]);
                     i--)
                    mark[i - 1] = MARK_COVERED;
            if (v->attr[t] & TA_RSTRIP)
                for (size_t i = p + l; i < len && mark[i] == MARK_TEXT && is_c_space(text[i]); i++)
                    mark[i] = MARK_COVERED;
            p += l - 1;
        }
    }
}

lmc_status tok_encode(const struct tok_vocab *v, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t **ids, size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    if (!text && len) return lmc_err(LMC_ERR_INVALID_ARG, "tokenize: text is NULL");
    work w = {.v = v, .st = LMC_OK};
    if (v->kind == TOK_BPE) {
        w.md = pcre2_match_data_create(1, NULL);
        w.mctx = pcre2_match_context_create(NULL);
        w.jit = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, NULL);
        if (!w.md || !w.mctx || !w.jit) {
            w.st = lmc_err(LMC_ERR_OOM, "out of memory (regex match data)");
            goto done;
        }
        pcre2_jit_stack_assign(w.mctx, NULL, w.jit);
    }
    if (add_special && v->add_bos && v->bos >= 0) emit(&w, v->bos);
    /* Split the text at special tokens; SentencePiece gives a leading space to the text at the
     * start and after each special token (as llama.cpp does). */
    int32_t *mark = len ? malloc(len * sizeof *mark) : NULL;
    if (len && !mark) {
        w.st = lmc_err(LMC_ERR_OOM, "out of memory while tokenizing");
        goto done;
    }
    sp_partition(v, text, len, parse_special, mark);
    bool prev_special = true;
    for (size_t i = 0; i < len && w.st == LMC_OK;) {
        if (mark[i] == MARK_COVERED) {
            i++;
        } else if (mark[i] >= 0) {
            emit(&w, mark[i]);
            prev_special = true;
            i++;
        } else {
            size_t e = i;
            while (e < len && mark[e] == MARK_TEXT)
                e++;
            if (v->kind == TOK_SPM)
                spm_encode(&w, text + i, e - i, v->add_space_prefix && prev_special);
            else
                bpe_fragment(&w, text + i, e - i);
            prev_special = false;
            i = e;
        }
    }
    free(mark);
    if (w.st == LMC_OK && add_special && v->add_eos && v->eos >= 0) emit(&w, v->eos);
done:
    free(w.syms);
    free(w.heap);
    free(w.buf);
    pcre2_match_data_free(w.md);
    pcre2_match_context_free(w.mctx);
    pcre2_jit_stack_free(w.jit);
    if (w.st != LMC_OK) {
        free(w.ids);
        return w.st;
    }
    *ids = w.ids;
    *n_ids = w.n_ids;
    return LMC_OK;
}

/* ---- decoding ---------------------------------------------------------------------------------
 */

static size_t put(char *buf, size_t size, size_t at, const char *s, size_t n) {
    if (at < size) memcpy(buf + at, s, n <= size - at ? n : size - at);
    return at + n;
}

int32_t tok_piece(const struct tok_vocab *v, int32_t id, char *buf, size_t size, bool special) {
    if (id < 0 || id >= v->n_vocab) return -1;
    const char *s = tok_str(v, id);
    size_t n = v->len[id], o = 0;
    uint16_t a = v->attr[id];
    /* as llama.cpp: control and unknown tokens only when asked for, user-defined ones always as
     * stored, byte tokens as their byte, normal ones decoded, anything else (unused) as nothing */
    if ((a & (TA_CONTROL | TA_UNKNOWN)) && !special) return 0;
    if (a & TA_SPECIAL) return (int32_t)put(buf, size, 0, s, n);
    if (!(a & TA_NORMAL)) {
        int b = (a & TA_BYTE) ? byte_token_value(s, n) : -1;
        if (b < 0) return 0;
        char c = (char)b;
        return (int32_t)put(buf, size, 0, &c, 1);
    }
    if (v->kind == TOK_SPM) {
        for (size_t i = 0; i < n;) {
            if (n - i >= 3 && !memcmp(s + i, "\xe2\x96\x81", 3)) {
                o = put(buf, size, o, " ", 1);
                i += 3;
            } else {
                o = put(buf, size, o, s + i, 1);
                i++;
            }
        }
        return (int32_t)o;
    }
    for (size_t i = 0; i < n;) { /* GPT-2 characters back to bytes */
        int l;
        int32_t cp = utf8_get((const uint8_t *)s + i, n - i, &l);
        if (cp >= 0 && cp < 324 && v->cp_byte[cp] >= 0) {
            char c = (char)v->cp_byte[cp];
            o = put(buf, size, o, &c, 1);
        } else {
            o = put(buf, size, o, s + i, (size_t)l);
        }
        i += (size_t)l;
    }
    return (int32_t)o;
}

/* ---- streaming detokenizer --------------------------------------------------------------------
 */

struct lmc_detok {
    const struct tok_vocab *v;
    bool special;
    bool after_bos; /* the previous token was BOS: SentencePiece's leading space is dropped */
    char *pend;     /* bytes not yet returned (an incomplete UTF-8 sequence at the end) */
    size_t n_pend, cap_pend;
    char *out; /* what the last push/flush returned */
    size_t cap_out;
};

lmc_detok *tok_detok_init(const struct tok_vocab *v, bool special) {
    lmc_detok *d = calloc(1, sizeof *d);
    if (!d) {
        lmc_err(LMC_ERR_OOM, "out of memory");
        return NULL;
    }
    d->v = v;
    d->special = special;
    return d;
}

static bool detok_reserve(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    char *q = realloc(*p, c);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

/* Where the complete UTF-8 prefix of s[0..n) ends: an unfinished multi-byte sequence at the end is
 * held back; anything invalid goes out as is (never held forever). */
static size_t utf8_complete(const char *s, size_t n) {
    for (size_t k = 1; k <= 4 && k <= n; k++) {
        uint8_t c = (uint8_t)s[n - k];
        if ((c & 0xc0) == 0x80) continue; /* continuation byte: look further back */
        int l = utf8_len(c);
        return (size_t)l > k ? n - k : n;
    }
    return n;
}

const char *lmc_detok_push(lmc_detok *d, int32_t tok, size_t *len) {
    *len = 0;
    if (!d) return NULL;
    int32_t need = tok_piece(d->v, tok, NULL, 0, d->special);
    if (need < 0) {
        lmc_err(LMC_ERR_INVALID_ARG, "lmc_detok_push: token %d is not in the vocabulary", tok);
        return NULL;
    }
    if (!detok_reserve(&d->pend, &d->cap_pend, d->n_pend + (size_t)need + 1)) {
        lmc_err(LMC_ERR_OOM, "out of memory");
        return NULL;
    }
    char *p = d->pend + d->n_pend;
    tok_piece(d->v, tok, p, (size_t)need, d->special);
    size_t n = (size_t)need;
    if (d->after_bos && tok_strips_leading_space(d->v) && n && p[0] == ' ') {
        memmove(p, p + 1, n - 1);
        n--;
    }
    d->after_bos = tok == d->v->bos;
    d->n_pend += n;
    size_t done = utf8_complete(d->pend, d->n_pend);
    if (!detok_reserve(&d->out, &d->cap_out, done + 1)) {
        lmc_err(LMC_ERR_OOM, "out of memory");
        return NULL;
    }
    memcpy(d->out, d->pend, done);
    d->out[done] = 0;
    memmove(d->pend, d->pend + done, d->n_pend - done);
    d->n_pend -= done;
    *len = done;
    return d->out;
}

const char *lmc_detok_flush(lmc_detok *d, size_t *len) {
    *len = 0;
    if (!d) return NULL;
    if (!detok_reserve(&d->out, &d->cap_out, d->n_pend + 1)) {
        lmc_err(LMC_ERR_OOM, "out of memory");
        return NULL;
    }
    if (d->n_pend) memcpy(d->out, d->pend, d->n_pend);
    d->out[d->n_pend] = 0;
    *len = d->n_pend;
    d->n_pend = 0;
    d->after_bos = false;
    return d->out;
}

void lmc_detok_free(lmc_detok *d) {
    if (!d) return;
    free(d->pend);
    free(d->out);
    free(d);
}
