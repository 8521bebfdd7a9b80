/* model_check.h — generic validation of a loaded model's metadata (model_check.c), run by
 * lmc_model_load around arch_load: every error names the file and the key. */
#ifndef LMC_MODEL_CHECK_H
#define LMC_MODEL_CHECK_H

#include "model.h"

/* Before arch_load reads them: the float keys of architecture arch finite and in range (RMS eps,
 * RoPE base and scale) and a sane context_length, so the first error names the key and the rule. */
lmc_status model_check_keys(const gguf_file *f, const char *arch);
/* After arch_load: block_count equal to the blk.N present, and the vocabulary checks below. */
lmc_status model_check(const struct lmc_model *m);
/* Special token ids inside the vocabulary (of n_vocab tokens); a chat template without NUL. */
lmc_status model_check_vocab(const gguf_file *f, int32_t n_vocab);

#endif
