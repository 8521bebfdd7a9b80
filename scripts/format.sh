#!/usr/bin/env bash
# format.sh — applies the repository's .clang-format to every C, header and CUDA file that git tracks
# (`scripts/format.sh`), or only checks and lists the files that differ (`scripts/format.sh --check`,
# exit 1 when any does; CI runs this). Uses clang-format 14 (Debian bookworm's), whose output the tree
# is kept in: other versions format some constructs differently.
set -euo pipefail
cd "$(dirname "$0")/.."

CF=""
for c in clang-format-14 clang-format; do
    if command -v "$c" >/dev/null 2>&1; then CF="$c"; break; fi
done
if [ -z "$CF" ]; then
    echo "format: clang-format not found (apt-get install clang-format)" >&2
    exit 2
fi
ver=$("$CF" --version | sed -n 's/.*version \([0-9]*\).*/\1/p')
[ "$ver" = 14 ] || echo "format: warning: $CF is version $ver; the tree is kept in version 14's format" >&2

mapfile -t files < <(git ls-files '*.c' '*.h' '*.cu' '*.cuh')
if [ "${1:-}" = "--check" ]; then
    bad=0
    for f in "${files[@]}"; do
        if ! "$CF" --dry-run --Werror "$f" >/dev/null 2>&1; then
            echo "format: $f differs from .clang-format (run scripts/format.sh)" >&2
            bad=$((bad + 1))
        fi
    done
    echo "format: ${#files[@]} files checked, $bad not formatted" >&2
    [ "$bad" = 0 ]
else
    "$CF" -i "${files[@]}"
    echo "format: ${#files[@]} files formatted" >&2
fi
