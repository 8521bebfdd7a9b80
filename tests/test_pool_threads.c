/* test_pool_threads.c — many threads against the thread pool: CPU contexts with 1..16 threads (more
 * threads than this machine has cores) decode the same greedy continuation of stories260K, with a
 * context shift, and must give the same ids at every thread count (results do not depend on which
 * thread runs a chunk). Before the pool closed a finished job's counter, a late worker could run a
 * chunk on the next job's parameters: at 12-16 threads a stale stack job (seen under ASan/TSan and
 * as a crash on a 16-core machine). */
#include "testutil.h"
#include <stdio.h>

#include "lmc.h"

enum { N_GEN = 48 };

/* greedy ids after the prompt, then one more after dropping positions 1..8 */
static int run(lmc_model *m, int n_threads, int32_t *ids) {
    const int nv = lmc_model_n_vocab(m);
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = 128;
    cp.device = LMC_DEVICE_CPU;
    cp.n_threads = n_threads;
    lmc_context *ctx = NULL;
    if (lmc_context_init(m, &cp, &ctx) != LMC_OK) return 0;
    const int32_t prompt[4] = {1, 403 % nv, 407 % nv, 261 % nv};
    const float *lg = NULL;
    lmc_status st = lmc_decode(ctx, prompt, 4, 0, &lg);
    int pos = 4, n = 0;
    for (; n < N_GEN && st == LMC_OK; n++) {
        ids[n] = t_argmax(lg, nv);
        st = lmc_decode(ctx, &ids[n], 1, pos++, &lg);
    }
    if (st == LMC_OK) st = lmc_seq_shift(ctx, 0, 9, pos - 9, 1);
    if (st == LMC_OK) st = lmc_decode(ctx, &ids[N_GEN - 1], 1, pos - 8, &lg);
    if (st == LMC_OK) ids[N_GEN] = t_argmax(lg, nv);
    lmc_context_free(ctx);
    return st == LMC_OK;
}

int main(void) {
    t_require_shared();
    lmc_model *m = NULL;
    if (lmc_model_load(t_shared("models/stories260K.gguf"), NULL, &m) != LMC_OK) {
        CHECK(0, "load stories260K: %s", lmc_last_error());
        return t_done();
    }
    int32_t ref[N_GEN + 1], ids[N_GEN + 1];
    CHECK(run(m, 1, ref), "1 thread: %s", lmc_last_error());
    for (int nt = 2; nt <= 16; nt++) {
        for (int rep = 0; rep < 3; rep++) {
            const int ok = run(m, nt, ids);
            CHECK(ok, "%d threads: %s", nt, lmc_last_error());
            int same = 0;
            while (ok && same <= N_GEN && ids[same] == ref[same])
                same++;
            CHECK(!ok || same == N_GEN + 1, "%d threads (run %d): ids differ from 1 thread's at %d",
                  nt, rep, same);
        }
    }
    lmc_model_free(m);
    return t_done();
}
