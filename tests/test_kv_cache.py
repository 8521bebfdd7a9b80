#!/usr/bin/env python3
"""test_kv_cache.py — the KV cache types (-ctk/-ctv, --cache-type-k/-v) end to end: `lmc logits` with an
f16 cache against llama.cpp (llama-cpp-python, type_k = type_v = GGML_TYPE_F16, no flash attention) run
live on stories260K and on family models (GQA, gemma2's soft-cap and sliding window, phi3's LongRoPE):
NMSE within the quantized-model tolerance of test_families.py (5e-3) and the same argmax; the f16
cache really is f16 (its logits differ from the f32 cache's, by about what llama.cpp's f16 and f32
caches differ). Then the flags themselves: every subcommand that makes a context takes them, an
unknown type name is a usage error listing the choices, and `lmc bench --json` records the types."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, shared_dir, source_dir  # noqa: E402

DATA = os.path.join(source_dir(), "tests", "data", "families")
LIMIT = 5e-3  # test_families.py's NMSE limit for quantized models against llama.cpp
GGML_TYPE_F32, GGML_TYPE_F16 = 0, 1


def nmse(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b)) / sum(y * y for y in b)


def argmax(v):
    return max(range(len(v)), key=lambda i: (v[i], -i))


def lmc_logits(model, ids, n_ctx, kv):
    r = subprocess.run([lmc_bin(), "logits", "-m", model, "--ids", ",".join(map(str, ids)), "-n", "1",
                        "-t", "2", "-c", str(n_ctx), "--device", "cpu", "-ctk", kv, "--cache-type-v", kv],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"{model} -ctk {kv}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)["logits"] if r.returncode == 0 else None


def llama_logits(model, ids, n_ctx, ggml_type):
    import llama_cpp

    llm = llama_cpp.Llama(model, n_ctx=n_ctx, n_batch=512, n_threads=2, logits_all=True,
                          type_k=ggml_type, type_v=ggml_type, flash_attn=False, verbose=False)
    llm.eval(ids)
    out = [float(x) for x in llm.scores[len(ids) - 1]]
    del llm
    return out


def check_against_llamacpp():
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("llama-cpp-python is not installed: the comparison with llama.cpp is skipped")
        return
    stories = os.path.join(shared_dir("models"), "stories260K.gguf")
    prompt = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 1576 % 512, 29, 11, 400]
    cases = [(stories, prompt * 4, 256)]
    goldens = json.load(open(os.path.join(DATA, "goldens.json")))
    for name in ("qwen3-gqa-Q8_0.gguf", "gemma2-swa-Q8_0.gguf", "phi3-fused-longrope-Q4_0.gguf"):
        g = next(x for x in goldens["goldens"] if x["file"] == name)
        cases.append((os.path.join(DATA, name), g["prompt_ids"], g["n_ctx"]))
    for model, ids, n_ctx in cases:
        what = os.path.basename(model)
        got16 = lmc_logits(model, ids, n_ctx, "f16")
        got32 = lmc_logits(model, ids, n_ctx, "f32")
        ref16 = llama_logits(model, ids, n_ctx, GGML_TYPE_F16)
        ref32 = llama_logits(model, ids, n_ctx, GGML_TYPE_F32)
        if got16 is None or got32 is None:
            continue
        e = nmse(got16, ref16)
        e32 = nmse(got32, ref32)
        own, theirs = nmse(got16, got32), nmse(ref16, ref32)
        print(f"{what}: f16 cache vs llama.cpp's f16 cache nmse {e:.3g} (f32 caches: {e32:.3g}); "
              f"f16 vs f32 cache: lmc {own:.3g}, llama.cpp {theirs:.3g}")
        check(e <= LIMIT, f"{what}: f16 cache: nmse {e:.3g} vs llama.cpp > {LIMIT}")
        check(argmax(got16) == argmax(ref16), f"{what}: f16 cache: argmax differs from llama.cpp's")
        check(own > 0, f"{what}: -ctk/-ctv f16 gives the f32 cache's logits bit for bit")
        check(own <= 10 * theirs + 1e-9,
              f"{what}: lmc's f16 cache moves the logits {own:.3g}, llama.cpp's {theirs:.3g}")


def check_flags():
    stories = os.path.join(shared_dir("models"), "stories260K.gguf")
    lmc = lmc_bin()
    for cmd in ("run", "chat", "serve", "bench", "logits", "perplexity"):
        r = subprocess.run([lmc, cmd, "--help"], capture_output=True, text=True)
        check(r.returncode == 0 and "--cache-type-k" in r.stdout and "-ctv" in r.stdout,
              f"lmc {cmd} --help lists -ctk/-ctv")
        for flag in ("-ctk", "--cache-type-v"):
            r = subprocess.run([lmc, cmd, "-m", stories, flag, "q4_0", "-p", "x"], capture_output=True,
                               text=True, timeout=60)
            check(r.returncode == 2 and "f32 or f16" in r.stderr and "q4_0" in r.stderr,
                  f"lmc {cmd} {flag} q4_0: exit {r.returncode}, {r.stderr.strip()!r}")
    r = subprocess.run([lmc, "tokenize", "-m", stories, "-ctk", "f16", "-p", "x"], capture_output=True,
                       text=True)
    check(r.returncode == 2 and "-ctk" in r.stderr, f"tokenize -ctk: {r.returncode} {r.stderr.strip()!r}")
    r = subprocess.run([lmc, "run", "-m", stories, "-p", "Once upon a time", "-n", "4", "--temp", "0",
                        "-ctk", "f16", "-ctv", "f16"], capture_output=True, text=True)
    check(r.returncode == 0, f"run -ctk f16 -ctv f16: {r.returncode} {r.stderr.strip()}")
    r = subprocess.run([lmc, "bench", "-m", stories, "-p", "16", "-n", "4", "-r", "1", "-t", "1",
                        "-ctk", "f16", "--json"], capture_output=True, text=True)
    check(r.returncode == 0, f"bench -ctk f16: {r.returncode} {r.stderr.strip()}")
    if r.returncode == 0:
        rows = json.loads(r.stdout)
        check(rows and all(x["type_k"] == "f16" and x["type_v"] == "f32" for x in rows),
              f"bench --json type_k/type_v: {[(x.get('type_k'), x.get('type_v')) for x in rows]}")


def main():
    lmc_bin()
    check_flags()
    check_against_llamacpp()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
