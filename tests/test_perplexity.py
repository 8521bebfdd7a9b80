#!/usr/bin/env python3
"""test_perplexity.py — `lmc perplexity` against llama-perplexity's method computed from
llama-cpp-python's logits (tests/data/ppl_golden.json, made by scripts/ppl_reference.py on
stories260K with an f32 KV cache, as lmc keeps it): the final PPL and every running value. Then the
KL divergence: a model against its own base (zero divergence, the same top token everywhere), a
Q8_0 copy against the F32 base (small, positive), and the errors: a text shorter than two chunks,
a base from another vocabulary, another text than the base's, a file that is not a base."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LMC = os.environ.get("LMC_BIN", os.path.join(HERE, "..", "build", "lmc"))
SHARED = os.environ.get("LMC_SHARED", os.path.join(HERE, "..", "..", "shared"))
TEXT = os.path.join(HERE, "data", "ppl_text.txt")

# Measured on the reference machine: lmc vs llama.cpp (f32 KV) 2e-8 relative on the final PPL,
# 3e-7 on a running value; kept with a margin for other SIMD kernel sets.
TOL_FINAL = 1e-6
TOL_CHUNK = 1e-5


def lmc(*args):
    return subprocess.run([LMC, *args], capture_output=True, text=True)


def check_ppl(model, golden):
    r = lmc("perplexity", "-m", model, "-f", TEXT, "-c", "128", "-t", "2", "--json")
    if r.returncode:
        print(f"FAIL: perplexity: {r.stderr.strip()}")
        return 1
    got = json.loads(r.stdout)
    ref = golden["kv_f32"]
    fails = 0
    rel = abs(got["ppl"] / ref["ppl"] - 1)
    worst = max(abs(a / b - 1) for a, b in zip(got["chunks"], ref["chunks"]))
    print(f"PPL {got['ppl']:.6f} (llama.cpp, f32 KV: {ref['ppl']:.6f}; f16 KV: "
          f"{golden['kv_f16']['ppl']:.6f}); relative difference {rel:.2e}, worst chunk {worst:.2e}")
    if got["n_tokens"] != golden["n_tokens"] or got["n_scored"] != golden["n_scored"]:
        print(f"FAIL: tokens {got['n_tokens']}/{got['n_scored']} vs {golden['n_tokens']}/"
              f"{golden['n_scored']}")
        fails += 1
    if rel > TOL_FINAL or worst > TOL_CHUNK or len(got["chunks"]) != len(ref["chunks"]):
        print("FAIL: perplexity differs from llama-perplexity's")
        fails += 1
    r = lmc("perplexity", "-m", model, "-f", TEXT, "-c", "128", "-t", "2", "--chunks", "3")
    if r.returncode or "Final estimate: PPL = " not in r.stdout or "[3]" not in r.stdout:
        print(f"FAIL: text output: {r.stdout[-200:]}")
        fails += 1
    return fails


def kld(model, base, *extra):
    r = lmc("perplexity", "-m", model, "--kl-divergence", "--kl-divergence-base", base, "-t",
            "2", "--json", *extra)
    return r, (json.loads(r.stdout) if r.returncode == 0 else None)


def check_kld(model, work):
    fails = 0
    base = os.path.join(work, "base.kld")
    r = lmc("perplexity", "-m", model, "-f", TEXT, "-c", "128", "-t", "2", "--chunks", "8",
            "--kl-divergence-base", base)
    if r.returncode:
        print(f"FAIL: saving the base: {r.stderr.strip()}")
        return 1
    r, same = kld(model, base, "-f", TEXT)
    if not same or same["kld"] > 1e-5 or same["same_top_p"] != 1.0:
        print(f"FAIL: a model against its own base: {r.stderr.strip()} {same}")
        fails += 1
    q8 = os.path.join(work, "q8.gguf")
    lmc("quantize", "-q", "--force", model, q8, "Q8_0")
    r, q = kld(q8, base)
    if not q or not (0 < q["kld"] < 0.05) or q["same_top_p"] < 0.8:
        print(f"FAIL: Q8_0 against F32: {r.stderr.strip()} {q}")
        fails += 1
    else:
        print(f"Q8_0 vs F32: KLD {q['kld']:.6f} ± {q['kld_unc']:.6f}, same top p "
              f"{100 * q['same_top_p']:.2f}%, PPL ratio {q['ppl_ratio']:.4f}")
    other = os.path.join(SHARED, "models", "llama-2-tiny-random.gguf")
    r = lmc("perplexity", "-m", other, "--kl-divergence", "--kl-divergence-base", base)
    if r.returncode == 0 or "vocabulary" not in r.stderr:
        print(f"FAIL: a base from another vocabulary: {r.stderr.strip()}")
        fails += 1
    short = os.path.join(work, "other.txt")
    open(short, "w").write("A different text entirely. " * 400)
    r, _ = kld(model, base, "-f", short)
    if r.returncode == 0 or "tokens of the base" not in r.stderr:
        print(f"FAIL: another text than the base's: {r.stderr.strip()}")
        fails += 1
    r, _ = kld(model, TEXT)
    if r.returncode == 0 or "not a log-probability file" not in r.stderr:
        print(f"FAIL: a file that is not a base: {r.stderr.strip()}")
        fails += 1
    open(short, "w").write("Too short.")
    r = lmc("perplexity", "-m", model, "-f", short, "-c", "128")
    if r.returncode == 0 or "two chunks" not in r.stderr:
        print(f"FAIL: a text shorter than two chunks: {r.stderr.strip()}")
        fails += 1
    return fails


def main():
    model = os.path.join(SHARED, "models", "stories260K.gguf")
    if not os.path.exists(LMC) or not os.path.exists(model):
        print("lmc or ../shared/models/stories260K.gguf not found")
        return 77
    golden = json.load(open(os.path.join(HERE, "data", "ppl_golden.json")))
    with tempfile.TemporaryDirectory(prefix="lmc-ppl-") as work:
        fails = check_ppl(model, golden) + check_kld(model, work)
    print("ok" if not fails else f"{fails} failure(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
