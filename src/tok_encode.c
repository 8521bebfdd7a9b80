/* tok_encode.c — text to token ids (tok_encode): special tokens split off first as llama.cpp
 * splits them, then each fragment through SentencePiece's bigram merges (scores, byte fallback) or
 * byte-level BPE's ranked merges after the PCRE2 pre-tokenizer. One call's scratch (the work
 * struct) is grown as needed and freed before it returns. */
#include "tok_vocab.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    int32_t id = tok_map_get(w->v, &w->v->tokens, text + a->start, a->n + b->n);
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
        int32_t id = tok_map_get(v, &v->tokens, text + s->start, s->n);
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
    const pair_slot *p = tok_pair_get(&w->v->merges, a, b);
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
            m += (size_t)tok_utf8_put(v->byte_cp[(uint8_t)word[i]], w->buf + m);
        int32_t id = tok_map_get(v, &v->tokens, w->buf, m);
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
        a->id = tok_pair_get(&v->merges, e.b, e.c)->merged;
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
            me = ms + (size_t)tok_utf8_len(subj[ms]);
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
        m += (size_t)tok_utf8_put(cp, clean + m);
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
            int32_t t = tok_map_get(v, &v->specials, text + p, l);
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
