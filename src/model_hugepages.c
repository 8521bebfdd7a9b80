/* model_hugepages.c — the CPU backend's weights moved out of the file mapping into anonymous memory
 * backed by transparent huge pages (2 MB), once per model. Decode streams every weight once per
 * token; from 4 KB page-cache pages that is one TLB miss per 4 KB, each a two-level page walk in a
 * VM, and the hardware prefetcher stops at every 4 KB boundary. On the 2-core Zen 4 VM (AMD family
 * 25 model 17) the TinyLlama-geometry F16 decode went from 14.1 to 18.1 tok/s with 2 threads
 * (bench/kernel_guard, docs/PERFORMANCE.md, issue 20). The copy costs one pass over the weights at
 * the first CPU context (the load already touched every page) and makes them anonymous memory
 * (not evictable page cache) for the model's life. It is skipped where THP is off, for models under
 * 64 MB, and when MemAvailable is under 1.25x the weights. Env LMC_HUGEPAGES=0 never copies,
 * LMC_HUGEPAGES=1 copies whatever the size and memory. The bytes do not change, so results do not
 * either. */
#include "model.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { HUGE_BYTES = 2 << 20, MIN_WEIGHTS = 64 << 20 };

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

/* /sys/kernel/mm/transparent_hugepage/enabled is "always" or "madvise" (not "[never]"). */
static int thp_enabled(void) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return 0;
    char buf[128] = {0};
    const size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n > 0 && !strstr(buf, "[never]");
}

/* MemAvailable in bytes (0 when unknown). */
static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

void model_weights_hugepages(const struct lmc_model *mc) {
    struct lmc_model *m = (struct lmc_model *)mc; /* the copy is an implementation detail: the
                                                     weights' bytes (what const promises) stay */
    const char *env = getenv("LMC_HUGEPAGES");
    const int force = env && !strcmp(env, "1");
    if (env && !strcmp(env, "0")) return;
    pthread_mutex_lock(&g_mu);
    gguf_file *f = m->gguf;
    if (m->weights_copy || !f->mapped || f->size <= f->data_offset) goto out;
    const uint64_t n = f->size - f->data_offset;
    if (!force && (n < MIN_WEIGHTS || !thp_enabled() || mem_available() < n + n / 4)) goto out;
    const size_t len = (size_t)n + HUGE_BYTES;
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) goto out; /* the mapping keeps working: nothing lost */
    uint8_t *dst = (uint8_t *)(((uintptr_t)map + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1));
    madvise(dst, (size_t)n, MADV_HUGEPAGE);
    const uint8_t *src = f->base + f->data_offset;
    memcpy(dst, src, (size_t)n);
    mprotect(dst, ((size_t)n + 4095) & ~(size_t)4095, PROT_READ);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        f->tensors[i].data = dst + ((const uint8_t *)f->tensors[i].data - src);
    m->weights_copy = map;
    m->weights_copy_bytes = len;
out:
    pthread_mutex_unlock(&g_mu);
}

void model_weights_release(struct lmc_model *m) {
    if (m->weights_copy) munmap(m->weights_copy, m->weights_copy_bytes);
    m->weights_copy = NULL;
}
