/* tok_decode.c — token ids back to text: one token's piece (tok_piece: SentencePiece's "▁" and
 * byte tokens, BPE's byte alphabet) and the streaming detokenizer that holds back incomplete UTF-8
 * until the bytes that finish it arrive. */
#include "tok_vocab.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

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
        int b = (a & TA_BYTE) ? tok_byte_value(s, n) : -1;
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
        int32_t cp = tok_utf8_get((const uint8_t *)s + i, n - i, &l);
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
        int l = tok_utf8_len(c);
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
