/* flags.c — see flags.h: the table of every subcommand's options, the parser that reads argv
 * through it (names, value types, ranges, which subcommands take an option) and the help text and
 * Markdown generated from it. Values are only checked here; what an option does is the
 * subcommand's. */
#include "flags.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_SWITCH, T_INT, T_FLOAT, T_STR } flag_type;

#define GEN (CMD_RUN | CMD_CHAT)
#define SAMPLE (CMD_RUN | CMD_CHAT | CMD_SERVE)
#define COMPUTE (CMD_RUN | CMD_CHAT | CMD_SERVE | CMD_BENCH | CMD_LOGITS | CMD_PERPLEXITY)
#define ALL 0x3ff
#define GPUS (CMD_RUN | CMD_CHAT | CMD_SERVE | CMD_BENCH)

typedef struct {
    flag_id id;
    const char *names[4]; /* llama.cpp's spellings first */
    const char *arg;      /* the value's name in the help; NULL: a switch */
    flag_type type;
    double min, max;    /* T_INT, T_FLOAT: the accepted range */
    unsigned cmds;      /* the subcommands that take it */
    unsigned list_cmds; /* T_INT: those that take a comma-separated list ("1,2,4") */
    const char *def;    /* the default, as the help shows it; NULL: none or said in the help */
    const char *group;
    const char *help; /* lines after the first are indented by flags_help */
} flag_def;

/* One entry per option, its help text on the lines after it (kept as written: clang-format off). */
// clang-format off
static const flag_def table[] = {
    {FL_HELP, {"-h", "--help"}, NULL, T_SWITCH, 0, 0, ALL, 0, NULL, "",
     "this help"},
    {FL_MODEL, {"-m", "--model"}, "FILE", T_STR, 0, 0, COMPUTE | CMD_TOKENIZE | CMD_TEMPLATE, 0, NULL, "model and context",
     "GGUF model (default: SmolLM2-135M-Instruct from the cache;\n"
     "template: the model whose chat template and BOS/EOS text to use)"},
    {FL_CTX, {"-c", "--ctx-size"}, "N", T_INT, 0, INT_MAX, COMPUTE, 0, NULL, "model and context",
     "context length in tokens per sequence, prompt + reply; 0: the model's\n"
     "training length, bounded by memory. Default 0; serve: 2048 per slot;\n"
     "perplexity: 512 (the chunk size); bench: the largest -p plus -n"},
    {FL_BATCH, {"-b", "--batch-size"}, "N", T_INT, 1, INT_MAX, CMD_RUN | CMD_CHAT | CMD_SERVE | CMD_BENCH | CMD_PERPLEXITY, 0, NULL, "model and context",
     "tokens per forward pass (prompt processing). Default 512;\n"
     "perplexity: 2048, at most -c"},
    {FL_THREADS, {"-t", "--threads"}, "N", T_INT, 0, 4096, COMPUTE | CMD_QUANTIZE, CMD_BENCH, "0", "model and context",
     "CPU threads; 0: all cores"},
    {FL_NGL, {"-ngl", "--n-gpu-layers", "--gpu-layers"}, "N", T_INT, INT_MIN, INT_MAX, COMPUTE, 0, "-1", "model and context",
     "layers on the GPU: the last N layers and the output run there, the\n"
     "first ones on the CPU; -1: all; 0: CPU only"},
    {FL_DEVICE, {"--device"}, "cpu|cuda|auto", T_STR, 0, 0, COMPUTE, 0, "auto", "model and context",
     "where to run; auto: the GPU when there is one"},
    {FL_PARALLEL, {"-np", "--parallel", "-npl"}, "N", T_INT, 1, 256, CMD_SERVE | CMD_BENCH, CMD_BENCH, NULL, "model and context",
     "sequences decoded together: serve's slots (default 4); bench: the\n"
     "batched-generation widths to test (default none)"},
    {FL_CACHE_TYPE_K, {"-ctk", "--cache-type-k"}, "f32|f16|q8_0", T_STR, 0, 0, COMPUTE, 0, "f32", "model and context",
     "element type of the KV cache's keys: f32 (exact), f16 (half the\n"
     "memory and the bytes attention reads; llama.cpp's default) or q8_0\n"
     "(8-bit blocks as llama.cpp's, about half of f16 again; CPU only for\n"
     "now, and head_dim a multiple of 32). The CPU backend takes any pair;\n"
     "the CUDA backend f32 or f16 for both (-ctk f16 -ctv f16)"},
    {FL_CACHE_TYPE_V, {"-ctv", "--cache-type-v"}, "f32|f16|q8_0", T_STR, 0, 0, COMPUTE, 0, "f32", "model and context",
     "element type of the KV cache's values (as -ctk)"},
    {FL_SPLIT_MODE, {"-sm", "--split-mode"}, "none|layer|row", T_STR, 0, 0, GPUS, 0, "none", "several GPUs",
     "none: one GPU; layer: contiguous layers per GPU; row: tensor\n"
     "parallel (heads, FFN columns and vocabulary cut over the GPUs).\n"
     "Neither has run on a host with several GPUs yet; layer runs one\n"
     "sequence (docs/MULTI_GPU.md)"},
    {FL_TENSOR_SPLIT, {"-ts", "--tensor-split"}, "A,B,...", T_STR, 0, 0, GPUS, 0, NULL, "several GPUs",
     "GPU shares (layer: proportions of the layers; row: which GPUs,\n"
     "equal shares)"},
    {FL_MAIN_GPU, {"-mg", "--main-gpu"}, "N", T_INT, 0, 15, GPUS, 0, "0", "several GPUs",
     "the GPU of -sm none"},
    {FL_TENSOR_PARALLEL, {"-tp", "--tensor-parallel"}, "N", T_INT, 1, 16, GPUS, 0, NULL, "several GPUs",
     "-sm row over N GPUs (more than are present: an error)"},
    {FL_PROMPT, {"-p", "--prompt"}, "TEXT", T_STR, 0, 0, CMD_RUN | CMD_LOGITS | CMD_TOKENIZE, 0, NULL, "input",
     "the prompt (tokenize: the text; logits: tokenized with BOS as the\n"
     "model says, special-token text not parsed)"},
    {FL_FILE, {"-f", "--file"}, "FILE", T_STR, 0, 0, CMD_RUN | CMD_TOKENIZE | CMD_PERPLEXITY, 0, NULL, "input",
     "read the prompt (the text) from FILE; '-' = stdin"},
    {FL_CHAT, {"--chat"}, NULL, T_SWITCH, 0, 0, CMD_RUN, 0, NULL, "input",
     "wrap the prompt as a user message in the chat template"},
    {FL_CONVERSATION, {"-cnv", "--conversation", "-i", "--interactive"}, NULL, T_SWITCH, 0, 0, GEN, 0, NULL, "input",
     "interactive chat (run: the same as lmc chat; chat: a no-op)"},
    {FL_SYSTEM, {"-sys", "--system-prompt", "--system"}, "TEXT", T_STR, 0, 0, GEN, 0, NULL, "input",
     "system prompt (run: with --chat)"},
    {FL_CHAT_TEMPLATE, {"--chat-template"}, "NAME|FILE", T_STR, 0, 0, CMD_RUN | CMD_CHAT | CMD_SERVE | CMD_TEMPLATE, 0, NULL, "input",
     "chat template: a built-in (chatml, gemma, llama2, llama3, mistral,\n"
     "zephyr) or a Jinja file (default: the model's; run: with --chat)"},
    {FL_NO_DISPLAY_PROMPT, {"--no-display-prompt"}, NULL, T_SWITCH, 0, 0, CMD_RUN, 0, NULL, "input",
     "do not echo the prompt before the completion"},
    {FL_PRINT_IDS, {"--print-ids"}, NULL, T_SWITCH, 0, 0, CMD_RUN, 0, NULL, "input",
     "print JSON {prompt_ids, ids, text, stop} instead of text (ids: every\n"
     "sampled token, an end-of-generation one included)"},
    {FL_NO_PREFIX_CACHE, {"--no-prefix-cache"}, NULL, T_SWITCH, 0, 0, CMD_CHAT, 0, NULL, "input",
     "process the whole conversation every turn (for tests)"},
    {FL_N_PREDICT, {"-n", "--n-predict"}, "N", T_INT, -1, INT_MAX, GEN | CMD_SERVE | CMD_LOGITS, 0, NULL, "generation",
     "tokens to generate (chat: per reply; serve: when a request gives no\n"
     "max_tokens); -1: until the model ends its text or the context is full.\n"
     "Default -1; logits: 16 greedy ids"},
    {FL_STOP, {"-r", "--reverse-prompt", "--stop"}, "STR", T_STR, 0, 0, GEN, 0, NULL, "generation",
     "stop when STR appears (not printed); repeatable"},
    {FL_TEMP, {"--temp"}, "T", T_FLOAT, 0, 100, SAMPLE, 0, "0.8", "sampling",
     "temperature; 0 = greedy (serve: when a request gives none)"},
    {FL_TOP_K, {"--top-k"}, "N", T_INT, 0, INT_MAX, SAMPLE, 0, "40", "sampling",
     "keep the N most likely tokens; 0 = off"},
    {FL_TOP_P, {"--top-p"}, "P", T_FLOAT, 0, 1, SAMPLE, 0, "0.95", "sampling",
     "keep the smallest set with probability >= P; 1 = off"},
    {FL_MIN_P, {"--min-p"}, "P", T_FLOAT, 0, 1, SAMPLE, 0, "0.05", "sampling",
     "drop tokens below P x the top probability; 0 = off"},
    {FL_REPEAT_PENALTY, {"--repeat-penalty"}, "F", T_FLOAT, 0.01, 100, SAMPLE, 0, "1.0", "sampling",
     "penalise repeated tokens; 1 = off"},
    {FL_REPEAT_LAST_N, {"--repeat-last-n"}, "N", T_INT, -1, INT_MAX, SAMPLE, 0, "64", "sampling",
     "window of the penalties; 0 = off; -1 = the context"},
    {FL_FREQUENCY_PENALTY, {"--frequency-penalty"}, "F", T_FLOAT, -2, 2, SAMPLE, 0, "0", "sampling",
     "subtract F x the count of a token"},
    {FL_PRESENCE_PENALTY, {"--presence-penalty"}, "F", T_FLOAT, -2, 2, SAMPLE, 0, "0", "sampling",
     "subtract F once per repeated token"},
    {FL_SEED, {"-s", "--seed"}, "N", T_STR, 0, 0, GEN, 0, "random", "sampling",
     "random seed (same seed, same text; 4294967295 = random)"},
    {FL_GRAMMAR, {"--grammar"}, "GBNF", T_STR, 0, 0, GEN, 0, NULL, "constrained output (one of them)",
     "a grammar in llama.cpp's GBNF (start rule: root)"},
    {FL_GRAMMAR_FILE, {"--grammar-file"}, "FILE", T_STR, 0, 0, GEN, 0, NULL, "constrained output (one of them)",
     "the same, from a file (e.g. llama.cpp's grammars/*.gbnf)"},
    {FL_JSON_SCHEMA, {"-j", "--json-schema"}, "JSON", T_STR, 0, 0, GEN, 0, NULL, "constrained output (one of them)",
     "a JSON schema: the output is JSON that it validates ('{}': any JSON)"},
    {FL_JSON_SCHEMA_FILE, {"--json-schema-file"}, "FILE", T_STR, 0, 0, GEN, 0, NULL, "constrained output (one of them)",
     "the same, from a file"},
    {FL_HOST, {"--host"}, "ADDR", T_STR, 0, 0, CMD_SERVE, 0, "127.0.0.1", "server",
     "address to listen on (0.0.0.0 for all)"},
    {FL_PORT, {"--port"}, "N", T_INT, 0, 65535, CMD_SERVE, 0, "8080", "server",
     "port; 0 picks a free one and prints it"},
    {FL_QUEUE, {"--queue"}, "N", T_INT, 0, 65536, CMD_SERVE, 0, "64", "server",
     "requests that may wait for a slot; more get 503"},
    {FL_API_KEY, {"--api-key"}, "KEY", T_STR, 0, 0, CMD_SERVE, 0, NULL, "server",
     "require 'Authorization: Bearer KEY' on every endpoint but / and\n"
     "/health (also env LMC_API_KEY)"},
    {FL_CORS, {"--cors"}, "ORIGIN", T_STR, 0, 0, CMD_SERVE, 0, NULL, "server",
     "allow browsers on ORIGIN (e.g. https://example.com or *)"},
    {FL_EMBEDDINGS, {"--embeddings"}, NULL, T_SWITCH, 0, 0, CMD_SERVE, 0, NULL, "server",
     "serve POST /v1/embeddings (a second context of one sequence, on the\n"
     "CPU, with the same -c; off by default)"},
    {FL_TIMEOUT, {"--timeout", "-to"}, "S", T_INT, 1, INT_MAX, CMD_SERVE, 0, "600", "server",
     "close a connection idle for S seconds"},
    {FL_MAX_BODY, {"--max-body"}, "BYTES", T_INT, 1024, INT_MAX, CMD_SERVE, 0, "1048576", "server",
     "largest request body; larger gets 413"},
    {FL_SHUTDOWN_GRACE, {"--shutdown-grace"}, "S", T_FLOAT, 0, 3600, CMD_SERVE, 0, "5", "server",
     "on SIGINT/SIGTERM, seconds running replies get to finish"},
    {FL_VERBOSE, {"-v", "--verbose"}, NULL, T_SWITCH, 0, 0, CMD_SERVE, 0, NULL, "server",
     "log each request and HTTP-level errors"},
    /* llama-bench spells these like llama-cli's -p/-n/-r but means counts: bench only */
    {FL_BENCH_PROMPT, {"-p", "--n-prompt"}, "N", T_INT, 0, 1 << 20, CMD_BENCH, CMD_BENCH, "512", "bench (llama-bench's spellings)",
     "prompt lengths to test, e.g. 128,512; 0 = none"},
    {FL_BENCH_GEN, {"-n", "--n-gen"}, "N", T_INT, 0, 1 << 20, CMD_BENCH, CMD_BENCH, "128", "bench (llama-bench's spellings)",
     "generation lengths to test; 0 = none"},
    {FL_BENCH_DEPTH, {"-d", "--n-depth"}, "N", T_INT, 0, 1 << 20, CMD_BENCH, CMD_BENCH, "0", "bench (llama-bench's spellings)",
     "tokens already in the cache before each pp and tg test, decoded once untimed; not with --parallel"},
    {FL_REPETITIONS, {"-r", "--repetitions"}, "N", T_INT, 1, 1000, CMD_BENCH, 0, "5", "bench (llama-bench's spellings)",
     "timed runs per test (after one warm-up)"},
    {FL_JSON, {"--json"}, NULL, T_SWITCH, 0, 0, CMD_BENCH | CMD_PERPLEXITY, 0, NULL, "output",
     "print JSON instead of a table (bench: llama-bench's field names)"},
    {FL_IDS, {"--ids"}, "LIST", T_STR, 0, 0, CMD_LOGITS, 0, NULL, "logits",
     "token ids, e.g. 1,2,3 (instead of -p)"},
    {FL_DUMP, {"--dump"}, "DIR", T_STR, 0, 0, CMD_LOGITS, 0, NULL, "logits",
     "write the residual stream after each layer for the last prompt token\n"
     "as DIR/layer_NN.f32, plus DIR/final_norm.f32 and DIR/logits.f32; with\n"
     "--device cuda also on the CPU into DIR/cpu/, reporting the first layer\n"
     "whose residual differs (NMSE > 1e-6)"},
    {FL_CHUNKS, {"--chunks"}, "N", T_INT, 0, INT_MAX, CMD_PERPLEXITY, 0, "0", "perplexity",
     "score at most N chunks; 0 = all"},
    {FL_KL_BASE, {"--kl-divergence-base"}, "FILE", T_STR, 0, 0, CMD_PERPLEXITY, 0, NULL, "perplexity",
     "save the model's log-probabilities to FILE (with -f); with\n"
     "--kl-divergence: read them from FILE"},
    {FL_KL, {"--kl-divergence"}, NULL, T_SWITCH, 0, 0, CMD_PERPLEXITY, 0, NULL, "perplexity",
     "compare with the base saved in FILE: KL divergence, top-token\n"
     "agreement, dp, the PPL ratio (-f optional: it must tokenize to the\n"
     "base's tokens)"},
    {FL_CASES, {"--cases"}, "FILE", T_STR, 0, 0, CMD_TOKENIZE, 0, NULL, "tokenize",
     "test cases separated by \"\\n__ggml_vocab_test__\\n\"; one line of ids\n"
     "per case (llama.cpp's tokenizer test format)"},
    {FL_BOS, {"--bos"}, NULL, T_SWITCH, 0, 0, CMD_TOKENIZE, 0, NULL, "tokenize",
     "add BOS/EOS as the vocabulary's metadata says (default: off)"},
    {FL_PARSE_SPECIAL, {"--parse-special"}, NULL, T_SWITCH, 0, 0, CMD_TOKENIZE, 0, NULL, "tokenize",
     "text of control tokens (e.g. <|im_start|>) becomes those tokens"},
    {FL_PIECES, {"--pieces"}, NULL, T_SWITCH, 0, 0, CMD_TOKENIZE, 0, NULL, "tokenize",
     "one line per token: id 'piece'"},
    {FL_TEMPLATE_FILE, {"--file", "--chat-template-file"}, "FILE", T_STR, 0, 0, CMD_TEMPLATE, 0, NULL, "template",
     "a Jinja template file"},
    {FL_MESSAGES, {"--messages"}, "FILE", T_STR, 0, 0, CMD_TEMPLATE, 0, NULL, "template",
     "JSON array of {\"role\", \"content\", ...} objects (passed as they are)"},
    {FL_CONTEXT_VARS, {"--context"}, "FILE", T_STR, 0, 0, CMD_TEMPLATE, 0, NULL, "template",
     "JSON object of extra template variables (e.g. tools, documents)"},
    {FL_ADD_GEN_PROMPT, {"--add-generation-prompt"}, NULL, T_SWITCH, 0, 0, CMD_TEMPLATE, 0, NULL, "template",
     "end with the assistant's turn header"},
    {FL_BOS_TOKEN, {"--bos-token"}, "TEXT", T_STR, 0, 0, CMD_TEMPLATE, 0, NULL, "template",
     "BOS token text (default: the model's, else empty)"},
    {FL_EOS_TOKEN, {"--eos-token"}, "TEXT", T_STR, 0, 0, CMD_TEMPLATE, 0, NULL, "template",
     "EOS token text (default: the model's, else empty)"},
    {FL_FULL, {"--full"}, NULL, T_SWITCH, 0, 0, CMD_INSPECT, 0, NULL, "inspect",
     "print every string and array element in full"},
    {FL_NO_TENSORS, {"--no-tensors"}, NULL, T_SWITCH, 0, 0, CMD_INSPECT, 0, NULL, "inspect",
     "leave out the tensor table (totals are still printed)"},
    {FL_ALLOW_REQUANTIZE, {"--allow-requantize"}, NULL, T_SWITCH, 0, 0, CMD_QUANTIZE, 0, NULL, "quantize",
     "accept quantized input (it loses quality twice)"},
    {FL_PURE, {"--pure"}, NULL, T_SWITCH, 0, 0, CMD_QUANTIZE, 0, NULL, "quantize",
     "every quantizable tensor gets TYPE (no mix)"},
    {FL_FORCE, {"--force"}, NULL, T_SWITCH, 0, 0, CMD_QUANTIZE, 0, NULL, "quantize",
     "overwrite an existing output file"},
    {FL_QUIET, {"-q", "--quiet"}, NULL, T_SWITCH, 0, 0, CMD_QUANTIZE, 0, NULL, "quantize",
     "no per-tensor lines"},
    {FL_OUTPUT_TENSOR_TYPE, {"--output-tensor-type"}, "TYPE", T_STR, 0, 0, CMD_QUANTIZE, 0, NULL, "quantize",
     "type of output.weight (e.g. q8_0, f16)"},
    {FL_TOKEN_EMBEDDING_TYPE, {"--token-embedding-type"}, "TYPE", T_STR, 0, 0, CMD_QUANTIZE, 0, NULL, "quantize",
     "type of token_embd.weight"},
};
// clang-format on

#define N_FLAGS (sizeof table / sizeof table[0])

static const char *const cmd_names[] = {"run",      "chat",      "serve",    "bench",
                                        "logits",   "tokenize",  "template", "inspect",
                                        "quantize", "perplexity"};

const char *cli_cmd_name(cli_cmd cmd) {
    for (int b = 0; b < 10; b++)
        if (cmd == (1u << b)) return cmd_names[b];
    return "?";
}

static bool has_name(const flag_def *d, const char *a) {
    for (int k = 0; k < 4 && d->names[k]; k++)
        if (!strcmp(d->names[k], a)) return true;
    return false;
}

static int usage_err(cli_cmd cmd, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "lmc %s: ", cli_cmd_name(cmd));
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\nTry 'lmc %s --help'.\n", cli_cmd_name(cmd));
    return -1;
}

/* The subcommands in set, as "run, chat and serve". */
static void cmd_list(unsigned set, char *buf, size_t size) {
    int n = 0, total = 0;
    for (int b = 0; b < 10; b++)
        total += (set >> b) & 1;
    buf[0] = 0;
    for (int b = 0; b < 10; b++) {
        if (!((set >> b) & 1)) continue;
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s",
                 n == 0           ? ""
                 : n == total - 1 ? " and "
                                  : ", ",
                 cmd_names[b]);
        n++;
    }
}

static bool parse_int(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < INT_MIN || v > INT_MAX) return false;
    *out = v;
    return true;
}

static int range_err(cli_cmd cmd, const flag_def *d, const char *a, const char *val) {
    char range[96];
    if (d->min <= INT_MIN && d->max >= INT_MAX)
        snprintf(range, sizeof range, "an integer");
    else if (d->max >= INT_MAX)
        snprintf(range, sizeof range, d->type == T_INT ? "an integer >= %.0f" : "a number >= %g",
                 d->min);
    else
        snprintf(range, sizeof range,
                 d->type == T_INT ? "an integer in %.0f..%.0f" : "a number in %g..%g", d->min,
                 d->max);
    fprintf(stderr, "lmc %s: option %s: '%s' is not %s\nTry 'lmc %s --help'.\n", cli_cmd_name(cmd),
            a, val, range, cli_cmd_name(cmd));
    return -1;
}

static int parse_value(cli_cmd cmd, const flag_def *d, const char *a, const char *s, flag_val *v) {
    v->str = s;
    if (d->type == T_STR) return 1;
    if (d->type == T_FLOAT) {
        char *end;
        errno = 0;
        float f = strtof(s, &end);
        if (errno || *end || end == s || !(f >= d->min && f <= d->max))
            return range_err(cmd, d, a, s);
        v->f = f;
        return 1;
    }
    bool list = (d->list_cmds & cmd) != 0;
    v->n_list = 0;
    const char *p = s;
    for (;;) {
        const char *comma = list ? strchr(p, ',') : NULL;
        char item[32];
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        long x;
        if (len == 0 || len >= sizeof item) return range_err(cmd, d, a, s);
        memcpy(item, p, len);
        item[len] = 0;
        if (!parse_int(item, &x) || x < d->min || x > d->max) return range_err(cmd, d, a, s);
        if (v->n_list == FLAG_MAX_LIST)
            return usage_err(cmd, "option %s: at most 32 values%s", a, "");
        v->list[v->n_list++] = (int)x;
        if (!comma) break;
        p = comma + 1;
    }
    v->i = v->list[0];
    return 1;
}

int flag_next(cli_cmd cmd, int argc, char **argv, int *i, flag_val *v) {
    const char *a = argv[*i];
    memset(v, 0, sizeof *v);
    if (a[0] != '-' || a[1] == 0) return 0;
    unsigned others = 0;
    for (size_t k = 0; k < N_FLAGS; k++) {
        const flag_def *d = &table[k];
        if (!has_name(d, a)) continue;
        if (!(d->cmds & cmd)) {
            others |= d->cmds;
            continue;
        }
        v->id = d->id;
        v->flag = a;
        if (d->type == T_SWITCH) return 1;
        if (*i + 1 >= argc) return usage_err(cmd, "option %s needs a value (%s)", a, d->arg);
        (*i)++;
        return parse_value(cmd, d, a, argv[*i], v);
    }
    if (others) {
        char list[160], msg[256];
        cmd_list(others, list, sizeof list);
        snprintf(msg, sizeof msg, "option %%s is not used by lmc %s; it is an option of lmc %%s",
                 cli_cmd_name(cmd));
        return usage_err(cmd, msg, a, list);
    }
    return usage_err(cmd, "unknown option '%s'%s", a, "");
}

/* "  -m, --model FILE" */
static int names_text(const flag_def *d, char *buf, size_t size) {
    int n = snprintf(buf, size, "  ");
    for (int k = 0; k < 4 && d->names[k]; k++)
        n += snprintf(buf + n, size - (size_t)n, "%s%s", k ? ", " : "", d->names[k]);
    if (d->arg) n += snprintf(buf + n, size - (size_t)n, " %s", d->arg);
    return n;
}

#define HELP_COL 28

void flags_help(FILE *to, cli_cmd cmd) {
    const char *group = NULL;
    for (size_t k = 0; k < N_FLAGS; k++) {
        const flag_def *d = &table[k];
        if (!(d->cmds & cmd) || d->id == FL_HELP) continue;
        if (!group || strcmp(group, d->group)) {
            fprintf(to, "%s%s:\n", group ? "\n" : "", d->group);
            group = d->group;
        }
        char names[128];
        int n = names_text(d, names, sizeof names);
        if (n >= HELP_COL - 1)
            fprintf(to, "%s\n%*s", names, HELP_COL, "");
        else
            fprintf(to, "%-*s", HELP_COL, names);
        for (const char *p = d->help; *p;) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            fprintf(to, "%.*s", (int)len, p);
            if (!nl) break;
            fprintf(to, "\n%*s", HELP_COL, "");
            p = nl + 1;
        }
        if (d->list_cmds & cmd) fputs(" (a comma-separated list)", to);
        if (d->def) fprintf(to, " (default %s)", d->def);
        fputc('\n', to);
    }
    fprintf(to, "%s  -h, --help                this help\n", group ? "\n" : "");
}

/* Writes s for a Markdown table cell: '|' escaped, newlines as spaces. */
static void md_cell(FILE *to, const char *s) {
    for (; s && *s; s++) {
        if (*s == '\n')
            fputc(' ', to);
        else if (*s == '|')
            fputs("\\|", to);
        else
            fputc(*s, to);
    }
}

void flags_markdown(FILE *to) {
    fprintf(to, "| option | value | default | subcommands | what it does |\n"
                "| --- | --- | --- | --- | --- |\n");
    for (size_t k = 0; k < N_FLAGS; k++) {
        const flag_def *d = &table[k];
        char list[160];
        cmd_list(d->cmds, list, sizeof list);
        if (d->cmds == ALL) snprintf(list, sizeof list, "all");
        fputs("| ", to);
        for (int j = 0; j < 4 && d->names[j]; j++)
            fprintf(to, "%s`%s`", j ? ", " : "", d->names[j]);
        fputs(" | ", to);
        md_cell(to, d->arg);
        fputs(" | ", to);
        md_cell(to, d->def);
        fprintf(to, " | %s | ", list);
        md_cell(to, d->help);
        if (d->list_cmds) {
            cmd_list(d->list_cmds, list, sizeof list);
            fprintf(to, " (%s: a comma-separated list)", list);
        }
        fputs(" |\n", to);
    }
}
