#!/usr/bin/env bash
# cuda_check.sh — on a machine with an NVIDIA GPU: build lmc with CUDA, run the CUDA suites, then
# the families' decode speed against the llama block (bytes read per second, LMC_CUDA_TAIL 1 and
# 0). One command for what a GPU session checks first. Logs and a summary go to OUT_DIR.
#
# usage: scripts/cuda_check.sh [OUT_DIR] (default /tmp/lmc-cuda-check)
# env:   BUILD (default /tmp/lmc-cuda-build), LMC_SHARED (default ../shared; the llama suites skip
#        without it), SUITES (default: every CUDA suite), BENCH=0 skips the speed part,
#        ARCHS (the families to time, default all; llama first: it is the reference),
#        CUDA_ARCH (default 90-real), CMAKE_FLAGS (extra configure flags), DEPTH=1 adds decode at
#        depths 0, 4096 and 16384 with the grouped decode attention on and off.
# needs: cmake, nvcc, the -dev packages of README.md, python3 with numpy (and the gguf package for
#        the F32/F16 family models of test_cuda_families; without it those goldens skip).
set -uo pipefail
cd "$(dirname "$0")/.." || exit
REPO=$PWD
OUT=${1:-/tmp/lmc-cuda-check}
BUILD=${BUILD:-/tmp/lmc-cuda-build}
mkdir -p "$OUT"
SUM="$OUT/summary.txt"
: >"$SUM"
say() { echo "$*" | tee -a "$SUM"; }

say "$(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null)"
say "commit $(git rev-parse --short HEAD 2>/dev/null)"
# shellcheck disable=SC2086
if ! cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLMC_CUDA_ARCHITECTURES="${CUDA_ARCH:-90-real}" \
    ${CMAKE_FLAGS:-} >"$OUT/build.log" 2>&1 ||
    ! cmake --build "$BUILD" -j "$(nproc)" >>"$OUT/build.log" 2>&1; then
    say "build failed: $OUT/build.log"
    exit 1
fi

export LMC_SOURCE_DIR=$REPO LMC_SHARED=${LMC_SHARED:-$REPO/../shared}
FAM=$OUT/family-models
if python3 -c "import numpy, gguf" 2>/dev/null; then
    export LMC_FAMILY_MODELS=$FAM
    python3 - "$FAM" <<'PY' >>"$OUT/build.log" 2>&1
import json, os, sys
sys.path.insert(0, "scripts")
import make_family_goldens as gen
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
g = json.load(open("tests/data/families/goldens.json"))
models = {c["name"]: c for c in g["models"]}
for e in g["goldens"]:
    path = os.path.join(out, e["file"])
    if e["type"] in ("F32", "F16") and not os.path.exists(path):
        gen.write_model(models[e["model"]], path, e["type"])
PY
fi

fails=0
for t in ${SUITES:-test_cuda_ops test_cuda_block_ops test_cuda_model test_cuda_families test_cuda_batch test_cuda_split test_cuda_tp test_split_plan}; do
    start=$(date +%s)
    "$BUILD/$t" >"$OUT/$t.log" 2>&1
    rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 77 ] && fails=$((fails + 1))
    say "$t: rc $rc, $(($(date +%s) - start)) s, $(tail -1 "$OUT/$t.log")"
done

if [ "${BENCH:-1}" != 0 ]; then
    mkdir -p "$OUT/synth"
    say "decode tg128 (tok/s) and bytes/s vs llama (bench/decode_bytes.py: the weight bytes a step reads), bench/synth_family.py 1.41 B Q4_0:"
    ref=""
    for a in ${ARCHS:-llama qwen2 phi3 qwen3 gemma2 gemma3}; do
        f=$OUT/synth/$a.gguf
        [ -f "$f" ] || python3 bench/synth_family.py "$f" --arch "$a" >/dev/null || continue
        size=$(python3 bench/decode_bytes.py "$f" 2>/dev/null || stat -c %s "$f")
        for tail in 1 0; do
            tg=$(LMC_CUDA_TAIL=$tail "$BUILD/lmc" bench -m "$f" --device cuda -ngl 99 -p 0 -n 128 \
                -r 3 --json 2>>"$OUT/bench.err" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["avg_ts"])')
            [ -z "$tg" ] && continue
            [ "$a" = llama ] && [ "$tail" = 1 ] && ref="$tg $size"
            ratio=$(python3 -c "r='$ref'.split(); print(round($tg * $size / (float(r[0]) * int(r[1])), 3) if r else '')")
            say "  $a TAIL=$tail: $tg tok/s, bytes/s vs llama $ratio"
        done
    done
fi
if [ "${DEPTH:-0}" != 0 ] && [ -f "$OUT/synth/llama.gguf" ]; then
    say "decode tg64 (tok/s) at depth, llama 1.41 B Q4_0, grouped attention by default / never:"
    for g in default 0; do
        r=$(if [ $g = 0 ]; then export LMC_CUDA_ATT_GQA=0; fi
            "$BUILD/lmc" bench -m "$OUT/synth/llama.gguf" --device cuda -ngl 99 -p 0 -n 64 -r 2 \
                -d 0,4096,16384 --json 2>>"$OUT/bench.err" |
                python3 -c 'import json,sys; print(" ".join("d%s %.0f" % (x["n_depth"], x["avg_ts"]) for x in json.load(sys.stdin)))')
        case $g in 0) label="LMC_CUDA_ATT_GQA=0" ;; *) label=default ;; esac
        say "  $label: $r"
    done
fi
say "suites failed: $fails"
[ $fails -eq 0 ]
