/* test_cuda_tp.c — several GPUs (issue 19) on the GPUs this machine has; every case needing more
 * GPUs than present is skipped and says so. (1) The NCCL communicator (src/cuda/comm_nccl.cu) over
 * N = 1, 2, 4 ranks, one thread per GPU bootstrapped through one unique id: all-reduce, all-gather
 * and barrier against the sums computed on the host (small integers: exact in any order). (2) One
 * GPU through the split path: -sm row with one rank and -sm layer with every layer on GPU 0 give
 * the same logits, bit for bit, as the default single-GPU context (they are the same path). (3)
 * -sm row over N = 2 (synthetic-A: 2 KV heads) and 4 (stories260K) GPUs against the one-GPU logits
 * (NMSE <= 1e-6, the CUDA suites' exact tolerance): the acceptance test of the multi-GPU forward.
 * Until that forward exists the context is refused as not implemented and this case FAILS on a host
 * with 2+ GPUs, on purpose; it skips elsewhere. synthetic-A and stories260K from ../shared. */
#include "lmc.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

#ifdef LMC_WITH_NCCL
#include "cuda/comm_nccl.h"
#include <cuda_runtime.h>
#include <pthread.h>
#endif

enum { N_PROMPT = 8, COUNT = 1000 };

static int n_skipped;

#ifdef LMC_WITH_NCCL
typedef struct {
    unsigned char id[COMM_NCCL_ID_BYTES];
    int n_rank;
    float got[4][COUNT + 4 * 8]; /* each rank's all-reduced COUNT floats, then 8 gathered a rank */
    char err[4][256];
    lmc_status st[4];
} nccl_job;

typedef struct {
    nccl_job *j;
    int rank;
} nccl_arg;

static lmc_status nccl_rank_run(nccl_job *j, int r) {
    cudaStream_t stream;
    if (cudaSetDevice(r) != cudaSuccess || cudaStreamCreate(&stream) != cudaSuccess)
        return LMC_ERR_BACKEND;
    lmc_comm *c = NULL;
    lmc_status st = comm_nccl_init_rank(j->id, j->n_rank, r, r, stream, &c);
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
    if (st == LMC_OK) {
        cudaMemcpy(dbuf, host, sizeof host, cudaMemcpyHostToDevice);
        cudaMemcpy(dsend, send, sizeof send, cudaMemcpyHostToDevice);
        st = c->all_reduce_sum(c, dbuf, COUNT);
        if (st == LMC_OK) st = c->all_gather(c, dsend, 8, drecv);
        if (st == LMC_OK) st = c->barrier(c);
        cudaMemcpy(j->got[r], dbuf, sizeof host, cudaMemcpyDeviceToHost);
        cudaMemcpy(j->got[r] + COUNT, drecv, sizeof send * (size_t)j->n_rank,
                   cudaMemcpyDeviceToHost);
    }
    cudaFree(dbuf);
    cudaFree(dsend);
    cudaFree(drecv);
    comm_nccl_free(c);
    cudaStreamDestroy(stream);
    return st;
}

static void *nccl_thread(void *arg) {
    nccl_arg *a = arg;
    a->j->st[a->rank] = nccl_rank_run(a->j, a->rank);
    if (a->j->st[a->rank] != LMC_OK)
        snprintf(a->j->err[a->rank], sizeof a->j->err[a->rank], "%s", lmc_last_error());
    return NULL;
}

static void test_nccl(int n, int present) {
    if (n > present) {
        printf("NCCL over %d ranks: %d GPU(s) present, skipped\n", n, present);
        n_skipped++;
        return;
    }
    static nccl_job j;
    memset(&j, 0, sizeof j);
    j.n_rank = n;
    lmc_status st = comm_nccl_unique_id(j.id);
    CHECK(st == LMC_OK, "NCCL unique id: %s", lmc_last_error());
    if (st != LMC_OK) return;
    const char *nvls = getenv("NCCL_NVLS_ENABLE");
    CHECK(nvls && !strcmp(nvls, "0"), "NCCL_NVLS_ENABLE is '%s', not 0", nvls ? nvls : "(unset)");
    pthread_t th[4];
    nccl_arg args[4];
    for (int r = 0; r < n; r++) {
        args[r] = (nccl_arg){&j, r};
        pthread_create(&th[r], NULL, nccl_thread, &args[r]);
    }
    for (int r = 0; r < n; r++)
        pthread_join(th[r], NULL);
    int bad = 0;
    for (int r = 0; r < n; r++) {
        CHECK(j.st[r] == LMC_OK, "NCCL %d ranks, rank %d: %s", n, r, j.err[r]);
        if (j.st[r] != LMC_OK) continue;
        for (int i = 0; i < COUNT; i++) /* sum over ranks k of (k+1)*(i%97) */
            bad += j.got[r][i] != (float)(n * (n + 1) / 2 * (i % 97));
        for (int k = 0; k < n; k++)
            for (int i = 0; i < 8; i++)
                bad += j.got[r][COUNT + 8 * k + i] != (float)(100 * k + i);
    }
    CHECK(bad == 0, "NCCL over %d ranks: %d values differ from the host's", n, bad);
    printf("NCCL over %d ranks: all-reduce of %d floats and all-gather checked on every rank\n", n,
           COUNT);
}
#endif

#ifdef LMC_WITH_CUDA
/* Prompt logits (N_PROMPT tokens, the last row) of a CUDA context with p's split; false when the
 * context is refused (its message printed). */
static bool gpu_logits(lmc_model *m, lmc_context_params p, float *out, const char *what) {
    p.n_ctx = 64;
    p.device = LMC_DEVICE_CUDA;
    lmc_context *ctx = NULL;
    lmc_status st = lmc_context_init(m, &p, &ctx);
    if (st != LMC_OK) {
        printf("  %s: context refused: %s\n", what, lmc_last_error());
        return false;
    }
    int32_t tok[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++)
        tok[i] = (int32_t)((i * 37 + 1) % lmc_model_n_vocab(m));
    const float *lg = NULL;
    st = lmc_decode(ctx, tok, N_PROMPT, 0, &lg);
    CHECK(st == LMC_OK, "%s: decode: %s", what, lmc_last_error());
    if (st == LMC_OK) memcpy(out, lg, (size_t)lmc_model_n_vocab(m) * sizeof(float));
    lmc_context_free(ctx);
    return st == LMC_OK;
}

static double nmse(const float *a, const float *ref, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

static void test_model(const char *rel, int present, int max_n) {
    lmc_model *m = t_load_model_or_skip(t_shared(rel));
    if (!m) return;
    const int nv = lmc_model_n_vocab(m);
    float *one = malloc((size_t)nv * 4), *got = malloc((size_t)nv * 4);
    lmc_context_params base = lmc_context_default_params();
    if (!one || !got || !gpu_logits(m, base, one, "one GPU")) {
        CHECK(false, "%s: the one-GPU context must run", rel);
        goto done;
    }
    lmc_context_params p = base;
    p.split_mode = LMC_SPLIT_ROW;
    p.n_tensor_parallel = 1;
    if (gpu_logits(m, p, got, "-sm row -tp 1"))
        CHECK(!memcmp(got, one, (size_t)nv * 4), "%s: -sm row -tp 1 differs from one GPU", rel);
    else
        CHECK(false, "%s: -sm row -tp 1 must run on one GPU", rel);
    p = base;
    p.split_mode = LMC_SPLIT_LAYER;
    p.tensor_split[0] = 1;
    if (gpu_logits(m, p, got, "-sm layer -ts 1"))
        CHECK(!memcmp(got, one, (size_t)nv * 4), "%s: -sm layer -ts 1 differs from one GPU", rel);
    else
        CHECK(false, "%s: -sm layer -ts 1 must run on one GPU", rel);
    printf("%s: -sm row -tp 1 and -sm layer -ts 1 checked against one GPU\n", rel);
    for (int n = 2; n <= max_n; n *= 2) {
        if (n > present) {
            printf("%s: -sm row over %d GPUs: %d present, skipped\n", rel, n, present);
            n_skipped++;
            continue;
        }
        p = base;
        p.split_mode = LMC_SPLIT_ROW;
        p.n_tensor_parallel = n;
        char what[64];
        snprintf(what, sizeof what, "-sm row -tp %d", n);
        bool ran = gpu_logits(m, p, got, what);
        CHECK(ran, "%s: %s must run (the multi-GPU forward of issue 19)", rel, what);
        if (!ran) continue;
        double e = nmse(got, one, nv);
        printf("%s: %s logits NMSE vs one GPU %.3g\n", rel, what, e);
        CHECK(e <= 1e-6, "%s: %s logits NMSE %g", rel, what, e);
    }
done:
    free(one);
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
#ifdef LMC_WITH_NCCL
    for (int n = 1; n <= 4; n *= 2)
        test_nccl(n, present);
#else
    printf("NCCL: not in this build (CMake did not find it), its cases skipped\n");
#endif
#ifdef LMC_WITH_CUDA
    t_require_shared();
    test_model("models/synthetic/synthetic-A-Q4_K_M.gguf", present, 2); /* 2 KV heads */
    test_model("models/synthetic/synthetic-A-F16.gguf", present, 2);
    test_model("models/stories260K.gguf", present, 4); /* 4 KV heads */
#endif
    printf("%d case(s) skipped for want of GPUs\n", n_skipped);
    return t_done();
}
