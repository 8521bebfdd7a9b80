/* test_hugepages.c — the CPU backend's copy of the weights into huge-page memory
 * (src/model_hugepages.c) changes where the bytes live, never what is computed: stories260K decoded
 * with LMC_HUGEPAGES=0 (weights in the file mapping) and with LMC_HUGEPAGES=1 (copy forced, though
 * the model is under the 64 MB threshold) gives bit-identical logits at every step, the copy is
 * made once and only when asked, and a second context on the copied model agrees too. */
#include "testutil.h"
#include <stdlib.h>
#include <string.h>

#include "lmc.h"
#include "model.h"

enum { N_STEPS = 12 };

/* logits of a 4-token prompt and N_STEPS greedy steps, (N_STEPS + 1) x n_vocab */
static int run(lmc_model *m, float *out) {
    const int nv = lmc_model_n_vocab(m);
    lmc_context_params cp = lmc_context_default_params();
    cp.n_ctx = 64;
    cp.device = LMC_DEVICE_CPU;
    cp.n_threads = 2;
    lmc_context *ctx = NULL;
    if (lmc_context_init(m, &cp, &ctx) != LMC_OK) return 0;
    const int32_t prompt[4] = {1, 403 % nv, 407 % nv, 261 % nv};
    const float *lg = NULL;
    lmc_status st = lmc_decode(ctx, prompt, 4, 0, &lg);
    for (int s = 0; s <= N_STEPS && st == LMC_OK; s++) {
        memcpy(out + (size_t)s * nv, lg, sizeof(float) * (size_t)nv);
        int32_t id = 0;
        for (int i = 1; i < nv; i++)
            if (lg[i] > lg[id]) id = i;
        if (s < N_STEPS) st = lmc_decode(ctx, &id, 1, 4 + s, &lg);
    }
    lmc_context_free(ctx);
    return st == LMC_OK;
}

int main(void) {
    t_require_shared();
    lmc_model *a = NULL, *b = NULL;
    if (lmc_model_load(t_shared("models/stories260K.gguf"), NULL, &a) != LMC_OK ||
        lmc_model_load(t_shared("models/stories260K.gguf"), NULL, &b) != LMC_OK) {
        CHECK(0, "load stories260K: %s", lmc_last_error());
        return t_done();
    }
    const size_t n = (size_t)(N_STEPS + 1) * (size_t)lmc_model_n_vocab(a);
    float *la = malloc(sizeof(float) * n), *lb = malloc(sizeof(float) * n),
          *lc = malloc(sizeof(float) * n);
    setenv("LMC_HUGEPAGES", "0", 1);
    CHECK(run(a, la), "mapped weights: %s", lmc_last_error());
    CHECK(a->weights_copy == NULL, "LMC_HUGEPAGES=0: no copy");
    const uint8_t *mapped = b->layers[0].wq->data;
    setenv("LMC_HUGEPAGES", "1", 1);
    CHECK(run(b, lb), "copied weights: %s", lmc_last_error());
    CHECK(b->weights_copy != NULL, "LMC_HUGEPAGES=1: the weights were copied");
    const uint8_t *q = b->layers[0].wq->data, *c0 = b->weights_copy;
    CHECK(q != mapped && q >= c0 && q < c0 + b->weights_copy_bytes,
          "the tensors point into the copy");
    const void *copy = b->weights_copy;
    CHECK(run(b, lc), "second context: %s", lmc_last_error());
    CHECK(b->weights_copy == copy, "copied once per model");
    CHECK(memcmp(la, lb, sizeof(float) * n) == 0, "copied weights: bit-identical logits");
    CHECK(memcmp(la, lc, sizeof(float) * n) == 0, "second context: bit-identical logits");
    unsetenv("LMC_HUGEPAGES");
    free(la);
    free(lb);
    free(lc);
    lmc_model_free(a);
    lmc_model_free(b);
    return t_done();
}
