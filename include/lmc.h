/* lmc.h — the public C API of lmc: load a llama-family GGUF, tokenize, decode, sample, render
 * chats. Opaque handles with init/free pairs; every _free accepts NULL. The library never prints
 * and never exits: functions return an lmc_status and leave a message in lmc_last_error(). */
#ifndef LMC_H
#define LMC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LMC_OK = 0,
    LMC_ERR_IO = -1,           /* file could not be opened / read / mapped */
    LMC_ERR_FORMAT = -2,       /* malformed file or input */
    LMC_ERR_UNSUPPORTED = -3,  /* valid but not supported (architecture, tensor type, ...) */
    LMC_ERR_OOM = -4,          /* allocation failed (host or device) */
    LMC_ERR_CONTEXT_FULL = -5, /* positions beyond n_ctx */
    LMC_ERR_BACKEND = -6,      /* GPU / backend failure */
    LMC_ERR_INVALID_ARG = -7,  /* bad argument from the caller */
    LMC_ERR_TEMPLATE = -8,     /* chat template failed to parse or raised */
    LMC_ERR_CANCELLED = -9,    /* stopped by the caller */
} lmc_status;

/* Message of the last error on this thread ("" when none). */
const char *lmc_last_error(void);
const char *lmc_status_str(lmc_status st);

/* What JSON text from outside may not carry into lmc's C strings: invalid UTF-8 (RFC 8259 text is
 * UTF-8), a NUL byte, or a \u0000 escape (which would cut a string short when parsed). */
typedef enum {
    LMC_JSON_TEXT_OK = 0,
    LMC_JSON_TEXT_NUL,        /* a raw NUL byte */
    LMC_JSON_TEXT_NUL_ESCAPE, /* \u0000 */
    LMC_JSON_TEXT_BAD_UTF8,   /* not UTF-8 (overlong forms, surrogates and > U+10FFFF included) */
} lmc_json_text_fault;
/* The first fault in s[0..n) and, in *at, its byte offset (n when none). */
lmc_json_text_fault lmc_json_text_check(const char *s, size_t n, size_t *at);

typedef struct lmc_model lmc_model;
typedef struct lmc_context lmc_context;
typedef struct lmc_sampler lmc_sampler;

/* ---- model ------------------------------------------------------------------------------------
 */
typedef struct {
    bool vocab_only; /* load only the tokenizer (vocab GGUFs have no weights) */
    void (*progress)(float done, void *user); /* called during long loads, done in [0,1] */
    void *progress_user;
} lmc_model_params;

lmc_model_params lmc_model_default_params(void);
lmc_status lmc_model_load(const char *path, const lmc_model_params *params, lmc_model **out);
void lmc_model_free(lmc_model *model);

int32_t lmc_model_n_vocab(const lmc_model *model);
int32_t lmc_model_n_embd(const lmc_model *model);
int32_t lmc_model_n_layer(const lmc_model *model);
int32_t lmc_model_n_ctx_train(const lmc_model *model);
/* Bytes of weight data (tensor payloads) and parameter count. */
uint64_t lmc_model_size_bytes(const lmc_model *model);
uint64_t lmc_model_n_params(const lmc_model *model);
/* Short description, e.g. "llama 135M Q4_1". Writes at most size bytes (NUL included). */
int32_t lmc_model_desc(const lmc_model *model, char *buf, size_t size);
/* The chat template stored in the GGUF (tokenizer.chat_template), or NULL. */
const char *lmc_model_chat_template(const lmc_model *model);
/* A metadata string value by key, or NULL. */
const char *lmc_model_meta_str(const lmc_model *model, const char *key);

/* ---- GGUF files, read-only ------------------------------------------------------------------- */
/* The file as the reader sees it, without loading a model (so it works on files lmc cannot run):
 * the header, the metadata key/values and the tensor table. Strings point into the mapped file and
 * are not NUL-terminated (a length goes with each); they live until lmc_gguf_close. */
typedef struct lmc_gguf lmc_gguf;

/* Metadata value types, numbered as in the GGUF format. */
typedef enum {
    LMC_GGUF_UINT8 = 0,
    LMC_GGUF_INT8 = 1,
    LMC_GGUF_UINT16 = 2,
    LMC_GGUF_INT16 = 3,
    LMC_GGUF_UINT32 = 4,
    LMC_GGUF_INT32 = 5,
    LMC_GGUF_FLOAT32 = 6,
    LMC_GGUF_BOOL = 7,
    LMC_GGUF_STRING = 8,
    LMC_GGUF_ARRAY = 9,
    LMC_GGUF_UINT64 = 10,
    LMC_GGUF_INT64 = 11,
    LMC_GGUF_FLOAT64 = 12
} lmc_gguf_type;

typedef struct {
    const char *path; /* NUL-terminated */
    uint32_t version;
    uint64_t alignment; /* of tensor data (general.alignment, default 32) */
    uint64_t n_kv;
    uint64_t n_tensors;
    uint64_t data_offset; /* where the tensor data section starts */
    uint64_t size;        /* file size in bytes */
} lmc_gguf_header;

/* One metadata entry. Of the value fields only those of its type are set (the others are 0). */
typedef struct {
    const char *key; /* key_len bytes */
    uint64_t key_len;
    uint32_t type;   /* lmc_gguf_type */
    uint64_t u64;    /* unsigned integers; bool as 0 / 1 */
    int64_t i64;     /* signed integers */
    double f64;      /* float32, float64 */
    const char *str; /* string: str_len bytes */
    uint64_t str_len;
    uint32_t arr_type;   /* array: element type (LMC_GGUF_ARRAY for nested arrays, not shown) */
    uint64_t arr_n;      /* array: element count */
    uint64_t arr_nbytes; /* array: bytes the elements take in the file */
} lmc_gguf_kv;

/* One tensor of the tensor table. ne[0] is the contiguous dimension; unused dims are 1. */
typedef struct {
    const char *name; /* name_len bytes */
    uint64_t name_len;
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t type;         /* ggml type id */
    const char *type_name; /* "Q4_K", ... (NUL-terminated) */
    bool supported;        /* lmc can compute with this type */
    uint64_t offset;       /* relative to the data section */
    uint64_t nbytes;
} lmc_gguf_tensor;

/* Opens and validates a file (every count, length and offset against its size). Errors:
 * LMC_ERR_IO, LMC_ERR_FORMAT (the message names the item and its offset), LMC_ERR_UNSUPPORTED. */
lmc_status lmc_gguf_open(const char *path, lmc_gguf **out);
void lmc_gguf_close(lmc_gguf *g);
void lmc_gguf_get_header(const lmc_gguf *g, lmc_gguf_header *out);
/* Entry i (< n_kv) / tensor i (< n_tensors); LMC_ERR_INVALID_ARG when i is out of range. */
lmc_status lmc_gguf_get_kv(const lmc_gguf *g, uint64_t i, lmc_gguf_kv *out);
lmc_status lmc_gguf_get_tensor(const lmc_gguf *g, uint64_t i, lmc_gguf_tensor *out);
/* Element j of the array of entry i: as a number (bool as 0 / 1; 0 when not a numeric array or out
 * of range), or a string (its length in *len; NULL when not a string array or out of range). */
double lmc_gguf_arr_f64(const lmc_gguf *g, uint64_t i, uint64_t j);
int64_t lmc_gguf_arr_i64(const lmc_gguf *g, uint64_t i, uint64_t j);
const char *lmc_gguf_arr_str(const lmc_gguf *g, uint64_t i, uint64_t j, uint64_t *len);
/* The architecture as lmc would run it, from the metadata alone: its name, hyperparameters (with
 * the defaults lmc applies) and block variant, one line into buf (snprintf semantics). LMC_OK, or
 * the status and lmc_last_error() message loading would give (e.g. an unsupported architecture,
 * with the list of supported ones). */
lmc_status lmc_gguf_arch_summary(const lmc_gguf *g, char *buf, size_t size);
/* "uint8", ..., "float64"; "?" when unknown. */
const char *lmc_gguf_type_name(uint32_t type);
/* A ggml tensor type's name ("F16", "Q4_K", ...); "?" when unknown. Ids are below 256. */
const char *lmc_tensor_type_name(uint32_t type);

/* ---- tokenizer --------------------------------------------------------------------------------
 */
/* Tokenize len bytes of text (len < 0: NUL-terminated). add_special: BOS/EOS as the metadata says.
 * parse_special: text of control/user-defined tokens (e.g. "<|im_start|>") becomes that token.
 * Returns the number of tokens, or -(needed) when n_max is too small, or INT32_MIN on error. */
int32_t lmc_tokenize(const lmc_model *model, const char *text, int32_t len, int32_t *tokens,
                     int32_t n_max, bool add_special, bool parse_special);
/* The same into an array of its own: *n_tokens ids (free() it; never NULL on success, even for no
 * tokens). NULL on error, with lmc_last_error() saying why. */
int32_t *lmc_tokenize_alloc(const lmc_model *model, const char *text, int32_t len, bool add_special,
                            bool parse_special, int32_t *n_tokens);
/* Raw bytes of a token's piece (SPM "▁" becomes " ", byte tokens become their byte). special:
 * render control tokens' text (otherwise they give no bytes). Returns bytes written, or -(needed).
 */
int32_t lmc_token_to_piece(const lmc_model *model, int32_t token, char *buf, int32_t size,
                           bool special);
/* The token's text exactly as stored in the vocabulary. */
const char *lmc_token_text(const lmc_model *model, int32_t token);
int32_t lmc_token_bos(const lmc_model *model); /* -1 when none */
int32_t lmc_token_eos(const lmc_model *model);
bool lmc_token_is_eog(const lmc_model *model, int32_t token); /* eos, eot, eom, <|im_end|>, ... */
bool lmc_vocab_add_bos(const lmc_model *model);
/* A note from loading the tokenizer the caller may show once (e.g. an unknown pre-tokenizer and the
 * rules used instead), or NULL. The library itself never prints it. */
const char *lmc_vocab_warning(const lmc_model *model);

/* Streaming detokenizer: feed tokens, get complete UTF-8 out; incomplete sequences are held back.
 * Handles SentencePiece's leading space of the first piece as llama.cpp does (stripped after BOS).
 */
typedef struct lmc_detok lmc_detok;
lmc_detok *lmc_detok_init(const lmc_model *model, bool special);
/* Appends the text of tok; returns a pointer to the newly completed bytes (valid until the next
 * call) and their length in *len. */
const char *lmc_detok_push(lmc_detok *d, int32_t tok, size_t *len);
/* Whatever is held back (invalid/incomplete UTF-8 at the end), then reset. */
const char *lmc_detok_flush(lmc_detok *d, size_t *len);
void lmc_detok_free(lmc_detok *d);

/* ---- context and decoding ---------------------------------------------------------------------
 */
typedef enum { LMC_DEVICE_CPU = 0, LMC_DEVICE_CUDA = 1, LMC_DEVICE_AUTO = 2 } lmc_device;
/* How a context spreads over several GPUs: NONE one GPU; LAYER contiguous layer ranges per GPU;
 * ROW tensor parallelism (attention heads, FFN columns and vocabulary rows cut over the GPUs). */
typedef enum { LMC_SPLIT_NONE = 0, LMC_SPLIT_LAYER = 1, LMC_SPLIT_ROW = 2 } lmc_split_mode;
#define LMC_MAX_GPUS 16
/* The element type of the KV cache, numbered as GGML's types (llama.cpp's -ctk/-ctv values "f32",
 * "f16", "q8_0"). lmc's default is F32 (keys and values kept exactly); llama.cpp's is F16, which
 * halves the cache's memory and the bytes attention reads at long context. F16 is stored rounded to
 * nearest even and converted back exactly when read. Q8_0 (34 bytes per 32 elements, about half of
 * F16 again) stores each cache row as GGML's block_q8_0, quantized as llama.cpp's x86 CPU build
 * does (d = max|x|/127 as an IEEE half, q = nearest-even(x * 127/max|x|)); attention then scores a
 * Q8_0 key against the query quantized the same way by integer block dots, as ggml does, and widens
 * Q8_0 values to f32. Q8_0 needs head_dim % 32 == 0 and runs on the CPU backend only (for now); the
 * CUDA backend takes F32 and F16 for K and V alike. */
typedef enum { LMC_KV_F32 = 0, LMC_KV_F16 = 1, LMC_KV_Q8_0 = 8 } lmc_kv_type;
/* "f32", "f16" or "q8_0"; NULL for anything else. */
const char *lmc_kv_type_name(lmc_kv_type type);
/* The type of a name as llama.cpp spells it ("f32", "f16", "q8_0"); LMC_ERR_INVALID_ARG naming the
 * choices (lmc_last_error) for anything else. */
lmc_status lmc_kv_type_from_name(const char *name, lmc_kv_type *out);

typedef struct {
    int32_t n_ctx;     /* positions per sequence; 0 = model's context_length bounded by memory */
    int32_t n_seq;     /* independent sequences (server slots), each with its own KV cache */
    int32_t n_threads; /* CPU threads; 0 = number of cores */
    int32_t n_batch;   /* max tokens per forward (prompts are split into batches of this size) */
    lmc_device device;
    int32_t n_gpu_layers; /* -1 = all */
    /* Several GPUs (docs/MULTI_GPU.md; llama.cpp's -sm/-ts/-mg). Checked at init: more GPUs than
     * present is "N GPUs requested, M present"; a cut the model does not allow names its rule. */
    lmc_split_mode split_mode;        /* NONE (default): one GPU */
    int32_t main_gpu;                 /* NONE: the GPU to run on (0) */
    int32_t n_tensor_parallel;        /* ROW: ranks; 0 = the GPUs tensor_split names, else all */
    float tensor_split[LMC_MAX_GPUS]; /* shares per GPU (LAYER: proportions of the layers; ROW:
                                         which GPUs, equal shares); all 0 = every GPU, even */
    lmc_kv_type type_k, type_v;       /* the KV cache's element types (-ctk/-ctv); default F32 */
} lmc_context_params;

lmc_context_params lmc_context_default_params(void);
lmc_status lmc_context_init(lmc_model *model, const lmc_context_params *params, lmc_context **out);
void lmc_context_free(lmc_context *ctx);
int32_t lmc_context_n_ctx(const lmc_context *ctx);

/* A batch of tokens, possibly from several sequences. Token i sits at position pos[i] of sequence
 * seq_id[i] (NULL = all 0) and attends to its own sequence's cached positions up to pos[i]. A
 * sequence holds consecutive positions [start, len): its tokens in a batch must continue it (a
 * first position below len rewinds it; an empty sequence may start anywhere) with consecutive
 * positions. want_logits[i] (NULL = only the last token) asks for its logits. */
typedef struct {
    int32_t n_tokens;
    const int32_t *token;
    const int32_t *pos;
    const int32_t *seq_id;
    const int8_t *want_logits;
} lmc_batch;

/* Runs the batch; *logits receives (n_wanted, n_vocab) floats owned by ctx, valid until the next
 * call, in batch order of the wanted rows. */
lmc_status lmc_decode_batch(lmc_context *ctx, const lmc_batch *batch, const float **logits);
/* Convenience: n tokens of sequence 0 at positions pos..pos+n-1; logits of the last one. */
lmc_status lmc_decode(lmc_context *ctx, const int32_t *tokens, int32_t n, int32_t pos,
                      const float **logits);
/* Embeddings: runs tokens[0..n) as sequence seq from position 0 (what it held is forgotten; it
 * holds these tokens afterwards) and writes every token's final hidden state, the last residual
 * after the output norm, to out: (n, n_embd) floats. Pooling and normalization are the caller's
 * (lmc serve's /v1/embeddings takes the mean and L2-normalizes). No logits are computed. The CPU
 * backend only: LMC_ERR_UNSUPPORTED on a context with GPU layers; LMC_ERR_CONTEXT_FULL when n is
 * more than the context holds. */
lmc_status lmc_embed(lmc_context *ctx, int32_t seq, const int32_t *tokens, int32_t n, float *out);
/* Forget positions >= from of a sequence (so it can be rewound or reused). */
void lmc_seq_truncate(lmc_context *ctx, int32_t seq, int32_t from);
/* Moves positions [from, from+n) of a sequence down to start at `to` (context shift), re-rotating
 * keys. */
lmc_status lmc_seq_shift(lmc_context *ctx, int32_t seq, int32_t from, int32_t n, int32_t to);
/* Observing the forward pass (debugging, `lmc logits --dump`). What an observer is shown: */
typedef enum {
    LMC_OBSERVE_LAYER = 0,      /* the residual stream after layer `layer` (n_embd values) */
    LMC_OBSERVE_FINAL_NORM = 1, /* the output norm of the last residual (n_embd values; only where
                                   the output norm runs on the CPU) */
    LMC_OBSERVE_LOGITS = 2      /* the logits (n_vocab values), when the token's are wanted */
} lmc_observe_what;
/* layer: the layer for LMC_OBSERVE_LAYER, else -1. v is valid only during the call. */
typedef void (*lmc_observer)(void *user, lmc_observe_what what, int32_t layer, const float *v,
                             int32_t n);
/* From now on, the last token of every lmc_decode_batch call (of lmc_decode: its last token,
 * however n_batch cuts it) is shown to cb, layer by layer, while it runs. NULL turns it off (the
 * default). */
void lmc_context_set_observer(lmc_context *ctx, lmc_observer cb, void *user);

/* ---- what a context runs on ------------------------------------------------------------------ */
/* Number of usable devices of a kind: CPU 1; CUDA the GPUs found (0 when none), or -1 when this
 * build of lmc has no CUDA backend. */
int32_t lmc_device_count(lmc_device device);

typedef struct {
    lmc_device device;          /* resolved: LMC_DEVICE_CPU or LMC_DEVICE_CUDA */
    const char *backend;        /* "cpu" or "cuda" */
    int32_t n_gpu_layers;       /* layers on the GPU (the last ones); 0 on the CPU */
    int32_t n_threads;          /* CPU threads */
    const char *cpu_kernels;    /* the CPU kernel set in use: "avx512", "avx2", "scalar", or "ref"
                                   (the reference path, env LMC_KERNELS=ref) */
    lmc_kv_type type_k, type_v; /* the KV cache's element types */
    char gpu_name[128];         /* the GPU's name; "" on the CPU */
    uint64_t gpu_mem_total;     /* the GPU's memory in bytes; 0 on the CPU */
    uint64_t gpu_mem_free;      /* of it free now */
    uint64_t gpu_weight_bytes;  /* weight bytes one decode step reads on the GPU (each matrix once,
                                   one embedding row); 0 on the CPU */
} lmc_context_info;

lmc_status lmc_context_get_info(const lmc_context *ctx, lmc_context_info *out);
/* The ceiling a decode step's weight reads compare with: times a device-to-device copy of 1 GiB ten
 * times and gives bytes read + written per second in GB/s. Takes 2 GiB of GPU memory for a moment;
 * LMC_ERR_UNSUPPORTED for a context on the CPU. */
lmc_status lmc_context_measure_bandwidth(lmc_context *ctx, double *gb_s);

/* ---- sampling ---------------------------------------------------------------------------------
 */
typedef struct {
    float temp;              /* <= 0: greedy */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    int32_t repeat_last_n;   /* window for the penalties; -1 = n_ctx */
    float frequency_penalty; /* 0: off */
    float presence_penalty;  /* 0: off */
    uint64_t seed;           /* LMC_DEFAULT_SEED = random */
} lmc_sampler_params;
#define LMC_DEFAULT_SEED 0xFFFFFFFFu

lmc_sampler_params lmc_sampler_default_params(void); /* llama.cpp's defaults */
lmc_sampler *lmc_sampler_init(const lmc_sampler_params *params, int32_t n_vocab);
int32_t lmc_sampler_sample(lmc_sampler *s, const float *logits);
void lmc_sampler_accept(lmc_sampler *s, int32_t token); /* record for the penalties */
void lmc_sampler_reset(lmc_sampler *s);
void lmc_sampler_free(lmc_sampler *s);

/* ---- constrained output: grammars ----------------------------------------------------------- */
/* A grammar compiled up front (so its errors come before generation) and then shared read-only by
 * any number of generations: llama.cpp's GBNF language, or a JSON schema converted to GBNF. */
typedef struct lmc_grammar lmc_grammar;

/* Compiles GBNF text (len bytes) with start rule root (NULL: "root"). Errors: LMC_ERR_FORMAT (the
 * message names the line and column), LMC_ERR_UNSUPPORTED (left recursion, size limits). */
lmc_status lmc_grammar_init_gbnf(const char *text, size_t len, const char *root, lmc_grammar **out);
/* Compiles a JSON schema (JSON text of len bytes). Errors name the schema keyword and its path:
 * LMC_ERR_FORMAT (not JSON, a malformed schema), LMC_ERR_UNSUPPORTED (a keyword or feature the
 * converter does not handle: never a silently weaker grammar). */
lmc_status lmc_grammar_init_json_schema(const char *schema_json, size_t len, lmc_grammar **out);
/* The GBNF a JSON schema converts to (*gbnf malloc'ed, NUL-terminated; free() it). */
lmc_status lmc_json_schema_to_gbnf(const char *schema_json, size_t len, char **gbnf);
void lmc_grammar_free(lmc_grammar *g);

/* ---- generation ------------------------------------------------------------------------------ */
/* One generation core for every front end: an lmc_gen is bound to one sequence of a context and
 * owns what a generation needs besides the weights: the sampler, the streaming detokenizer, the
 * record of the tokens held in the sequence's KV cache (for prompt-prefix reuse), stop strings,
 * limits and timing. A generation is: lmc_gen_start(prompt) → steps → events with newly visible
 * text → a final event with the reason it ended.
 *
 * Two drivers share one step loop. Single sequence: lmc_gen_step decodes and samples (a prompt
 * chunk of the context's n_batch tokens, or one token) and returns an event. Many sequences in one
 * batch (a server): ask each lmc_gen for lmc_gen_pending tokens, decode them all in one
 * lmc_decode_batch, then give each its logits row with lmc_gen_commit. lmc_gen_step is exactly
 * pending + lmc_decode_batch + commit.
 *
 * Text: an event carries only complete UTF-8; end-of-generation tokens and stop strings are never
 * emitted, and text that could be the start of a stop string is held back until resolved.
 * Tokens are chosen in one place (gen_sample in src/generate.c): a grammar or JSON-schema
 * constraint joins the sampler chain there as its first link, set through lmc_gen_params. */
typedef struct lmc_gen lmc_gen;

/* A change to one token's logit before sampling (OpenAI's logit_bias): bias is added to the raw
 * logit; bias <= -100 removes the token (its logit becomes -INFINITY). */
typedef struct {
    int32_t token;
    float bias;
} lmc_logit_bias;

/* A token and its log-probability. */
typedef struct {
    int32_t token;
    float logprob;
} lmc_token_prob;

#define LMC_GEN_MAX_PROBS 100 /* most alternatives an event carries (lmc_gen_params.n_probs) */

typedef struct {
    lmc_sampler_params sampling;
    int32_t n_predict;       /* tokens to sample at most (an EOG one included); -1: no limit. At
                              * least one token is always sampled. */
    const char *const *stop; /* (n_stop) stop strings (copied; empty ones are ignored) */
    int32_t n_stop;
    bool accept_prompt; /* the penalties see the prompt tokens */
    bool keep_sampler;  /* keep the sampler (RNG stream, penalty history) of the previous
                         * generation, as a multi-turn chat does; the penalties then see only
                         * the prompt tokens decoded now. false: a fresh sampler from
                         * `sampling` (that sees the whole prompt when accept_prompt). */
    const lmc_logit_bias *logit_bias; /* (n_logit_bias) copied; a token may appear more than once
                                       * (the biases add up) */
    int32_t n_logit_bias;
    int32_t n_probs; /* > 0: every sampled token's event carries its log-probability and the
                      * n_probs most likely tokens (at most LMC_GEN_MAX_PROBS); 0: none.
                      * Log-probabilities are the log-softmax of the logits after logit_bias (and
                      * a constraint's mask), before penalties and temperature: the model's own
                      * distribution as the caller biased it, so the greedy token is the first
                      * alternative unless penalties moved it. */
    const lmc_grammar *grammar; /* NULL: unconstrained. Borrowed (must outlive the generation);
                                 * the generation keeps its own match state. Only tokens the
                                 * grammar allows are sampled, end-of-generation only where it can
                                 * end. */
} lmc_gen_params;

/* Default sampling, no limit, no stop strings, accept_prompt, a fresh sampler. */
lmc_gen_params lmc_gen_default_params(void);

typedef enum {
    LMC_GEN_END_NONE = 0,  /* still going */
    LMC_GEN_END_EOG,       /* the model produced an end-of-generation token */
    LMC_GEN_END_LENGTH,    /* n_predict tokens were sampled */
    LMC_GEN_END_STOP,      /* a stop string appeared (the text ends before it) */
    LMC_GEN_END_CONTEXT,   /* the sequence filled the context */
    LMC_GEN_END_CANCELLED, /* lmc_gen_abort(LMC_ERR_CANCELLED) */
    LMC_GEN_END_ERROR,     /* decode or sampling failed; lmc_last_error() says why */
} lmc_gen_end;

typedef enum {
    LMC_GEN_IDLE = 0,   /* no generation running: the next call is lmc_gen_start */
    LMC_GEN_PROMPT,     /* prompt tokens are pending */
    LMC_GEN_GENERATING, /* a sampled token is pending (its decode gives the next logits) */
} lmc_gen_state;

typedef struct {
    int32_t n_prompt;    /* tokens of the prompt */
    int32_t n_reused;    /* of them, already in the cache (not decoded again) */
    int32_t n_processed; /* of them, decoded so far */
    int32_t n_gen;       /* tokens sampled (an EOG one included) */
    double t_prompt;     /* seconds from lmc_gen_start to the end of the prompt */
    double t_first;      /* seconds from lmc_gen_start to the first sampled token (0: none yet) */
    double t_gen;        /* seconds from the first sampled token to the end (set at the end) */
} lmc_gen_stats;

typedef struct {
    const char *text; /* newly visible text (not NUL-terminated), valid until the next call on
                       * this lmc_gen; NULL when len is 0 */
    size_t len;
    int32_t token;               /* the token sampled in this step, -1 when none (a prompt chunk) */
    float logprob;               /* of token, when n_probs > 0 and token >= 0 (else 0) */
    const lmc_token_prob *probs; /* (n_probs) the most likely tokens, most likely first, when
                                  * n_probs > 0 and token >= 0 (else NULL, 0); valid until the
                                  * next call on this lmc_gen */
    int32_t n_probs;
    lmc_gen_end end; /* LMC_GEN_END_NONE while the generation goes on */
    lmc_gen_stats stats;
} lmc_gen_event;

/* Binds a generation core to sequence seq_id of ctx (which must outlive it). */
lmc_status lmc_gen_init(lmc_context *ctx, int32_t seq_id, lmc_gen **out);
void lmc_gen_free(lmc_gen *g);

/* How many leading tokens of prompt[0..n) the sequence's cache holds (a start reuses that many, but
 * at most n - 1: the last prompt token is always decoded again for its logits). For choosing among
 * several sequences; valid while no generation is running on g. */
int32_t lmc_gen_prefix(const lmc_gen *g, const int32_t *prompt, int32_t n);
/* Forgets the tokens held (the next start decodes its whole prompt). Sampler state is kept. */
void lmc_gen_forget(lmc_gen *g);
/* Tokens of the sequence held in its KV cache now (prompt and generated). */
int32_t lmc_gen_n_cached(const lmc_gen *g);

/* Starts a generation: keeps the longest prefix of prompt[0..n) the cache holds (the sequence is
 * truncated at the first differing position), resets the detokenizer and stop matching, and makes
 * or keeps the sampler (params->keep_sampler). A running generation is dropped without an event.
 * Errors: LMC_ERR_INVALID_ARG (empty prompt, bad sampler parameters), LMC_ERR_CONTEXT_FULL (n is
 * more than the context holds), LMC_ERR_OOM. */
lmc_status lmc_gen_start(lmc_gen *g, const int32_t *prompt, int32_t n,
                         const lmc_gen_params *params);

lmc_gen_state lmc_gen_get_state(const lmc_gen *g);
void lmc_gen_get_stats(const lmc_gen *g, lmc_gen_stats *out);

/* Single-sequence driver: decodes the next pending tokens (at most the context's n_batch) and
 * commits them. Returns the decode's status on failure (the generation then ends with
 * LMC_GEN_END_ERROR). To cancel, call lmc_gen_abort instead of the next step. */
lmc_status lmc_gen_step(lmc_gen *g, lmc_gen_event *ev);

/* Batched driver. Writes the tokens this sequence wants decoded next (at most max: a chunk of the
 * prompt, or its one sampled token) as token, position, sequence id and want-logits flag (seq and
 * want may be NULL), and returns their count (0 when idle or max < 1). The last one wants logits
 * when the prompt is complete with it, or always for a sampled token. */
int32_t lmc_gen_pending(lmc_gen *g, int32_t max, int32_t *tok, int32_t *pos, int32_t *seq,
                        int8_t *want);
/* After the caller decoded the first n_taken tokens of the last lmc_gen_pending: records them as
 * held in the cache and, given the logits row of the last one (required exactly when it wanted
 * logits), samples the next token: the sampler chain, text, stop strings, limits. Fills *ev. */
lmc_status lmc_gen_commit(lmc_gen *g, int32_t n_taken, const float *logits, lmc_gen_event *ev);
/* Ends the running generation and fills the final event. why = LMC_ERR_CANCELLED: the caller's
 * cancel (held-back text is flushed into ev, end LMC_GEN_END_CANCELLED). Any other status: the
 * pending tokens could not be decoded (the sequence is truncated to the tokens recorded, end
 * LMC_GEN_END_ERROR; lmc_last_error() is left as it was). */
lmc_status lmc_gen_abort(lmc_gen *g, lmc_status why, lmc_gen_event *ev);

/* ---- chat templates ---------------------------------------------------------------------------
 */
typedef struct {
    const char *role;
    const char *content;
} lmc_chat_msg;

/* Renders messages with a Jinja chat template. tmpl: NULL = the model's own (a GGUF without one
 * gets a built-in chosen by its vocabulary: llama3, mistral, gemma, else chatml); a built-in name;
 * or Jinja source. *out is malloc'ed (caller frees). A template error returns LMC_ERR_TEMPLATE with
 * its message. */
lmc_status lmc_chat_render(const lmc_model *model, const char *tmpl, const lmc_chat_msg *msgs,
                           size_t n_msgs, bool add_generation_prompt, char **out);
/* Template source of a built-in by name (chatml, gemma, llama2, llama3, mistral, zephyr), or
 * NULL. */
const char *lmc_chat_builtin(const char *name);
/* Makes every chat template render in progress, and every later one, fail within milliseconds with
 * LMC_ERR_TEMPLATE ("cancelled"): for a server shutting down while a template runs. Process-wide
 * and final. (Each render is also bounded on its own: steps, memory, output, 10 s.) */
void lmc_chat_render_cancel(void);

/* Renders Jinja template source tmpl over JSON: messages_json a JSON array of message objects
 * (passed to the template as-is, so tool calls and other fields reach it), extra_json NULL or a
 * JSON object whose keys become further template variables (tools, documents, ...);
 * bos_token/eos_token the text of those tokens (NULL: ""). *out is malloc'ed (caller frees).
 * LMC_ERR_INVALID_ARG when the JSON is malformed or of the wrong kind, LMC_ERR_TEMPLATE with the
 * template's error. */
lmc_status lmc_chat_render_json(const char *tmpl, const char *messages_json, const char *extra_json,
                                bool add_generation_prompt, const char *bos_token,
                                const char *eos_token, char **out);

/* The template lmc_chat_render uses for the model when given none: the GGUF's own, else the
 * built-in chosen by its vocabulary (never NULL for a model). */
const char *lmc_chat_template_source(const lmc_model *model);

/* ---- tool calls (OpenAI's "tools") ------------------------------------------------------------
 * How a model writes a tool call, recognised from its chat template. One table (src/tool_call.c)
 * gives each syntax its detector, its parser and the grammar that makes a call parse:
 *   HERMES   <tool_call>{"name": N, "arguments": {...}}</tool_call> (Hermes 2/3, Qwen 2.5/3);
 *   LLAMA3   {"name": N, "parameters": {...}}, optionally after <|python_tag|>, several joined
 *            by ';' (Llama 3.1-3.3);
 *   MISTRAL  [TOOL_CALLS][{"name": N, "arguments": {...}}, ...] (Mistral Nemo and later);
 *   GENERIC  a reply that is only {"name": N, "arguments": {...}} (or an array of them, or
 *            {"tool_calls": [...]}), optionally in a ```json fence: templates without their own
 *            syntax. Templates without tool support are also told the tools and this shape in a
 *            system-prompt block (lmc_tool_fallback_prompt). */
typedef enum {
    LMC_TOOL_SYNTAX_GENERIC = 0,
    LMC_TOOL_SYNTAX_HERMES = 1,
    LMC_TOOL_SYNTAX_LLAMA3 = 2,
    LMC_TOOL_SYNTAX_MISTRAL = 3,
} lmc_tool_syntax;

/* The syntax a chat template's model uses (GENERIC when none is recognised or tmpl is NULL). */
lmc_tool_syntax lmc_tool_syntax_detect(const char *tmpl);
/* "generic", "hermes", "llama3", "mistral". */
const char *lmc_tool_syntax_name(lmc_tool_syntax syn);
/* True when the template renders a `tools` variable (so tools go to it, not to a fallback block).
 */
bool lmc_tool_template_takes_tools(const char *tmpl);

/* One parsed call: the function's name and its arguments as compact JSON object text. */
typedef struct {
    char *name;
    char *arguments;
} lmc_tool_call;

/* Parses a model's reply text[0..len) in syntax syn. *calls (malloc'ed, *n_calls entries; NULL and
 * 0 when the reply holds no well-formed call) and *content (malloc'ed, NUL-terminated): the text
 * outside the calls (its pieces joined by a newline), with the whitespace before each call and at
 * the end removed. A call whose JSON
 * is truncated or malformed is not a call: its text stays in the content. Errors: LMC_ERR_OOM,
 * LMC_ERR_INVALID_ARG. */
lmc_status lmc_tool_calls_parse(lmc_tool_syntax syn, const char *text, size_t len,
                                lmc_tool_call **calls, int32_t *n_calls, char **content);
void lmc_tool_calls_free(lmc_tool_call *calls, int32_t n_calls);
/* While a reply streams: how many leading bytes of text[0..len) are surely content (no call starts
 * in them, whatever follows), so a server can send them at once and hold back the rest. Never
 * more than the content lmc_tool_calls_parse gives for the whole reply starts with. */
size_t lmc_tool_content_prefix(lmc_tool_syntax syn, const char *text, size_t len);

/* The GBNF of replies that are tool calls in syntax syn: tools_json is OpenAI's "tools" array;
 * only NULL (any of the functions) or the name of the one to call; parallel: up to 4 calls
 * (GENERIC and LLAMA3: always one). Each call's arguments follow its function's "parameters"
 * schema (lmc_json_schema_to_gbnf; a function without one takes {}). *gbnf is malloc'ed; its start
 * rule is LMC_TOOL_GRAMMAR_ROOT. Errors: LMC_ERR_FORMAT (tools malformed), LMC_ERR_UNSUPPORTED (a
 * schema the converter cannot take, or $defs of two functions that clash), LMC_ERR_INVALID_ARG
 * (only names no function). */
#define LMC_TOOL_GRAMMAR_ROOT "tool-calls"
lmc_status lmc_tool_grammar_gbnf(lmc_tool_syntax syn, const char *tools_json, const char *only,
                                 bool parallel, char **gbnf);
/* The same, compiled. */
lmc_status lmc_tool_grammar_init(lmc_tool_syntax syn, const char *tools_json, const char *only,
                                 bool parallel, lmc_grammar **out);
/* The system-prompt block that tells a model whose template has no tool support about the tools
 * (names, descriptions, parameter schemas) and the GENERIC reply shape; required: it must call
 * one; only: it must call that one. *out malloc'ed. */
lmc_status lmc_tool_fallback_prompt(const char *tools_json, bool required, const char *only,
                                    char **out);

/* ---- quantization ---------------------------------------------------------------------------- */
/* Writes a quantized copy of a GGUF model, as llama-quantize does (the same per-tensor types and,
 * without an importance matrix, the same bytes). File types are llama.cpp's llama_ftype numbers
 * (general.file_type): */
typedef enum {
    LMC_FTYPE_ALL_F32 = 0,
    LMC_FTYPE_F16 = 1,
    LMC_FTYPE_Q4_0 = 2,
    LMC_FTYPE_Q4_1 = 3,
    LMC_FTYPE_Q8_0 = 7,
    LMC_FTYPE_Q5_0 = 8,
    LMC_FTYPE_Q5_1 = 9,
    LMC_FTYPE_Q2_K = 10,
    LMC_FTYPE_Q3_K_S = 11,
    LMC_FTYPE_Q3_K_M = 12,
    LMC_FTYPE_Q3_K_L = 13,
    LMC_FTYPE_Q4_K_S = 14,
    LMC_FTYPE_Q4_K_M = 15,
    LMC_FTYPE_Q5_K_S = 16,
    LMC_FTYPE_Q5_K_M = 17,
    LMC_FTYPE_Q6_K = 18,
    LMC_FTYPE_BF16 = 32,
} lmc_ftype;

/* What the progress callback is told, once per tensor after it is written. */
typedef struct {
    int32_t index, count; /* 1-based tensor index, tensors in the file */
    const char *name;     /* NUL-terminated */
    int64_t ne[4];        /* shape (ne[0] contiguous) */
    uint32_t n_dims;
    uint32_t type_in, type_out; /* ggml type ids */
    uint64_t bytes_in, bytes_out;
    double seconds; /* spent on this tensor */
} lmc_quantize_tensor_info;

typedef struct {
    int32_t ftype;                /* lmc_ftype */
    int32_t n_threads;            /* 0 = number of cores */
    int32_t output_tensor_type;   /* ggml type id for output.weight, -1 = the mix's choice */
    int32_t token_embedding_type; /* ggml type id for token_embd.weight, -1 = the mix's choice */
    bool allow_requantize;        /* accept quantized input tensors (dequantized first) */
    bool pure;                    /* every quantizable tensor gets the default type (no mix) */
    bool force;                   /* overwrite an existing output file */
    void (*progress)(const lmc_quantize_tensor_info *info, void *user);
    void *progress_user;
    const volatile int *cancel; /* NULL, or set nonzero (e.g. from a signal handler) to stop */
} lmc_quantize_params;

lmc_quantize_params lmc_quantize_default_params(void); /* Q8_0, as llama.cpp's */
/* Reads in, writes out through a temporary file renamed at the end (an error or an interruption
 * never leaves a partial file under the output name). Memory: about one tensor in f32 plus its
 * quantized copy. Errors: LMC_ERR_IO, LMC_ERR_FORMAT (input), LMC_ERR_INVALID_ARG (an output that
 * exists without force, an unknown ftype or type), LMC_ERR_UNSUPPORTED (a quantized input without
 * allow_requantize, an input type lmc cannot dequantize). */
lmc_status lmc_quantize(const char *in, const char *out, const lmc_quantize_params *params);
/* "Q4_K_M" (any case) to its file type; -1 when unknown. */
int32_t lmc_ftype_from_name(const char *name);
const char *lmc_ftype_name(int32_t ftype); /* NULL when unknown */
/* A ggml type name ("q8_0", "F16", any case) to its id, -1 when unknown (lmc_tensor_type_name is
 * the way back). */
int32_t lmc_type_from_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
