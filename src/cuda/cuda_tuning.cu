// cuda_tuning.cu — parses the LMC_CUDA_* switches (table in cuda_tuning.h) and keeps the process's
// copy for the kernel launchers: the backend's only getenv. What a switch selects is decided where
// it is used (coal_choice, launch_matvec_q8_tuned, step_one), not here.
#include "cuda_tuning.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "quant.h"
}

// "0" turns a default-on switch off; anything else (or unset) leaves it on.
static int on_unless_0(const char *name) {
    const char *e = getenv(name);
    return !(e && e[0] == '0');
}

// A switch of values 0..hi: the number, or def when unset or anything else.
static int level(const char *name, int hi, int def) {
    const char *e = getenv(name);
    return e && e[0] >= '0' && e[0] <= '0' + hi && e[1] == 0 ? e[0] - '0' : def;
}

// LMC_CUDA_Q8MV "R,U" as the variant number of launch_matvec_q8_tuned (-1: the type's default).
static int q8mv_variant(const char *s) {
    int r = 0, u = 0;
    if (!s || sscanf(s, "%d,%d", &r, &u) != 2) return -1;
    return (r == 4 ? 0 : r == 16 ? 4 : r == 2 ? 6 : 2) + (u == 2 && r != 2 ? 1 : 0);
}

extern "C" cuda_tuning cuda_tuning_read(void) {
    cuda_tuning t;
    memset(&t, 0, sizeof t);
    t.q8 = on_unless_0("LMC_CUDA_Q8");
    t.fold = on_unless_0("LMC_CUDA_FOLD");
    t.att_gemm = on_unless_0("LMC_CUDA_ATT_GEMM");
    t.att_split = on_unless_0("LMC_CUDA_ATT_SPLIT");
    t.tail = level("LMC_CUDA_TAIL", 1, 1);
    const char *skip = getenv("LMC_CUDA_SKIP");
    t.skip = skip ? atoi(skip) : 0;
    const char *bmv = getenv("LMC_CUDA_BATCH_MV");
    /* 1: steps of 2..64 tokens through the tensor-core product (MMA). On one H100 (7B Q4_K_M,
     * 2026-12-07) x2 decode ran 282 tok/s through it against 235 through the batched mat-vecs (2);
     * x3 equal. Both paths run through the CUDA suites (test_cuda_batch's passes). */
    t.batch_mv = bmv ? atoi(bmv) : 1;
    if (t.batch_mv < 0 || t.batch_mv > 16) t.batch_mv = 1;
    const char *bq8 = getenv("LMC_CUDA_BATCH_Q8");
    t.batch_q8 = bq8 && bq8[0] == '1';
    t.mma = on_unless_0("LMC_CUDA_MMA");
    const char *prof = getenv("LMC_CUDA_PROFILE");
    t.prof = prof && prof[0] == '1';

    t.pdl = on_unless_0("LMC_CUDA_PDL");
    t.mma_la = on_unless_0("LMC_CUDA_MMA_LA");
    /* 0 never, N >= 1 when n_head_kv x splits >= N; anything else (or unset): DEFAULT_ATT_GQA */
    const char *gqa = getenv("LMC_CUDA_ATT_GQA");
    char *end = NULL;
    const long g = gqa ? strtol(gqa, &end, 10) : -1;
    t.att_gqa = gqa && end != gqa && *end == 0 && g >= 0 && g <= 1 << 20 ? (int)g : DEFAULT_ATT_GQA;
    const char *mv = getenv("LMC_CUDA_MV");
    t.mv_rows = mv ? atoi(mv) : 0;
    t.q8mv = q8mv_variant(getenv("LMC_CUDA_Q8MV"));
    const char *coal = getenv("LMC_CUDA_COAL"), *only = getenv("LMC_CUDA_COAL_ONLY");
    int r = 0, u = 0;
    t.coal_off = coal && coal[0] == '0';
    if (coal && sscanf(coal, "%d,%d", &r, &u) == 2 && (r == 2 || r == 4 || r == 8) &&
        (u == 1 || u == 2)) {
        t.coal_r = r;
        t.coal_u = u;
    }
    static_assert(LMC_TYPE_COUNT <= 64, "coal_types has a bit per type");
    for (uint32_t type = 0; type < LMC_TYPE_COUNT; type++)
        if (!only || !strcmp(only, lmc_type_name(type))) t.coal_types |= 1ull << type;
    return t;
}

// The process's copy; a function-local static is initialized once, thread-safely (C++11).
static cuda_tuning &process_tuning() {
    static cuda_tuning t = cuda_tuning_read();
    return t;
}

extern "C" const cuda_tuning *cuda_tuning_get(void) {
    return &process_tuning();
}

extern "C" void cuda_tuning_reload(void) {
    process_tuning() = cuda_tuning_read();
}
