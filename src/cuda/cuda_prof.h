// cuda_prof.h — LMC_CUDA_PROFILE=1: where a several-sequence step's time goes. The step marks the
// start of each part on its stream (a cudaEvent); at the step's end the gaps between marks are
// added to the part that began each gap, per step size (tokens), and printed to stderr when the
// context is freed. All calls are no-ops on a NULL profile (the switch off).
#ifndef LMC_CUDA_PROF_H
#define LMC_CUDA_PROF_H

#include <cuda_runtime.h>

enum prof_part {
    PP_EMBED,
    PP_NORM,
    PP_QKV,
    PP_ROPE,
    PP_ATT,
    PP_WO,
    PP_GU,
    PP_ACT,
    PP_DOWN,
    PP_LOGITS,
    PP_N
};

struct cuda_prof;
cuda_prof *cuda_prof_new(void);
// Starts a step (drops the marks of a step that failed before its end).
void cuda_prof_step_begin(cuda_prof *p);
void cuda_prof_mark(cuda_prof *p, int part, cudaStream_t s);
// Ends the step of n_tok tokens: waits for its last mark and adds up the gaps.
void cuda_prof_step_end(cuda_prof *p, int n_tok, cudaStream_t s);
// Prints the table (if any step was timed) and frees the profile.
void cuda_prof_free(cuda_prof *p);

#endif
