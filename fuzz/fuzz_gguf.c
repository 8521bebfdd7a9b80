/* fuzz_gguf.c — libFuzzer target: any bytes as a GGUF file. The reader must accept or refuse them
 * with a status (never crash, hang or leak); what it accepts goes on through the tokenizer load and
 * the metadata checks a model load would run. Build and run: make fuzz (see docs/FUZZING.md). */
#include "gguf.h"
#include "model_check.h"
#include "tokenizer.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = NULL;
    if (gguf_open_buffer(data, size, "fuzz.gguf", &f) != LMC_OK) return 0;
    struct tok_vocab *v = NULL;
    if (tok_load(f, &v) == LMC_OK) {
        model_check_vocab(f, tok_n_vocab(v));
        int32_t *ids = NULL;
        size_t n = 0;
        if (tok_encode(v, "Hello world <s> 123", 19, true, true, &ids, &n) == LMC_OK) free(ids);
        tok_free(v);
    }
    gguf_close(f);
    return 0;
}
