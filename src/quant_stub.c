/* quant_stub.c — TEMPORARY: type traits (block and byte sizes only) so the gguf branch links before
 * quant.c lands in main. Delete this file when merging main brings src/quant.c. No dequantization. */
#include "quant.h"

#include <stddef.h>

static const lmc_type_traits stub_traits[LMC_TYPE_COUNT] = {
    [LMC_TYPE_F32] = {"F32", 1, 4, true, NULL},        [LMC_TYPE_F16] = {"F16", 1, 2, true, NULL},
    [LMC_TYPE_Q4_0] = {"Q4_0", 32, 18, true, NULL},    [LMC_TYPE_Q4_1] = {"Q4_1", 32, 20, true, NULL},
    [LMC_TYPE_Q5_0] = {"Q5_0", 32, 22, true, NULL},    [LMC_TYPE_Q5_1] = {"Q5_1", 32, 24, true, NULL},
    [LMC_TYPE_Q8_0] = {"Q8_0", 32, 34, true, NULL},    [LMC_TYPE_Q8_1] = {"Q8_1", 32, 36, false, NULL},
    [LMC_TYPE_Q2_K] = {"Q2_K", 256, 84, true, NULL},   [LMC_TYPE_Q3_K] = {"Q3_K", 256, 110, true, NULL},
    [LMC_TYPE_Q4_K] = {"Q4_K", 256, 144, true, NULL},  [LMC_TYPE_Q5_K] = {"Q5_K", 256, 176, true, NULL},
    [LMC_TYPE_Q6_K] = {"Q6_K", 256, 210, true, NULL},  [LMC_TYPE_Q8_K] = {"Q8_K", 256, 292, false, NULL},
    [LMC_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66, false, NULL}, [LMC_TYPE_IQ2_XS] = {"IQ2_XS", 256, 74, false, NULL},
    [LMC_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98, false, NULL}, [LMC_TYPE_IQ1_S] = {"IQ1_S", 256, 50, false, NULL},
    [LMC_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18, false, NULL}, [LMC_TYPE_IQ3_S] = {"IQ3_S", 256, 110, false, NULL},
    [LMC_TYPE_IQ2_S] = {"IQ2_S", 256, 82, false, NULL},  [LMC_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136, false, NULL},
    [LMC_TYPE_I8] = {"I8", 1, 1, false, NULL},           [LMC_TYPE_I16] = {"I16", 1, 2, false, NULL},
    [LMC_TYPE_I32] = {"I32", 1, 4, false, NULL},         [LMC_TYPE_I64] = {"I64", 1, 8, false, NULL},
    [LMC_TYPE_F64] = {"F64", 1, 8, false, NULL},         [LMC_TYPE_IQ1_M] = {"IQ1_M", 256, 56, false, NULL},
    [LMC_TYPE_BF16] = {"BF16", 1, 2, true, NULL},        [LMC_TYPE_TQ1_0] = {"TQ1_0", 256, 54, false, NULL},
    [LMC_TYPE_TQ2_0] = {"TQ2_0", 256, 66, false, NULL},  [LMC_TYPE_MXFP4] = {"MXFP4", 32, 17, false, NULL},
};

const lmc_type_traits *lmc_type_get(uint32_t type) {
    return type < LMC_TYPE_COUNT && stub_traits[type].name ? &stub_traits[type] : NULL;
}

const char *lmc_type_name(uint32_t type) {
    const lmc_type_traits *t = lmc_type_get(type);
    return t ? t->name : "?";
}

uint64_t lmc_row_size(uint32_t type, int64_t ne0) {
    const lmc_type_traits *t = lmc_type_get(type);
    return t ? (uint64_t)(ne0 / t->blck_size) * (uint64_t)t->type_size : 0;
}
