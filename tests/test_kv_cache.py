#!/usr/bin/env python3
"""test_kv_cache.py — the KV cache types (-ctk/-ctv, --cache-type-k/-v) end to end: `lmc logits` against
llama.cpp (llama-cpp-python) run live on stories260K and on family models (GQA, gemma2's soft-cap and
sliding window, phi3's LongRoPE). An f16 cache against llama.cpp's f16 cache (type_k = type_v =
GGML_TYPE_F16, no flash attention); a q8_0 cache against llama.cpp's q8_0 cache (GGML_TYPE_Q8_0, which
llama.cpp takes for V only with flash attention, so on: its CPU flash attention scores q8_0 keys against
the query quantized to q8_0, as lmc does). Each within the quantized-model tolerance of test_families.py
(5e-3) with the same argmax; each really is what it says (its logits differ from the f32 cache's, by
about what llama.cpp's own cache of that type moves them against its f32 cache in the same attention
mode). llama.cpp since its PR 21038 turns q, k and v by a Walsh-Hadamard rotation before a quantized
cache stores them when head_dim % 64 == 0 (another quantization of the same attention); lmc stores plain
blocks, so the q8_0 comparison runs llama.cpp with LLAMA_ATTN_ROT_DISABLE=1 (older versions ignore it
and never rotate), and prints the rotated one too. On F32 models (rebuilt from their seeds, as
test_families.py does) that comparison is tight: lmc's q8_0 cache gives llama.cpp's q8_0 logits to NMSE
1e-9 (the same blocks, the same integer dots; gemma2 and phi3, whose query llama.cpp scales before
quantizing it and lmc after the dot, stay ~1e-5 apart). stories260K (head_dim 8) cannot hold q8_0 blocks
of 32: lmc refuses it with a clear error. Then the flags themselves: every subcommand that makes a
context takes them, an unknown type name is a usage error listing the choices, --device cuda with q8_0
is refused naming the CPU, and `lmc bench --json` records the types. The llama.cpp part skips without
llama-cpp-python."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, shared_dir, source_dir  # noqa: E402

DATA = os.path.join(source_dir(), "tests", "data", "families")
LIMIT = 5e-3  # test_families.py's NMSE limit for quantized models against llama.cpp
GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0 = 0, 1, 8


def nmse(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b)) / sum(y * y for y in b)


def argmax(v):
    return max(range(len(v)), key=lambda i: (v[i], -i))


def run_lmc_logits(model, ids, n_ctx, kv):
    return subprocess.run([lmc_bin(), "logits", "-m", model, "--ids", ",".join(map(str, ids)), "-n", "1",
                           "-t", "2", "-c", str(n_ctx), "--device", "cpu", "-ctk", kv, "--cache-type-v",
                           kv], capture_output=True, text=True)


def lmc_logits(model, ids, n_ctx, kv):
    r = run_lmc_logits(model, ids, n_ctx, kv)
    check(r.returncode == 0, f"{model} -ctk {kv}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)["logits"] if r.returncode == 0 else None


def head_dim(model):
    import gguf

    r = gguf.GGUFReader(model)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()

    def get(key):
        f = r.fields.get(f"{arch}.{key}")
        return int(f.parts[-1][0]) if f is not None else None

    return get("attention.key_length") or get("embedding_length") // get("attention.head_count")


def llama_logits(model, ids, n_ctx, ggml_type, flash=False, rotate=False):
    import llama_cpp

    # read when the context's cache is made: 1 keeps a quantized cache's rows unrotated
    os.environ["LLAMA_ATTN_ROT_DISABLE"] = "0" if rotate else "1"
    llm = llama_cpp.Llama(model, n_ctx=n_ctx, n_batch=512, n_threads=2, logits_all=True,
                          type_k=ggml_type, type_v=ggml_type, flash_attn=flash, verbose=False)
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
        if head_dim(model) % 32 != 0:
            continue  # check_q8_0_refused covers it
        # q8_0: llama.cpp needs flash attention for a quantized V; its f32 cache is compared in the
        # same mode, so "moves" compares like with like
        got8 = lmc_logits(model, ids, n_ctx, "q8_0")
        ref8 = llama_logits(model, ids, n_ctx, GGML_TYPE_Q8_0, flash=True)
        ref8rot = llama_logits(model, ids, n_ctx, GGML_TYPE_Q8_0, flash=True, rotate=True)
        ref32fa = llama_logits(model, ids, n_ctx, GGML_TYPE_F32, flash=True)
        if got8 is None:
            continue
        e8, e8rot, e32fa = nmse(got8, ref8), nmse(got8, ref8rot), nmse(got32, ref32fa)
        own8, theirs8 = nmse(got8, got32), nmse(ref8, ref32fa)
        print(f"{what}: q8_0 cache vs llama.cpp's q8_0 cache (flash attention) nmse {e8:.3g} (rotated: "
              f"{e8rot:.3g}; f32 caches, flash attention: {e32fa:.3g}); q8_0 vs f32 cache: lmc {own8:.3g}, "
              f"llama.cpp {theirs8:.3g}")
        check(e8 <= LIMIT, f"{what}: q8_0 cache: nmse {e8:.3g} vs llama.cpp > {LIMIT}")
        check(e8rot <= LIMIT, f"{what}: q8_0 cache: nmse {e8rot:.3g} vs llama.cpp's rotated one > {LIMIT}")
        check(argmax(got8) == argmax(ref8), f"{what}: q8_0 cache: argmax differs from llama.cpp's")
        check(own8 > 0, f"{what}: -ctk/-ctv q8_0 gives the f32 cache's logits bit for bit")
        check(own8 <= 10 * theirs8 + 1e-9,
              f"{what}: lmc's q8_0 cache moves the logits {own8:.3g}, llama.cpp's {theirs8:.3g}")
    check_q8_0_exact()


def check_q8_0_exact():
    """F32 weights leave the cache as the only difference: lmc's q8_0 cache against llama.cpp's (no
    rotation) to 1e-9, where the two caches' blocks and dots are the same (seen: ~1e-13)."""
    import tempfile

    sys.path.insert(0, os.path.join(source_dir(), "scripts"))
    import make_family_goldens as gen

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("qwen3-gqa", "qwen2-gqa-tied"):
            c = next(x for x in gen.MODELS if x["name"] == name)
            path = os.path.join(tmp, f"{name}-F32.gguf")
            gen.write_model(c, path, "F32")
            ids = gen.prompt_ids(c)
            got8 = lmc_logits(path, ids, 256, "q8_0")
            ref8 = llama_logits(path, ids, 256, GGML_TYPE_Q8_0, flash=True)
            if got8 is None:
                continue
            e = nmse(got8, ref8)
            print(f"{name}-F32: q8_0 cache vs llama.cpp's q8_0 cache nmse {e:.3g}")
            check(e <= 1e-9, f"{name}-F32: q8_0 cache: nmse {e:.3g} vs llama.cpp > 1e-9")


def check_q8_0_refused():
    """stories260K's head_dim is 8: no whole q8_0 block per head. lmc says so (exit 1) and names f16."""
    stories = os.path.join(shared_dir("models"), "stories260K.gguf")
    check(head_dim(stories) == 8, "stories260K's head_dim is 8")
    for kv_flags in (["-ctk", "q8_0"], ["-ctv", "q8_0"]):
        r = subprocess.run([lmc_bin(), "logits", "-m", stories, "--ids", "1,403", "-c", "64",
                            "--device", "cpu"] + kv_flags, capture_output=True, text=True)
        check(r.returncode == 1 and "head_dim is 8" in r.stderr and "-ctk f16 -ctv f16" in r.stderr
              and r.stdout == "",
              f"stories260K {' '.join(kv_flags)}: exit {r.returncode}, {r.stderr.strip()!r}")
    # the CUDA backends have no q8_0 cache: refused by name, in builds with and without them
    qwen = os.path.join(DATA, "qwen3-gqa-Q8_0.gguf")
    r = subprocess.run([lmc_bin(), "logits", "-m", qwen, "--ids", "1,2", "-c", "64", "--device", "cuda",
                        "-ctk", "q8_0", "-ctv", "q8_0"], capture_output=True, text=True)
    check(r.returncode == 1 and "CPU backend only" in r.stderr and "--device cpu" in r.stderr,
          f"--device cuda -ctk q8_0: exit {r.returncode}, {r.stderr.strip()!r}")
    r = subprocess.run([lmc_bin(), "run", "-m", qwen, "-p", "x", "-n", "2", "--temp", "0", "-c", "64",
                        "--device", "cpu", "-ctk", "q8_0", "-ctv", "q8_0"], capture_output=True, text=True)
    check(r.returncode == 0, f"run -ctk q8_0 -ctv q8_0: {r.returncode} {r.stderr.strip()}")


def check_flags():
    stories = os.path.join(shared_dir("models"), "stories260K.gguf")
    lmc = lmc_bin()
    for cmd in ("run", "chat", "serve", "bench", "logits", "perplexity"):
        r = subprocess.run([lmc, cmd, "--help"], capture_output=True, text=True)
        check(r.returncode == 0 and "--cache-type-k" in r.stdout and "-ctv" in r.stdout
              and "f32|f16|q8_0" in r.stdout and "CPU only" in r.stdout,
              f"lmc {cmd} --help lists -ctk/-ctv with q8_0 (CPU only)")
        for flag in ("-ctk", "--cache-type-v"):
            r = subprocess.run([lmc, cmd, "-m", stories, flag, "q4_0", "-p", "x"], capture_output=True,
                               text=True, timeout=60)
            check(r.returncode == 2 and "f32, f16 or q8_0" in r.stderr and "q4_0" in r.stderr,
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
    qwen = os.path.join(DATA, "qwen3-gqa-Q8_0.gguf")
    r = subprocess.run([lmc, "bench", "-m", qwen, "-p", "16", "-n", "4", "-r", "1", "-t", "1",
                        "-ctk", "q8_0", "-ctv", "q8_0", "--device", "cpu", "--json"], capture_output=True,
                       text=True)
    check(r.returncode == 0, f"bench -ctk q8_0: {r.returncode} {r.stderr.strip()}")
    if r.returncode == 0:
        rows = json.loads(r.stdout)
        check(rows and all(x["type_k"] == "q8_0" and x["type_v"] == "q8_0" for x in rows),
              f"bench --json q8_0: {[(x.get('type_k'), x.get('type_v')) for x in rows]}")


def main():
    lmc_bin()
    check_flags()
    check_q8_0_refused()
    check_against_llamacpp()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
