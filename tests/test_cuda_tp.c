/* test_cuda_tp.c — tensor parallelism (issue 19, -sm row) on the GPUs this machine has; a case
 * needing more GPUs than present is skipped and says so. (1) The communicators over N = 1, 2, 4
 * ranks, one thread each: the device communicator (src/cuda/comm_device.cu) with every rank on GPU
 * 0 and with rank r on GPU r, and NCCL (src/cuda/comm_nccl.cu, when built with it; rank r on GPU
 * r, one unique id): all-reduce, all-gather and barrier against the host's sums. (2) One GPU
 * through the split flags: -sm row -tp 1 and -sm layer -ts 1 give the default context's logits
 * bit for bit (the same path). (3) The tensor-parallel forward (backend_tp.c, cuda_tp.cu) over
 * N = 2 and 4 ranks (as the model's KV heads allow) against the one-GPU forward, every logits row
 * of a 20-token prompt (GEMM path) and 3 decode steps, and of two sequences batched (12 + 6 prompt
 * tokens, then one token each): first with all N ranks on GPU 0 (LMC_SPLIT_ONE_GPU=1, the device
 * communicator; runs on any one GPU), then with rank r on GPU r (NCCL where built) where N GPUs
 * are present. (4) The layer split, -sm layer -ts 1,1 / 1,3 / 1,1,1,1, the one-sequence workload
 * the same ways (two sequences must be refused), and -mg 1 (the one-GPU forward on GPU 1) where 2
 * GPUs are present. Every row's NMSE within the CUDA suites' bound for
 * the path that made it (row_bound) and the same argmax in every row; all of it twice, decode on
 * 8-bit activations (the default) and on f32 (LMC_CUDA_Q8=0). Models: stories260K (F32, 4 KV
 * heads: N = 2, 4) and synthetic-A in eight weight types (2 KV heads: N = 2), from ../shared.
 * (5) The families' models (tests/data/families: qwen2, qwen3, gemma2, gemma3, phi3, phi4-mini):
 * -sm row -tp 2 refused naming the architecture, -sm row -tp 1 / -sm layer -ts 1 bit for bit and
 * -sm layer -ts 1,1 / 1,3 against the one-GPU logits (one sequence). (6) With f16 KV caches
 * (-ctk/-ctv f16, every context of the comparison): (3) and (4) on stories260K and synthetic-A
 * Q4_K_M, decode on f32 activations. */
#include "lmc.h"
#include "testutil.h"
#include "util.h"

#include <math.h>
#include <string.h>

#ifdef LMC_WITH_CUDA
#include "cuda/comm_device.h"
#include <cuda_runtime.h>
#include <pthread.h>
#include <stdlib.h>
#endif
#ifdef LMC_WITH_NCCL
#include "cuda/comm_nccl.h"
#endif

enum { N_PROMPT = 20, N_STEPS = 3, COUNT = 1000 };

static int n_skipped;

#ifdef LMC_WITH_CUDA
/* One run of a communicator over n ranks, one thread each: NCCL (rank r on GPU r, one unique id)
 * or the device communicator (rank r on GPU gpu[r]). */
typedef struct {
    bool nccl;
    unsigned char id[128];
    comm_device_group *group;
    int n_rank, gpu[4];
    float got[4][COUNT + 4 * 8]; /* each rank's all-reduced COUNT floats, then 8 gathered a rank */
    char err[4][256];
    lmc_status st[4];
} comm_job;

typedef struct {
    comm_job *j;
    int rank;
} comm_arg;

static lmc_status comm_make(comm_job *j, int r, cudaStream_t stream, lmc_comm **c) {
#ifdef LMC_WITH_NCCL
    if (j->nccl) return comm_nccl_init_rank(j->id, j->n_rank, r, j->gpu[r], stream, c);
#endif
    return comm_device_rank(j->group, r, j->gpu[r], stream, c);
}

static void comm_drop(comm_job *j, lmc_comm *c) {
#ifdef LMC_WITH_NCCL
    if (j->nccl) {
        comm_nccl_free(c);
        return;
    }
#endif
    comm_device_free(c);
    (void)j;
}

static lmc_status comm_rank_run(comm_job *j, int r) {
    cudaStream_t stream;
    if (cudaSetDevice(j->gpu[r]) != cudaSuccess || cudaStreamCreate(&stream) != cudaSuccess)
        return lmc_err(LMC_ERR_BACKEND, "GPU %d: no stream", j->gpu[r]);
    lmc_comm *c = NULL;
    lmc_status st = comm_make(j, r, stream, &c);
    if (st != LMC_OK) return st;
    float host[COUNT], *dbuf = NULL, *dsend = NULL, *drecv = NULL;
    for (int i = 0; i < COUNT; i++)
        host[i] = (float)((r + 1) * (i % 97));
    float send[8];
    for (int i = 0; i < 8; i++)
        send[i] = (float)(100 * r + i);
    if (cudaMalloc((void **)&dbuf, sizeof host) != cudaSuccess ||
        cudaMalloc((void **)&dsend, sizeof send) != cudaSuccess ||
        cudaMalloc((void **)&drecv, sizeof send * (size_t)j->n_rank) != cudaSuccess)
        st = LMC_ERR_OOM;
    if (st == LMC_OK) { /* a failed rank still makes every call, so the others do not wait */
        cudaMemcpy(dbuf, host, sizeof host, cudaMemcpyHostToDevice);
        cudaMemcpy(dsend, send, sizeof send, cudaMemcpyHostToDevice);
    }
    lmc_status s1 = c->all_reduce_sum(c, dbuf, COUNT);
    lmc_status s2 = c->all_gather(c, dsend, 8, drecv);
    lmc_status s3 = c->barrier(c);
    if (st == LMC_OK) st = s1 != LMC_OK ? s1 : s2 != LMC_OK ? s2 : s3;
    if (st == LMC_OK) {
        cudaStreamSynchronize(stream);
        cudaMemcpy(j->got[r], dbuf, sizeof host, cudaMemcpyDeviceToHost);
        cudaMemcpy(j->got[r] + COUNT, drecv, sizeof send * (size_t)j->n_rank,
                   cudaMemcpyDeviceToHost);
    }
    cudaFree(dbuf);
    cudaFree(dsend);
    cudaFree(drecv);
    comm_drop(j, c);
    cudaStreamDestroy(stream);
    return st;
}

static void *comm_thread(void *arg) {
    comm_arg *a = arg;
    a->j->st[a->rank] = comm_rank_run(a->j, a->rank);
    if (a->j->st[a->rank] != LMC_OK)
        snprintf(a->j->err[a->rank], sizeof a->j->err[a->rank], "%s", lmc_last_error());
    return NULL;
}

/* all-reduce, all-gather and barrier over n ranks against the host's sums (small integers: exact
 * in any order). nccl: rank r on GPU r; else the device communicator, every rank on GPU 0
 * (one_gpu) or rank r on GPU r. */
static void test_comm(int n, int present, bool nccl, bool one_gpu) {
    const char *name = nccl      ? "NCCL"
                       : one_gpu ? "device communicator on one GPU"
                                 : "device communicator over GPUs";
    if (!one_gpu && n > present) {
        printf("%s over %d ranks: %d GPU(s) present, skipped\n", name, n, present);
        n_skipped++;
        return;
    }
    static comm_job j;
    memset(&j, 0, sizeof j);
    j.n_rank = n;
    j.nccl = nccl;
    for (int r = 0; r < n; r++)
        j.gpu[r] = one_gpu ? 0 : r;
#ifdef LMC_WITH_NCCL
    if (nccl) {
        lmc_status st = comm_nccl_unique_id(j.id);
        CHECK(st == LMC_OK, "NCCL unique id: %s", lmc_last_error());
        if (st != LMC_OK) return;
        const char *nvls = getenv("NCCL_NVLS_ENABLE");
        CHECK(nvls && !strcmp(nvls, "0"), "NCCL_NVLS_ENABLE is '%s', not 0",
              nvls ? nvls : "(unset)");
    }
#endif
    if (!nccl) j.group = comm_device_group_new(n);
    pthread_t th[4];
    comm_arg args[4];
    for (int r = 0; r < n; r++) {
        args[r] = (comm_arg){&j, r};
        pthread_create(&th[r], NULL, comm_thread, &args[r]);
    }
    for (int r = 0; r < n; r++)
        pthread_join(th[r], NULL);
    comm_device_group_free(j.group);
    int bad = 0;
    for (int r = 0; r < n; r++) {
        CHECK(j.st[r] == LMC_OK, "%s %d ranks, rank %d: %s", name, n, r, j.err[r]);
        if (j.st[r] != LMC_OK) continue;
        for (int i = 0; i < COUNT; i++) /* sum over ranks k of (k+1)*(i%97) */
            bad += j.got[r][i] != (float)(n * (n + 1) / 2 * (i % 97));
        for (int k = 0; k < n; k++)
            for (int i = 0; i < 8; i++)
                bad += j.got[r][COUNT + 8 * k + i] != (float)(100 * k + i);
    }
    CHECK(bad == 0, "%s over %d ranks: %d values differ from the host's", name, n, bad);
    printf("%s over %d ranks: all-reduce of %d floats and all-gather checked on every rank\n", name,
           n, COUNT);
}
#endif

#ifdef LMC_WITH_CUDA
/* The logits one context gives for a fixed workload, every row: one sequence (n_seq 1) runs a
 * prompt of N_PROMPT tokens (the GEMM path) and then N_STEPS single-token decode steps (the decode
 * path; one GPU replays its graph); two sequences (n_seq 2) run a batch of 12 + 6 prompt tokens
 * with every row wanted (the batched GEMM / tensor-core step) and then one token each (the batched
 * mat-vec step). False when the context is refused (its message printed). */
static lmc_kv_type g_kv = LMC_KV_F32; /* the KV cache type of every context of a pass */

static bool run_case(lmc_model *m, lmc_context_params p, bool batch, float *out, int *rows,
                     const char *what) {
    p.n_ctx = 64;
    p.type_k = p.type_v = g_kv;
    p.n_seq = batch ? 2 : 1;
    p.device = LMC_DEVICE_CUDA;
    lmc_context *ctx = NULL;
    lmc_status st = lmc_context_init(m, &p, &ctx);
    if (st != LMC_OK) {
        printf("  %s: context refused: %s\n", what, lmc_last_error());
        return false;
    }
    const int nv = lmc_model_n_vocab(m);
    const float *lg = NULL;
    int32_t tok[N_PROMPT], pos[N_PROMPT], seq[N_PROMPT];
    int8_t want[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++)
        tok[i] = (int32_t)((i * 37 + 1) % nv);
    *rows = 0;
    if (!batch) {
        st = lmc_decode(ctx, tok, N_PROMPT, 0, &lg);
        for (int k = 0; st == LMC_OK; k++) {
            memcpy(out + (size_t)(*rows)++ * nv, lg, (size_t)nv * sizeof(float));
            if (k == N_STEPS) break;
            const int32_t t = (int32_t)((k * 53 + 7) % nv);
            st = lmc_decode(ctx, &t, 1, N_PROMPT + k, &lg);
        }
    } else {
        for (int i = 0; i < 18; i++) { /* sequence 0: positions 0..11, sequence 1: 0..5 */
            seq[i] = i < 12 ? 0 : 1;
            pos[i] = i < 12 ? i : i - 12;
            want[i] = 1;
        }
        lmc_batch b = {
            .n_tokens = 18, .token = tok, .pos = pos, .seq_id = seq, .want_logits = want};
        st = lmc_decode_batch(ctx, &b, &lg);
        if (st == LMC_OK) {
            memcpy(out, lg, (size_t)18 * nv * sizeof(float));
            *rows = 18;
            const int32_t t2[2] = {5, 9}, p2[2] = {12, 6}, s2[2] = {0, 1};
            lmc_batch b2 = {
                .n_tokens = 2, .token = t2, .pos = p2, .seq_id = s2, .want_logits = want};
            st = lmc_decode_batch(ctx, &b2, &lg);
            if (st == LMC_OK) memcpy(out + (size_t)18 * nv, lg, (size_t)2 * nv * sizeof(float));
            *rows += 2;
        }
    }
    CHECK(st == LMC_OK, "%s: decode: %s", what, lmc_last_error());
    lmc_context_free(ctx);
    return st == LMC_OK;
}

/* The pass: decode mat-vecs on 8-bit activations (the default) or on f32 (LMC_CUDA_Q8=0). */
static bool g_q8;

/* The CUDA suites' bound (test_cuda_model: NMSE vs the exact forward) for the path that made row r
 * of a case: the prompt GEMMs and the batched step's tensor-core / GEMM products (f16 operands)
 * 1e-4, decode mat-vecs on 8-bit activations 2e-3, on f32 (and the batched mat-vecs) 1e-6. Both
 * sides compute the same products, so the real gap is far smaller; a broken cut or schedule gives
 * NMSE near 1. */
static double row_bound(bool batch, int r) {
    if (batch) return r < 18 ? 1e-4 : getenv("LMC_CUDA_BATCH_Q8") ? 2e-3 : 1e-6;
    return r == 0 ? 1e-4 : g_q8 ? 2e-3 : 1e-6;
}

/* got against one (rows of nv): every row's NMSE within its path's bound and the same argmax. */
static void compare(const char *rel, const char *what, bool batch, const float *got,
                    const float *one, int rows, int nv) {
    double worst = 0, worst_exact = 0;
    int same = 0, bad = 0;
    for (int r = 0; r < rows; r++) {
        const double e = t_nmse_f(got + (size_t)r * nv, one + (size_t)r * nv, nv),
                     b = row_bound(batch, r);
        worst = e > worst ? e : worst;
        if (b <= 1e-6 && e > worst_exact) worst_exact = e;
        bad += e > b;
        same += t_argmax(got + (size_t)r * nv, nv) == t_argmax(one + (size_t)r * nv, nv);
    }
    printf("%s: %s%s: %d rows, worst NMSE vs one GPU %.3g (f32 paths %.3g), argmax equal in %d\n",
           rel, what, g_q8 ? "" : " (LMC_CUDA_Q8=0)", rows, worst, worst_exact, same);
    CHECK(bad == 0, "%s: %s: %d rows beyond their path's NMSE bound (worst %g)", rel, what, bad,
          worst);
    CHECK(same == rows, "%s: %s: argmax differs in %d of %d rows", rel, what, rows - same, rows);
}

/* -sm row over n ranks: every rank on GPU 0 (one_gpu: LMC_SPLIT_ONE_GPU, the device communicator),
 * or rank r on GPU r (NCCL when built with it). */
static void test_tp(lmc_model *m, const char *rel, int n, bool one_gpu, const float *one_s,
                    const float *one_b, float *got) {
    const int nv = lmc_model_n_vocab(m);
    lmc_context_params p = lmc_context_default_params();
    p.split_mode = LMC_SPLIT_ROW;
    p.n_tensor_parallel = n;
    if (one_gpu) setenv("LMC_SPLIT_ONE_GPU", "1", 1);
    for (int batch = 0; batch < 2; batch++) {
        char what[96];
        snprintf(what, sizeof what, "-sm row -tp %d %s, %s", n,
                 one_gpu ? "on one GPU" : "over GPUs", batch ? "2 sequences" : "1 sequence");
        int rows = 0;
        const bool ran = run_case(m, p, batch, got, &rows, what);
        CHECK(ran, "%s: %s must run", rel, what);
        if (ran) compare(rel, what, batch, got, batch ? one_b : one_s, rows, nv);
    }
    unsetenv("LMC_SPLIT_ONE_GPU");
}

/* -sm layer -ts shares (n_dev of them): ranges of layers, the residual handed on; every range on
 * GPU 0 (one_gpu) or range d on GPU d. One sequence; two are refused. */
static void test_layer(lmc_model *m, const char *rel, const float *shares, int n_dev, bool one_gpu,
                       const float *one_s, float *got) {
    const int nv = lmc_model_n_vocab(m);
    lmc_context_params p = lmc_context_default_params();
    p.split_mode = LMC_SPLIT_LAYER;
    char what[96];
    int len = snprintf(what, sizeof what, "-sm layer -ts ");
    for (int d = 0; d < n_dev; d++) {
        p.tensor_split[d] = shares[d];
        len += snprintf(what + len, sizeof what - (size_t)len, "%s%g", d ? "," : "",
                        (double)shares[d]);
    }
    snprintf(what + len, sizeof what - (size_t)len, " %s", one_gpu ? "on one GPU" : "over GPUs");
    if (one_gpu) setenv("LMC_SPLIT_ONE_GPU", "1", 1);
    int rows = 0;
    const bool ran = run_case(m, p, false, got, &rows, what);
    CHECK(ran, "%s: %s must run", rel, what);
    if (ran) compare(rel, what, false, got, one_s, rows, nv);
    lmc_context *ctx = NULL;
    p.n_seq = 2;
    p.n_ctx = 64;
    p.device = LMC_DEVICE_CUDA;
    lmc_status st = lmc_context_init(m, &p, &ctx);
    CHECK(st == LMC_ERR_UNSUPPORTED && strstr(lmc_last_error(), "one sequence"),
          "%s: %s with 2 sequences: status %d '%s'", rel, what, st, lmc_last_error());
    lmc_context_free(ctx);
    unsetenv("LMC_SPLIT_ONE_GPU");
}

/* One GPU through the split flags: -sm row -tp 1 and -sm layer -ts 1 are the one-GPU path and
 * give its bits. */
static void test_flags_one_gpu(lmc_model *m, const char *rel, const float *one_s, int rows_s,
                               float *got) {
    const int nv = lmc_model_n_vocab(m);
    lmc_context_params p = lmc_context_default_params();
    p.split_mode = LMC_SPLIT_ROW;
    p.n_tensor_parallel = 1;
    int rows = 0;
    if (run_case(m, p, false, got, &rows, "-sm row -tp 1"))
        CHECK(rows == rows_s && !memcmp(got, one_s, (size_t)rows * nv * 4),
              "%s: -sm row -tp 1 differs from one GPU", rel);
    else
        CHECK(false, "%s: -sm row -tp 1 must run on one GPU", rel);
    p = lmc_context_default_params();
    p.split_mode = LMC_SPLIT_LAYER;
    p.tensor_split[0] = 1;
    if (run_case(m, p, false, got, &rows, "-sm layer -ts 1"))
        CHECK(rows == rows_s && !memcmp(got, one_s, (size_t)rows * nv * 4),
              "%s: -sm layer -ts 1 differs from one GPU", rel);
    else
        CHECK(false, "%s: -sm layer -ts 1 must run on one GPU", rel);
    printf("%s: -sm row -tp 1 and -sm layer -ts 1 checked against one GPU\n", rel);
}

/* max_n: the most ranks the model's KV heads allow (each a power of two here). */
static void test_model(const char *rel, int present, int max_n) {
    lmc_model *m = t_load_model_or_skip(t_shared(rel));
    if (!m) return;
    const int nv = lmc_model_n_vocab(m);
    const size_t cap = (size_t)20 * nv; /* the most rows a case returns */
    float *one_s = malloc(cap * 4), *one_b = malloc(cap * 4), *got = malloc(cap * 4);
    lmc_context_params base = lmc_context_default_params();
    int rows_s = 0, rows_b = 0;
    if (!one_s || !one_b || !got || !run_case(m, base, false, one_s, &rows_s, "one GPU") ||
        !run_case(m, base, true, one_b, &rows_b, "one GPU, 2 sequences")) {
        CHECK(false, "%s: the one-GPU context must run", rel);
        goto done;
    }
    if (g_q8) test_flags_one_gpu(m, rel, one_s, rows_s, got);
    if (g_q8 && present >= 2) { /* -mg 1: the one-GPU forward on GPU 1 */
        lmc_context_params p = lmc_context_default_params();
        p.main_gpu = 1;
        int rows = 0;
        const bool ran = run_case(m, p, false, got, &rows, "-mg 1");
        CHECK(ran, "%s: -mg 1 must run on a host with 2 GPUs", rel);
        if (ran) compare(rel, "-mg 1", false, got, one_s, rows, nv);
    }
    for (int n = 2; n <= max_n; n *= 2) {
        test_tp(m, rel, n, true, one_s, one_b, got); /* N ranks sharing GPU 0 */
        if (n > present) {
            printf("%s: -sm row over %d GPUs: %d present, skipped\n", rel, n, present);
            n_skipped++;
            continue;
        }
        test_tp(m, rel, n, false, one_s, one_b, got); /* rank r on GPU r */
    }
    static const float ts[][4] = {{1, 1}, {1, 3}, {1, 1, 1, 1}};
    static const int ts_n[] = {2, 2, 4};
    for (int k = 0; k < 3; k++) {
        test_layer(m, rel, ts[k], ts_n[k], true, one_s, got);
        if (ts_n[k] <= present)
            test_layer(m, rel, ts[k], ts_n[k], false, one_s, got);
        else
            n_skipped++;
    }
done:
    free(one_s);
    free(one_b);
    free(got);
    lmc_model_free(m);
}

/* A family's model (tests/data/families: biases, q/k norms, post-norms, soft-caps, windows, fused
 * matrices): -sm row over 2 ranks is refused, naming the architecture (the cut is the llama
 * block's; never a wrong slice run silently), even with both ranks on GPU 0; the one-GPU flags and
 * the layer split (every range runs the one-GPU forward of its layers, the residual handed on) give
 * the one-GPU logits. */
static void test_family(const char *name, int present) {
    char path[1024];
    const char *src = getenv("LMC_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/data/families/%s.gguf", src ? src : ".", name);
    lmc_model *m = t_load_model_or_skip(path);
    if (!m) return;
    const int nv = lmc_model_n_vocab(m);
    const size_t cap = (size_t)20 * nv;
    float *one_s = malloc(cap * 4), *got = malloc(cap * 4);
    int rows_s = 0;
    if (!one_s || !got ||
        !run_case(m, lmc_context_default_params(), false, one_s, &rows_s, "one GPU")) {
        CHECK(false, "%s: the one-GPU context must run", name);
        goto done;
    }
    setenv("LMC_SPLIT_ONE_GPU", "1", 1);
    lmc_context_params p = lmc_context_default_params();
    p.split_mode = LMC_SPLIT_ROW;
    p.n_tensor_parallel = 2;
    p.n_ctx = 64;
    p.device = LMC_DEVICE_CUDA;
    const char *arch = lmc_model_meta_str(m, "general.architecture");
    lmc_context *ctx = NULL;
    lmc_status st = lmc_context_init(m, &p, &ctx);
    CHECK(st == LMC_ERR_UNSUPPORTED && !ctx && strstr(lmc_last_error(), "supports llama/mistral") &&
              arch && strstr(lmc_last_error(), arch),
          "%s: -sm row -tp 2 must be refused naming the architecture: status %d '%s'", name, st,
          lmc_last_error());
    lmc_context_free(ctx);
    unsetenv("LMC_SPLIT_ONE_GPU");
    printf("%s: -sm row -tp 2 refused: %s\n", name, lmc_last_error());
    if (g_q8) test_flags_one_gpu(m, name, one_s, rows_s, got);
    static const float ts[][2] = {{1, 1}, {1, 3}};
    for (int k = 0; k < 2; k++) {
        test_layer(m, name, ts[k], 2, true, one_s, got);
        if (present >= 2)
            test_layer(m, name, ts[k], 2, false, one_s, got);
        else
            n_skipped++;
    }
done:
    free(one_s);
    free(got);
    lmc_model_free(m);
}
#endif

int main(void) {
    const int present = lmc_device_count(LMC_DEVICE_CUDA);
    if (present <= 0) {
        printf("no GPU (%s), skipped\n",
               present < 0 ? "no CUDA backend in this build" : "none found");
        return 77;
    }
#ifdef LMC_WITH_CUDA
    for (int n = 1; n <= 4; n *= 2) {
        test_comm(n, present, false, true);
        test_comm(n, present, false, false);
#ifdef LMC_WITH_NCCL
        test_comm(n, present, true, false);
#endif
    }
#ifndef LMC_WITH_NCCL
    printf("NCCL: not in this build (CMake did not find it), its cases skipped\n");
#endif
    t_require_shared();
    static const char *types[] = {"F16",    "BF16", "Q8_0",   "Q4_0",
                                  "Q4_K_M", "Q6_K", "Q5_K_M", "Q2_K"};
    for (int pass = 0; pass < 2; pass++) { /* decode on 8-bit activations, then on f32 */
        g_q8 = pass == 0;
        if (!g_q8) setenv("LMC_CUDA_Q8", "0", 1);
        test_model("models/stories260K.gguf", present, 4);          /* F32, 4 KV heads */
        for (size_t i = 0; i < sizeof types / sizeof *types; i++) { /* 2 KV heads */
            char rel[96];
            snprintf(rel, sizeof rel, "models/synthetic/synthetic-A-%s.gguf", types[i]);
            test_model(rel, present, 2);
        }
        static const char *fam[] = {"qwen2-gqa-tied-Q8_0", "qwen3-k-hd128-Q4_K_M",
                                    "gemma2-k-Q4_K_M",     "gemma3-k-hd256-Q4_K_M",
                                    "phi3-gqa-k-Q4_K_M",   "phi4mini-partial-rope-Q4_K_M"};
        for (size_t i = 0; i < sizeof fam / sizeof *fam; i++)
            test_family(fam[i], present);
    }
    /* f16 KV caches, decode on f32 activations (LMC_CUDA_Q8=0 still set) */
    g_kv = LMC_KV_F16;
    printf("== f16 KV cache\n");
    test_model("models/stories260K.gguf", present, 4);
    test_model("models/synthetic/synthetic-A-Q4_K_M.gguf", present, 2);
    g_kv = LMC_KV_F32;
    unsetenv("LMC_CUDA_Q8");
#endif
    printf("%d case(s) skipped for want of GPUs\n", n_skipped);
    return t_done();
}
