/* tok_attr.c — which tokens are special, which end a generation, and which eat the whitespace
 * around them, derived as llama.cpp's vocabulary loader derives them (the GGUF's token types plus
 * rules keyed on token text and general.name). The lists below are llama.cpp's; where llama.cpp
 * takes "the first match" in hash order, lmc takes the lowest id (it only decides which id is
 * reported as EOT/FIM, never whether a token ends a generation). */
#include "tok_attr.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

uint16_t tok_attr_of_type(int64_t type) {
    switch (type) {
    case 1:
        return TA_NORMAL;
    case 2:
        return TA_UNKNOWN;
    case 3:
        return TA_CONTROL;
    case 4:
        return TA_USER;
    case 5:
        return TA_UNUSED;
    case 6:
        return TA_BYTE;
    default:
        return 0;
    }
}

/* NULL-terminated lists of token texts. */
static const char *const EOT_TEXTS[] = {
    "<|eot_id|>",    "<|im_end|>",         "<|end|>", "<end_of_turn>",
    "<|endoftext|>", "<|end_of_text|>",    "<EOT>",   "_<EOT>",
    "[EOT]",         "<end_of_utterance>", NULL};
static const char *const EOM_TEXTS[] = {"<|eom_id|>", NULL};
static const char *const FIM_TEXTS[FIM_N][8] = {
    [FIM_PRE] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "<|code_prefix|>",
                 "<|prefix|>", NULL},
    [FIM_SUF] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "<|code_suffix|>",
                 "<|suffix|>", NULL},
    [FIM_MID] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "<|code_middle|>",
                 "<|middle|>", NULL},
    [FIM_PAD] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL},
    [FIM_REP] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL},
    [FIM_SEP] = {"<|file_sep|>", NULL},
};
static const char *const EOG_TEXTS[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<|return|>",
                                        "<|call|>",
                                        "<|flush|>",
                                        "<|calls|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "</s>",
                                        "<|eom_id|>",
                                        "<EOT>",
                                        "_<EOT>",
                                        "[EOT]",
                                        "[EOS]",
                                        "<|end_of_text|>",
                                        "<end_of_utterance>",
                                        "<eos>",
                                        "<turn|>",
                                        "<|tool_response>",
                                        NULL};
/* gpt-oss: always rendered, never special */
static const char *const USER_TEXTS[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>",
                                         NULL};

static bool text_is(const tok_attr_in *a, int32_t id, const char *s) {
    size_t n = strlen(s);
    return a->len[id] == n && !memcmp(a->arena + a->off[id], s, n);
}

static bool text_in(const tok_attr_in *a, int32_t id, const char *const *list) {
    for (; *list; list++)
        if (text_is(a, id, *list)) return true;
    return false;
}

/* The lowest id whose text is s, or -1. */
static int32_t find_text(const tok_attr_in *a, const char *s) {
    for (int32_t i = 0; i < a->n_vocab; i++)
        if (text_is(a, i, s)) return i;
    return -1;
}

/* Sets *id (when unset) to the first token named in list, which then becomes a control token. */
static void detect(tok_attr_in *a, int32_t *id, const char *const *list) {
    if (*id >= 0) return;
    for (int32_t i = 0; i < a->n_vocab; i++) {
        /* every candidate starts with '<', '_' or '[': skip the rest cheaply */
        char c = a->len[i] ? a->arena[a->off[i]] : 0;
        if ((c == '<' || c == '_' || c == '[') && text_in(a, i, list)) {
            *id = i;
            a->attr[i] |= TA_CONTROL;
            return;
        }
    }
}

static bool has_substr(const char *s, size_t n, const char *sub) {
    size_t m = strlen(sub);
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(s + i, sub, m)) return true;
    return false;
}

/* Phi-3 (general.name contains "phi-3" or "phi3", any case): every special token strips the
 * whitespace after it, except <unk>, <s> and <|endoftext|>. */
static void phi3_strip_rules(tok_attr_in *a) {
    if (!a->name) return;
    char low[256];
    size_t n = strlen(a->name);
    if (n >= sizeof low) n = sizeof low - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)a->name[i]);
    if (!has_substr(low, n, "phi-3") && !has_substr(low, n, "phi3")) return;
    for (int32_t i = 0; i < a->n_vocab; i++)
        if (a->attr[i] & TA_SPECIAL) a->attr[i] |= TA_RSTRIP;
    int32_t s = find_text(a, "</s>");
    if (s >= 0) a->attr[s] |= TA_RSTRIP;
    static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
    for (size_t k = 0; k < 3; k++)
        if ((s = find_text(a, keep[k])) >= 0) a->attr[s] &= (uint16_t)~TA_RSTRIP;
}

/* llama.cpp's workarounds: gpt-oss / solar-open's <|end|> is not an end of generation when
 * <|return|> and <|call|> (or <|calls|> and <|flush|>) are; Gemma-4 / PaddleOCR's </s> is not one
 * when <|tool_response> is. */
static void eog_workarounds(tok_attr_in *a) {
    int32_t ret = -1, call = -1, flush = -1, end = -1, tool = -1, s = -1;
    for (int32_t i = 0; i < a->n_vocab; i++) {
        if (!a->eog[i]) continue;
        if (text_is(a, i, "<|return|>")) ret = i;
        if (text_is(a, i, "<|call|>") || text_is(a, i, "<|calls|>")) call = i;
        if (text_is(a, i, "<|flush|>")) flush = i;
        if (text_is(a, i, "<|end|>")) end = i;
        if (text_is(a, i, "<|tool_response>")) tool = i;
        if (text_is(a, i, "</s>")) s = i;
    }
    if (end >= 0 && call >= 0 && (ret >= 0 || flush >= 0)) {
        a->eog[end] = 0;
        a->attr[end] = TA_USER;
    }
    if (tool >= 0 && s >= 0) {
        a->eog[s] = 0;
        a->attr[s] = TA_NORMAL;
    }
}

void tok_attr_derive(tok_attr_in *a) {
    detect(a, &a->eot, EOT_TEXTS);
    detect(a, &a->eom, EOM_TEXTS);
    for (int k = 0; k < FIM_N; k++)
        detect(a, &a->fim[k], FIM_TEXTS[k]);
    for (int32_t i = 0; i < a->n_vocab; i++) /* control tokens named "unused..." are unused */
        if ((a->attr[i] & TA_CONTROL) && has_substr(a->arena + a->off[i], a->len[i], "unused"))
            a->attr[i] |= TA_UNUSED;
    memset(a->eog, 0, (size_t)a->n_vocab);
    for (int k = FIM_PAD; k <= FIM_SEP; k++)
        if (a->fim[k] >= 0) a->eog[a->fim[k]] = 1;
    for (int32_t i = 0; i < a->n_vocab; i++) {
        char c = a->len[i] ? a->arena[a->off[i]] : 0;
        if ((c == '<' || c == '_' || c == '[') && text_in(a, i, EOG_TEXTS)) {
            a->eog[i] = 1;
            a->attr[i] |= TA_CONTROL;
        }
    }
    for (int32_t i = 0; i < a->n_vocab; i++)
        if (a->len[i] && a->arena[a->off[i]] == '<' && text_in(a, i, USER_TEXTS))
            a->attr[i] = TA_USER;
    if (a->eos >= 0) a->eog[a->eos] = 1;
    if (a->eot >= 0) a->eog[a->eot] = 1;
    if (a->eom >= 0) a->eog[a->eom] = 1;
    eog_workarounds(a);
    phi3_strip_rules(a);
}
