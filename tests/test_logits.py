#!/usr/bin/env python3
"""test_logits.py — `lmc logits` end to end against independent references: every synthetic type's
logits vs logits_exact (float64 numpy over exactly dequantized weights) by NMSE and argmax, greedy ids
vs llama.cpp where activations are not quantized by it (F16, BF16, Q8_0), and the goldens of
stories260K and llama-2-tiny-random; thread counts, --dump and the error cases of the command."""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, shared_dir  # noqa: E402


def nmse(a, b):
    num = sum((x - y) ** 2 for x, y in zip(a, b))
    den = sum(y * y for y in b)
    return num / den


def argmax(v):
    return max(range(len(v)), key=lambda i: (v[i], -i))


def lmc(*args):
    return subprocess.run([lmc_bin(), "logits", *args], capture_output=True, text=True)


def logits(model, ids, n, threads=2, extra=()):
    r = lmc("-m", model, "--ids", ",".join(map(str, ids)), "-n", str(n), "-t", str(threads), *extra)
    check(r.returncode == 0, f"{model}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout) if r.returncode == 0 else None, r.stdout


def main():
    lmc_bin()
    models = shared_dir("models")

    # every tensor type: NMSE vs the exact reference, argmax, greedy ids where llama.cpp is exact too
    refs = sorted(glob.glob(os.path.join(models, "synthetic", "synthetic-A-*.ref.json")))
    check(len(refs) >= 12, f"only {len(refs)} synthetic references found")
    for ref_path in refs:
        ref = json.load(open(ref_path))
        typ = ref_path.split("synthetic-A-")[1][: -len(".ref.json")]
        out, _ = logits(ref_path.replace(".ref.json", ".gguf"), ref["prompt_ids"], 16)
        if not out:
            continue
        e = nmse(out["logits"], ref["logits_exact"])
        e_llama = nmse(ref["logits_llamacpp"], ref["logits_exact"])
        limit = 1e-5 if typ in ("F16", "BF16") else 2e-3
        same_greedy = out["greedy_ids"] == ref["greedy_ids_llamacpp"]
        print(f"{typ:7s} nmse vs exact {e:.3g} (llama.cpp {e_llama:.3g}), greedy ids "
              f"{'equal to' if same_greedy else 'differ from'} llama.cpp's")
        check(e <= limit, f"{typ}: nmse {e:.3g} > {limit}")
        check(argmax(out["logits"]) == argmax(ref["logits_exact"]), f"{typ}: argmax differs")
        check(out["prompt_ids"] == ref["prompt_ids"], f"{typ}: prompt_ids not echoed")
        if typ in ("F16", "BF16", "Q8_0"):
            check(same_greedy, f"{typ}: greedy {out['greedy_ids']} != {ref['greedy_ids_llamacpp']}")

    # goldens of the real (trained / random) models
    for name, model in (("stories260K.bos.greedy64.json", "stories260K.gguf"),
                        ("stories260K.once-upon-a-time.greedy32.json", "stories260K.gguf"),
                        ("llama-2-tiny-random.hello-world.greedy16.json", "llama-2-tiny-random.gguf")):
        g = json.load(open(os.path.join(models, "golden", name)))
        out, _ = logits(os.path.join(models, model), g["prompt_ids"], len(g["greedy_ids"]))
        if not out:
            continue
        e = nmse(out["logits"], g["logits_after_prompt_all"])
        print(f"{name}: nmse {e:.3g}, greedy ids {'equal' if out['greedy_ids'] == g['greedy_ids'] else 'DIFFER'}")
        check(e <= 1e-5, f"{name}: nmse {e:.3g}")
        check(out["greedy_ids"] == g["greedy_ids"], f"{name}: greedy {out['greedy_ids']} != {g['greedy_ids']}")

    # --prompt tokenizes (with BOS) to the golden's ids; -n 0 gives no greedy ids
    g = json.load(open(os.path.join(models, "golden", "stories260K.once-upon-a-time.greedy32.json")))
    r = lmc("-m", os.path.join(models, "stories260K.gguf"), "--prompt", "Once upon a time", "-n", "32", "-t", "2")
    check(r.returncode == 0, f"--prompt: {r.stderr.strip()}")
    if r.returncode == 0:
        out = json.loads(r.stdout)
        check(out["prompt_ids"] == g["prompt_ids"], f"--prompt ids {out['prompt_ids']} != {g['prompt_ids']}")
        check(out["greedy_ids"] == g["greedy_ids"], "--prompt greedy ids differ from the golden")
    out, _ = logits(os.path.join(models, "stories260K.gguf"), [1], 0)
    check(out is not None and out["greedy_ids"] == [] and len(out["logits"]) == 512, "-n 0")

    # thread counts give the same bytes
    q4 = os.path.join(models, "synthetic", "synthetic-A-Q4_K_M.gguf")
    _, t1 = logits(q4, [1, 403, 407, 261, 378], 4, threads=1)
    _, t2 = logits(q4, [1, 403, 407, 261, 378], 4, threads=2)
    check(t1 == t2 and t1, "-t 1 and -t 2 print different logits")

    # --dump writes each layer's residual, the final norm and the logits of the last prompt token
    stories = os.path.join(models, "stories260K.gguf")
    with tempfile.TemporaryDirectory() as d:
        out, _ = logits(stories, [1, 403, 407], 2, extra=("--dump", d))
        files = sorted(os.listdir(d))
        check(files == ["final_norm.f32", "layer_00.f32", "layer_01.f32", "layer_02.f32", "layer_03.f32",
                        "layer_04.f32", "logits.f32"], f"dump files: {files}")
        if out and "logits.f32" in files:
            raw = open(os.path.join(d, "logits.f32"), "rb").read()
            dumped = list(struct.unpack(f"<{len(raw) // 4}f", raw))
            as_f32 = list(struct.unpack(f"<{len(out['logits'])}f", struct.pack(f"<{len(out['logits'])}f", *out["logits"])))
            check(dumped == as_f32, "logits.f32 differs from the JSON logits (%.9g must round-trip)")
            check(os.path.getsize(os.path.join(d, "layer_04.f32")) == 64 * 4, "layer dump size")

    # errors: one line on stderr, nothing on stdout, non-zero exit
    r = lmc("-m", stories, "--ids", "1,512")
    check(r.returncode == 1 and not r.stdout and "vocabulary" in r.stderr, f"token 512: {r.returncode} {r.stderr}")
    r = lmc("-m", stories, "--ids", "1,403,407,261,378", "-c", "4")
    check(r.returncode == 1 and not r.stdout and "-c" in r.stderr, f"context 4: {r.returncode} {r.stderr}")
    r = lmc("-m", stories, "--ids", "1,403", "-c", "4", "-n", "8")
    check(r.returncode == 1 and not r.stdout and "context full" in r.stderr, f"generation past -c: {r.stderr}")
    r = lmc("-m", stories, "--ids", "1,x")
    check(r.returncode == 2 and not r.stdout, f"bad --ids: {r.returncode}")
    r = lmc("-m", stories)
    check(r.returncode == 2, "no prompt accepted")
    r = lmc("--help")
    check(r.returncode == 0 and "--ids" in r.stdout, "--help")

    return finish()


if __name__ == "__main__":
    sys.exit(main())
