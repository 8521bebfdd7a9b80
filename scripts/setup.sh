#!/usr/bin/env bash
# setup.sh — installs what a fresh Debian machine lacks to build and test lmc (compilers — clang for the fuzzers —, CMake, the
# -dev packages of PCRE2, cJSON, libmicrohttpd and libedit; Python packages for the tests) and fetches
# the default model; with --tests also the real Gemma-3-270M (the gemma3 tests' end-to-end model,
# ~253 MB). Installs only what is missing; safe to run again. Needs root (or sudo) for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS="build-essential cmake pkg-config libpcre2-dev libcjson-dev libmicrohttpd-dev libedit-dev clang-format clang
          python3 python3-pip unzip chromium"
PY_PKGS="numpy gguf jinja2 openai playwright jsonschema"

missing=""
for p in $APT_PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "setup: installing Debian packages:$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
fi

pymissing=""
for p in $PY_PKGS; do
    python3 -c "import importlib.util,sys; sys.exit(0 if importlib.util.find_spec('$p') else 1)" \
        2>/dev/null || pymissing="$pymissing $p"
done
if [ -n "$pymissing" ]; then
    echo "setup: installing Python packages:$pymissing" >&2
    python3 -m pip install --quiet --disable-pip-version-check $pymissing >&2 ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages $pymissing >&2
fi

scripts/fetch-model.sh >/dev/null
if [ "${1:-}" = --tests ]; then
    scripts/fetch-model.sh gemma3-270m >/dev/null
fi
echo "setup: done" >&2
