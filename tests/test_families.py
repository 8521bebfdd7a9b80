#!/usr/bin/env python3
"""test_families.py — qwen2, qwen3, gemma2, gemma3 and phi3 against llama.cpp: `lmc logits` on the
small random-weight models of scripts/make_family_goldens.py (F32/F16 rebuilt here from their seeds,
the quantized ones committed in tests/data/families) vs the goldens llama-cpp-python wrote for them:
NMSE <= 1e-4 (F32/F16) or 5e-3 (quantized), the same argmax, greedy ids identical until the
reference's top-1/top-2 margin falls below 0.05; with the default kernels and with LMC_KERNELS=ref.
Then hostile variants (a qwen3 without its q/k norms, a tensor of the wrong shape, an unknown
architecture) are refused with a message naming the problem, and `lmc inspect` names the
architecture. The real Gemma-3-270M (in the lmc cache) is checked when present."""
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import cache_dir, check, finish, lmc_bin, source_dir  # noqa: E402

DATA = os.path.join(source_dir(), "tests", "data", "families")
MARGIN = 0.05


def nmse(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b)) / sum(y * y for y in b)


def argmax(v):
    return max(range(len(v)), key=lambda i: (v[i], -i))


def run_logits(model, ids, n, n_ctx, kernels=None):
    env = dict(os.environ)
    if kernels:
        env["LMC_KERNELS"] = kernels
    r = subprocess.run([lmc_bin(), "logits", "-m", model, "--ids", ",".join(map(str, ids)), "-n",
                        str(n), "-t", "2", "-c", str(n_ctx), "--device", "cpu"],
                       capture_output=True, text=True, env=env)
    return r, (json.loads(r.stdout) if r.returncode == 0 else None)


def greedy_agrees(got, ref, margins, sure=MARGIN):
    """Ids equal while the reference is sure of its choice (margin >= sure)."""
    for g, r, m in zip(got, ref, margins):
        if m < sure:
            return True
        if g != r:
            return False
    return True


def check_goldens(gen, tmp):
    goldens = json.load(open(os.path.join(DATA, "goldens.json")))
    by_name = {c["name"]: c for c in goldens["models"]}
    for g in goldens["goldens"]:
        if g["type"] in ("F32", "F16"):
            if gen is None:
                print(f"{g['file']}: skipped (no numpy/gguf to rebuild it)")
                continue
            path = os.path.join(tmp, g["file"])
            if not os.path.exists(path):
                gen.write_model(by_name[g["model"]], path, g["type"])
            limit = 1e-4
        else:
            path = os.path.join(DATA, g["file"])
            limit = 5e-3
        for kernels in (None, "ref"):
            what = f"{g['file']} n_ctx {g['n_ctx']} kernels {kernels or 'default'}"
            r, out = run_logits(path, g["prompt_ids"], len(g["greedy_ids"]), g["n_ctx"], kernels)
            check(out is not None, f"{what}: exit {r.returncode}: {r.stderr.strip()}")
            if out is None:
                continue
            e = nmse(out["logits"], g["logits"])
            same = greedy_agrees(out["greedy_ids"], g["greedy_ids"], g["margins"])
            print(f"{what}: nmse {e:.3g}, greedy {'agrees' if same else 'DIFFERS'}")
            check(e <= limit, f"{what}: nmse {e:.3g} > {limit}")
            check(argmax(out["logits"]) == argmax(g["logits"]), f"{what}: argmax differs")
            check(same, f"{what}: greedy {out['greedy_ids']} vs {g['greedy_ids']}")


def check_hostile(gen, tmp):
    """Files that lie about their architecture are refused, naming the tensor or the key."""
    if gen is None:
        return
    c = dict(next(m for m in gen.MODELS if m["name"] == "qwen3-gqa"), layers=2)
    cases = [
        ("no-qnorm", c, lambda ts: [t for t in ts if t[0] != "blk.1.attn_q_norm.weight"],
         "blk.1.attn_q_norm.weight is missing"),
        ("bad-shape", c,
         lambda ts: [(n, a[:, :-32] if n == "blk.0.ffn_up.weight" else a) for n, a in ts],
         "blk.0.ffn_up.weight: shape"),
        ("qwen2-no-bias", dict(c, arch="qwen2", head_dim=32),
         lambda ts: [t for t in ts if t[0] != "blk.0.attn_k.bias"], "blk.0.attn_k.bias is missing"),
        ("phi3-no-qkv", dict(c, arch="phi3", fused_qkv=True, head_dim=32),
         lambda ts: [t for t in ts if "attn_qkv" not in t[0] or t[0].startswith("blk.0")],
         "blk.1.attn_q.weight is missing"),
        ("unknown-arch", dict(c, arch="gpt2"), None, "lmc runs: llama, mistral, qwen2, qwen3"),
        ("zero-rope-factor", dict(c, arch="phi3", head_dim=32, rope_factors=True),
         lambda ts: [(n, a * 0 if n == "rope_factors_short.weight" else a) for n, a in ts],
         "rope_factors_short.weight: value 0 is 0"),
        # partial rotary: the rotated dims even and within the head, one divisor per rotated pair
        ("rope-dims-odd", dict(c, arch="phi3", head_dim=32, rot=31), None,
         "phi3.rope.dimension_count 31 with head size 32"),
        ("rope-dims-past-head", dict(c, arch="phi3", head_dim=32, rot=34), None,
         "phi3.rope.dimension_count 34 with head size 32"),
        ("rope-factors-head-long", dict(c, arch="phi3", head_dim=32, rot=24, rope_factors=True),
         lambda ts: [(n, gen.np.ones(16, gen.np.float32) if n == "rope_factors_long.weight" else a)
                     for n, a in ts],
         "rope_factors_long.weight: shape [12, 1]"),
    ]
    for name, cfg, edit, want in cases:
        path = os.path.join(tmp, f"hostile-{name}.gguf")
        gen.write_model(cfg, path, "F32", edit=edit)
        r, out = run_logits(path, [1, 5, 6], 1, 64)
        check(r.returncode != 0 and want in r.stderr,
              f"hostile {name}: exit {r.returncode}, stderr {r.stderr.strip()!r} (want {want!r})")


def check_inspect(tmp):
    path = os.path.join(DATA, "gemma3-swa-linear-Q8_0.gguf")
    r = subprocess.run([lmc_bin(), "inspect", "--no-tensors", path], capture_output=True, text=True)
    check(r.returncode == 0 and "architecture: gemma3: n_embd 64" in r.stdout and
          "sliding window 8 (pattern 6)" in r.stdout and "qk-norm" in r.stdout,
          f"inspect names the architecture: {r.stdout[-600:]!r} {r.stderr!r}")


def check_gemma3_270m():
    """The real Gemma-3-270M Q4_K_M against llama.cpp, with the default kernels and the reference
    ones: the logits after a fixed prompt and its greedy ids while llama.cpp is sure of them (its
    margin above both MARGIN and the golden's margin_noise: this model's margins move by that much in
    llama.cpp itself when only the order of the sums changes); then a prompt whose 24 greedy ids all
    have wide margins, as ids (`lmc logits`) and as the text `lmc run --temp 0` prints."""
    path = os.path.join(cache_dir(), "gemma-3-270m-q4_k_m.gguf")
    if not os.path.exists(path):
        print(f"SKIP: {path} is absent (the real Gemma-3-270M check)")
        return
    g = json.load(open(os.path.join(DATA, "gemma3-270m.golden.json")))
    with gzip.open(os.path.join(DATA, g["logits_file"])) as f:
        raw = f.read()
    g["logits"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    sure = max(MARGIN, g["margin_noise"])
    run = g["run"]
    for kernels in (None, "ref"):
        name = f"gemma-3-270m Q4_K_M ({kernels or 'default'} kernels)"
        r, out = run_logits(path, g["prompt_ids"], len(g["greedy_ids"]), g["n_ctx"], kernels)
        check(out is not None, f"{name}: exit {r.returncode}: {r.stderr.strip()}")
        if out:
            e = nmse(out["logits"], g["logits"])
            print(f"{name}: nmse {e:.3g}, greedy ids "
                  f"{'equal' if out['greedy_ids'] == g['greedy_ids'] else 'differ'}")
            check(e <= 5e-3, f"{name}: nmse {e:.3g}")
            check(argmax(out["logits"]) == argmax(g["logits"]), f"{name}: argmax differs")
            check(greedy_agrees(out["greedy_ids"], g["greedy_ids"], g["margins"], sure),
                  f"{name}: greedy {out['greedy_ids']} vs {g['greedy_ids']}")
        r, out = run_logits(path, run["prompt_ids"], len(run["greedy_ids"]), g["n_ctx"], kernels)
        check(out is not None and out["greedy_ids"] == run["greedy_ids"],
              f"{name}: {run['prompt']!r}: greedy {out and out['greedy_ids']} vs "
              f"{run['greedy_ids']} ({r.stderr.strip()[-300:]})")
    r = subprocess.run([lmc_bin(), "run", "-m", path, "-p", run["prompt"], "-n",
                        str(len(run["greedy_ids"])), "--temp", "0", "-t", "2", "--device", "cpu"],
                       capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.rstrip("\n") == run["prompt"] + run["text"],
          f"lmc run --temp 0: {r.stdout!r} vs {run['prompt'] + run['text']!r} ({r.stderr[-300:]})")


def main():
    lmc_bin()
    try:
        sys.path.insert(0, os.path.join(source_dir(), "scripts"))
        import make_family_goldens as gen
    except ImportError as e:
        print(f"note: {e}: the F32/F16 models and the hostile files are not rebuilt")
        gen = None
    with tempfile.TemporaryDirectory() as tmp:
        check_goldens(gen, tmp)
        check_hostile(gen, tmp)
        check_inspect(tmp)
    check_gemma3_270m()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
