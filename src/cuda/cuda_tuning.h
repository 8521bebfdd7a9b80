/* cuda_tuning.h — the LMC_CUDA_* environment switches of the CUDA backend, parsed in one place
 * (cuda_tuning.cu) into one struct. Timing and debugging aids only: the defaults are the tested
 * fast paths; no other file of the backend reads the environment. Plain C (the op test uses it). */
#ifndef LMC_CUDA_TUNING_H
#define LMC_CUDA_TUNING_H

#include <stdint.h>

/* Each switch: values, default, when it is read, effect. "context": read by every lmc_cuda_init
 * into that context, which keeps what it read; "kernel": read once per process, at the first launch
 * that needs it (the launchers have no context). docs/CUDA_NOTES.md lists the same.
 *
 *  switch              values      default         read     effect
 *  LMC_CUDA_Q8         0           on              context  0: decode mat-vecs on f32 activations
 *                                                           (exact), not 8-bit blocks; a nonzero
 *                                                           lmc_cuda_params.act_q8 overrides it
 *  LMC_CUDA_FOLD       0           on              context  0: each decode RMSNorm (and the
 *                                                           quantizing of down's input) a kernel
 *                                                           of its own, not folded into mat-vecs
 *  LMC_CUDA_ATT_GEMM   0           on              context  0: prompt attention through the decode
 *                                                           attention kernel, not cuBLAS
 *  LMC_CUDA_ATT_SPLIT  0           on              context  0: several-sequence attention in one
 *                                                           block per head and token over all its
 *                                                           keys, not split in blocks of 128 keys
 *                                                           merged after
 *  LMC_CUDA_TAIL       0, 1        1               context  0: the decode step's q/k RMSNorms
 *                                                           (qwen3, gemma3; with RoPE and the KV
 *                                                           store) a kernel of their own, not
 *                                                           finished by the q/k/v mat-vec (the
 *                                                           block completing each head)
 *  LMC_CUDA_BATCH_MV   0..16       1               context  several sequences: steps of at most
 *                                                           this many tokens through batched
 *                                                           mat-vecs, longer ones through the
 *                                                           tensor-core products / GEMMs (7B
 *                                                           Q4_K_M, H100, tg x4: mma 588 t/s,
 *                                                           mat-vecs 377; x8: 1129, 465; x2
 *                                                           (BATCH_MV 1): mma 311, H200 mat-vecs
 *                                                           259, not yet on one GPU)
 *  LMC_CUDA_MMA        0           on              context  0: those longer steps (<= 64 tokens)
 *                                                           through dequantize + cuBLAS instead
 *                                                           of the tensor-core product (then
 *                                                           LMC_CUDA_BATCH_MV=8 is faster)
 *  LMC_CUDA_PROFILE    1           off             context  1: several-sequence steps timed per
 *                                                           part (cudaEvents), summed per step
 *                                                           size, printed to stderr at the
 *                                                           context's end (cuda_prof.cu)
 *  LMC_CUDA_BATCH_Q8   1           off             context  1: those batched mat-vecs on 8-bit
 *                                                           activations (dp4a; Q4_0, Q8_0, Q4_K,
 *                                                           Q6_K), unless LMC_CUDA_Q8=0
 *  LMC_CUDA_SKIP       bit mask    0               context  leaves parts of the decode step out,
 *                                                           for timing only (logits wrong): SK_*
 *  LMC_CUDA_PDL        0           on              kernel   0: no programmatic dependent launch
 *  LMC_CUDA_MMA_LA     0           on              kernel   0: the tensor-core product's first
 *                                                           kernel, not the load-ahead one (units
 *                                                           loaded an iteration ahead, activations
 *                                                           double-buffered with cp.async)
 *  LMC_CUDA_ATT_GQA    0 or N      64              kernel   decode attention blocks take a group
 *                                                           of heads sharing a kv head (each key
 *                                                           loaded once for the group) when
 *                                                           n_head_kv x splits of 128 keys >= N
 *                                                           (1: always); 0: one block per head;
 *                                                           not a number >= 0: the default
 *  LMC_CUDA_MV         4 or 8      8               kernel   rows per block of the f32-activation
 *                                                           unit mat-vecs (Q6_K: always 4)
 *  LMC_CUDA_Q8MV       R,U         Q4_0 4,2;       kernel   8-bit unit mat-vecs: R rows per block
 *                                  others 4,1               2, 4, 16 (Q6_K: 8), any other R 8
 *                                                           (Q6_K: 4); U units in flight 1 or 2
 *                                                           (1 with R 2)
 *  LMC_CUDA_COAL       0 or R,U    per type        kernel   0: no type takes the coalesced mat-vec;
 *                                  (coal_choice)            R,U (R 2, 4, 8; U 1, 2): every type
 *                                                           with a chunk kernel takes it so
 *  LMC_CUDA_COAL_ONLY  type name   every type      kernel   LMC_CUDA_COAL=R,U for that type only
 *
 * Any other value of a "0" switch leaves it on; an R,U that does not parse leaves the default. */

/* LMC_CUDA_SKIP bits: attention RMSNorm, q/k/v, attention, wo, FFN RMSNorm, gate/up, quantizing
 * down's input, down, output RMSNorm and mat-vec. */
enum {
    SK_NORM1 = 1,
    SK_QKV = 2,
    SK_ATT = 4,
    SK_WO = 8,
    SK_NORM2 = 16,
    SK_GU = 32,
    SK_QUANT = 64,
    SK_DOWN = 128,
    SK_OUT = 256
};

/* LMC_CUDA_ATT_GQA's default: group a decode attention's heads from this many kv-head splits */
#define DEFAULT_ATT_GQA 64

typedef struct cuda_tuning {
    /* context switches */
    int q8;        /* LMC_CUDA_Q8: 1 on, 0 off */
    int fold;      /* LMC_CUDA_FOLD */
    int att_gemm;  /* LMC_CUDA_ATT_GEMM */
    int att_split; /* LMC_CUDA_ATT_SPLIT: 1 the split (flash-decoding) several-sequence attention */
    int tail;      /* LMC_CUDA_TAIL: 1 q/k norms finished by the q/k/v mat-vec */
    int skip;      /* LMC_CUDA_SKIP mask, 0: nothing left out */
    int batch_mv;  /* LMC_CUDA_BATCH_MV: most tokens of a batched mat-vec step (0..16) */
    int batch_q8;  /* LMC_CUDA_BATCH_Q8: 1 on (8-bit activations in the batched mat-vecs) */
    int mma;       /* LMC_CUDA_MMA: 1 (default) the tensor-core small-batch products, 0 cuBLAS */
    int prof;      /* LMC_CUDA_PROFILE: 1 times the several-sequence step's parts */
    /* kernel switches */
    int pdl;             /* LMC_CUDA_PDL */
    int mma_la;          /* LMC_CUDA_MMA_LA: 1 the load-ahead tensor-core kernel */
    int att_gqa;         /* LMC_CUDA_ATT_GQA: 0 never, N >= 1 group heads from N kv-head splits */
    int mv_rows;         /* LMC_CUDA_MV as a number, 0 when unset */
    int q8mv;            /* LMC_CUDA_Q8MV as a variant of launch_matvec_q8_tuned, -1 when unset */
    int coal_off;        /* LMC_CUDA_COAL=0 */
    int coal_r, coal_u;  /* LMC_CUDA_COAL=R,U when valid, else 0 */
    uint64_t coal_types; /* bit t: R,U apply to type t (all, or the one LMC_CUDA_COAL_ONLY names) */
} cuda_tuning;

#ifdef __cplusplus
extern "C" {
#endif
/* Parses the environment now (lmc_cuda_init calls it for its context). */
cuda_tuning cuda_tuning_read(void);
/* The process's kernel switches: parsed at the first call (thread-safe), the same struct after. */
const cuda_tuning *cuda_tuning_get(void);
/* Parses the process's switches again, for a test that walks their values in one process; not
 * while another thread launches kernels. */
void cuda_tuning_reload(void);
#ifdef __cplusplus
}
#endif

#endif
