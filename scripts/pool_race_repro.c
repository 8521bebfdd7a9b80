/* pool_race_repro.c — reproducer of the open thread-pool race (docs/CUDA_NOTES.md, run 18): CPU contexts
 * with 1..16 threads decode 48 tokens and shift; under ASan a pool worker reads a stale mm_kernels job
 * in about half the runs at 12-16 threads. Not a ctest (it fails intermittently until the race is fixed).
 * Build: (cd build-asan && make lmccore) after make asan, then
 *   cc -O1 -g -fsanitize=address,undefined -Iinclude scripts/pool_race_repro.c -o /tmp/repro \
 *      build-asan/liblmccore.a -lpcre2-8 -lcjson -lm -lpthread && /tmp/repro ../shared/models/stories260K.gguf */
#include "lmc.h"
#include <stdio.h>
int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) return 2;
    lmc_model *m = NULL;
    if (lmc_model_load(argv[1], NULL, &m) != LMC_OK) { printf("load fail\n"); return 1; }
    const int nv = lmc_model_n_vocab(m);
    for (int nt = 1; nt <= 16; nt++) {
        lmc_context_params cp = lmc_context_default_params();
        cp.n_ctx = 128; cp.device = LMC_DEVICE_CPU; cp.n_threads = nt;
        lmc_context *ctx = NULL;
        if (lmc_context_init(m, &cp, &ctx) != LMC_OK) { printf("ctx fail %s\n", lmc_last_error()); return 1; }
        int32_t prompt[4] = {1, 403 % nv, 407 % nv, 261 % nv};
        const float *lg = NULL;
        lmc_status st = lmc_decode(ctx, prompt, 4, 0, &lg);
        int pos = 4; int32_t id = 0;
        for (int n = 0; n < 48 && st == LMC_OK; n++) {
            int a = 0; for (int k = 1; k < nv; k++) if (lg[k] > lg[a]) a = k;
            id = a; st = lmc_decode(ctx, &id, 1, pos++, &lg);
        }
        st = lmc_seq_shift(ctx, 0, 9, pos - 9, 1); pos -= 8;
        st = lmc_decode(ctx, &id, 1, pos, &lg);
        printf("t=%d st=%d\n", nt, st);
        lmc_context_free(ctx);
    }
    lmc_model_free(m);
}
