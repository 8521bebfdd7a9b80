#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS TARGET... — runs each libFuzzer target built in BUILD_DIR for SECONDS
# over the committed seeds (fuzz/corpus/TARGET, read only) and its own growing corpus
# (BUILD_DIR/corpus/TARGET); crash inputs land in BUILD_DIR/artifacts/. Prints one summary line per
# target and fails on the first finding. FUZZ_JOBS=N runs N processes per target (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1 seconds=$2
shift 2
export LMC_FUZZ_VOCAB_DIR=${LMC_FUZZ_VOCAB_DIR:-$(cd .. && pwd)/shared/models/vocab}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/artifacts"
for t in "$@"; do
    mkdir -p "$build/corpus/$t"
    log="$build/$t.log"
    if [ "$t" = fuzz_tokenizer ] && [ ! -d "$LMC_FUZZ_VOCAB_DIR" ]; then
        echo "fuzz: $t skipped (no vocabularies at $LMC_FUZZ_VOCAB_DIR)"
        continue
    fi
    if ! "$build/$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=3072 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
        "$build/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
        echo "fuzz: $t FOUND A PROBLEM (log: $log)"
        grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -20
        exit 1
    fi
    execs=$(grep -E "stat::number_of_executed_units" "$log" | awk '{print $2}')
    cov=$(grep -E "^#[0-9]+.*(DONE|cov:)" "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+).*ft: ([0-9]+).*corp: ([0-9]+)\/([^ ]+).*/cov \1, ft \2, corpus \3 (\4)/')
    echo "fuzz: $t ok: ${seconds}s, ${execs:-?} execs, $cov"
done
