// cuda_prof.cu — the per-part timing of LMC_CUDA_PROFILE=1 (cuda_prof.h): cudaEvents recorded
// between the parts of a several-sequence step, summed per step size, printed at the end.
#include "cuda_prof.h"
#include <map>
#include <stdio.h>
#include <vector>

static const char *const part_names[PP_N] = {"embed", "norms",   "q/k/v",  "rope", "attention",
                                             "wo",    "gate/up", "swiglu", "down", "logits"};

struct cuda_prof {
    std::vector<cudaEvent_t> ev; // a pool reused every step
    std::vector<int> part;       // the part each used event starts
    size_t used = 0;
    struct row {
        double ms[PP_N] = {0};
        long steps = 0;
    };
    std::map<int, row> by_n; // step size -> summed milliseconds per part
    bool failed = false;
};

cuda_prof *cuda_prof_new(void) {
    return new cuda_prof();
}

void cuda_prof_step_begin(cuda_prof *p) {
    if (p) p->used = 0;
}

void cuda_prof_mark(cuda_prof *p, int part, cudaStream_t s) {
    if (!p || p->failed) return;
    if (p->used == p->ev.size()) {
        cudaEvent_t e;
        if (cudaEventCreate(&e) != cudaSuccess) {
            p->failed = true;
            return;
        }
        p->ev.push_back(e);
        p->part.push_back(0);
    }
    p->part[p->used] = part;
    if (cudaEventRecord(p->ev[p->used], s) != cudaSuccess) p->failed = true;
    p->used++;
}

void cuda_prof_step_end(cuda_prof *p, int n_tok, cudaStream_t s) {
    if (!p || p->failed) return;
    cuda_prof_mark(p, PP_N, s);
    if (p->failed || cudaEventSynchronize(p->ev[p->used - 1]) != cudaSuccess) {
        p->failed = true;
        return;
    }
    cuda_prof::row &r = p->by_n[n_tok];
    for (size_t i = 0; i + 1 < p->used; i++) {
        float ms = 0.f;
        if (cudaEventElapsedTime(&ms, p->ev[i], p->ev[i + 1]) == cudaSuccess && p->part[i] < PP_N)
            r.ms[p->part[i]] += ms;
    }
    r.steps++;
    p->used = 0;
}

void cuda_prof_free(cuda_prof *p) {
    if (!p) return;
    if (!p->by_n.empty()) {
        fprintf(stderr, "lmc: CUDA step profile (LMC_CUDA_PROFILE=1), ms per step%s\n",
                p->failed ? " (event errors: incomplete)" : "");
        fprintf(stderr, "%7s %7s %8s", "tokens", "steps", "total");
        for (int k = 0; k < PP_N; k++)
            fprintf(stderr, " %9s", part_names[k]);
        fprintf(stderr, "\n");
        for (const auto &kv : p->by_n) {
            const cuda_prof::row &r = kv.second;
            double tot = 0;
            for (int k = 0; k < PP_N; k++)
                tot += r.ms[k];
            fprintf(stderr, "%7d %7ld %8.3f", kv.first, r.steps, tot / r.steps);
            for (int k = 0; k < PP_N; k++)
                fprintf(stderr, " %9.3f", r.ms[k] / r.steps);
            fprintf(stderr, "\n");
        }
    }
    for (cudaEvent_t e : p->ev)
        cudaEventDestroy(e);
    delete p;
}
