#!/usr/bin/env python3
"""test_quantize.py — `lmc quantize` against llama-quantize: every case of scripts/quant_models.py
(four synthetic geometries x 17 file types, plus --pure, explicit output/embedding types and
requantization) must give the file llama.cpp gives, byte for byte; the per-tensor hashes say which
tensor differs when not. References: tests/data/quantize_refs.json (scripts/make_quant_refs.py).
Also the error cases: an existing output without --force, an unknown type, a truncated or
non-GGUF input,
a quantized input without --allow-requantize, and a quantized model that runs."""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
import quant_models as qm  # noqa: E402

LMC = os.environ.get("LMC_BIN", os.path.join(HERE, "..", "build", "lmc"))


def lmc(*args):
    return subprocess.run([LMC, *args], capture_output=True, text=True)


def quantize(src, dst, ftype, opts, extra=()):
    args = ["quantize", "-q", "-t", "2", "--force", *extra]
    if opts.get("pure"):
        args.append("--pure")
    if "output" in opts:
        args += ["--output-tensor-type", opts["output"]]
    if "embd" in opts:
        args += ["--token-embedding-type", opts["embd"]]
    return lmc(*args, src, dst, ftype)


def check_cases(work, refs):
    fails = 0
    for name, g, ftype, opts in qm.cases():
        ref = refs["cases"][name]
        src = os.path.join(work, g + ".gguf")
        extra = ()
        if "requant_from" in opts:
            mid = os.path.join(work, name + ".src.gguf")
            r = quantize(src, mid, opts["requant_from"], {})
            if r.returncode:
                print(f"FAIL {name}: making the source: {r.stderr.strip()}")
                fails += 1
                continue
            src, extra = mid, ("--allow-requantize",)
        dst = os.path.join(work, name + ".gguf")
        r = quantize(src, dst, ftype, opts, extra)
        if ref.get("error"):
            if r.returncode == 0:
                print(f"FAIL {name}: llama.cpp refuses it, lmc did not")
                fails += 1
            continue
        if r.returncode:
            print(f"FAIL {name}: {r.stderr.strip()}")
            fails += 1
            continue
        got = hashlib.sha256(open(dst, "rb").read()).hexdigest()
        if got != ref["file"]:
            mine = qm.tensor_hashes(dst)
            bad = [f"{n}: {t} vs {rt}" + ("" if h[:24] == rh else " (data)")
                   for (n, t, h), (rn, rt, rh) in zip(mine, ref["tensors"])
                   if (t, h[:24]) != (rt, rh) or n != rn]
            print(f"FAIL {name}: file differs; tensors: {bad[:6] or 'same data (metadata differs)'}")
            fails += 1
        os.remove(dst)
    return fails


def check_errors(work):
    fails = 0
    src = os.path.join(work, "gqa.gguf")
    out = os.path.join(work, "exists.gguf")
    open(out, "wb").write(b"keep")
    r = lmc("quantize", "-q", src, out, "Q4_0")
    if r.returncode == 0 or open(out, "rb").read() != b"keep" or "--force" not in r.stderr:
        print("FAIL: an existing output was not refused without --force")
        fails += 1
    r = lmc("quantize", "-q", src, os.path.join(work, "x.gguf"), "Q7_Z")
    if r.returncode != 2:
        print("FAIL: an unknown type is not a usage error")
        fails += 1
    trunc = os.path.join(work, "trunc.gguf")
    open(trunc, "wb").write(open(src, "rb").read()[:5000])
    dst = os.path.join(work, "t.gguf")
    r = lmc("quantize", "-q", trunc, dst, "Q4_0")
    if r.returncode == 0 or os.path.exists(dst) or "error" not in r.stderr:
        print(f"FAIL: a truncated input: rc {r.returncode} {r.stderr.strip()}")
        fails += 1
    notgguf = os.path.join(work, "text.gguf")
    open(notgguf, "w").write("this is not a model\n" * 10)
    r = lmc("quantize", "-q", notgguf, dst, "Q4_0")
    if r.returncode == 0 or os.path.exists(dst) or "error" not in r.stderr:
        print(f"FAIL: a non-GGUF input: rc {r.returncode} {r.stderr.strip()}")
        fails += 1
    q = os.path.join(work, "q8.gguf")
    lmc("quantize", "-q", "--force", src, q, "Q8_0")
    r = lmc("quantize", "-q", q, dst, "Q4_K_M")
    if r.returncode == 0 or "requantiz" not in r.stderr or os.path.exists(dst):
        print(f"FAIL: a quantized input without --allow-requantize: {r.stderr.strip()}")
        fails += 1
    leftovers = [f for f in os.listdir(work) if ".tmp-" in f]
    if leftovers:
        print(f"FAIL: temporary files left: {leftovers}")
        fails += 1
    return fails


def check_runs(work):
    """A Q8_0 model of the gqa geometry gives nearly the F32 model's logits."""
    src = os.path.join(work, "gqa.gguf")
    q = os.path.join(work, "gqa-q8.gguf")
    lmc("quantize", "-q", "--force", src, q, "Q8_0")
    outs = []
    for m in (src, q):
        r = lmc("logits", "-m", m, "--ids", "1,5,9,20,33", "-t", "2")
        if r.returncode:
            print(f"FAIL: lmc logits on {m}: {r.stderr.strip()}")
            return 1
        outs.append(json.loads(r.stdout))
    a, b = outs[0]["logits"], outs[1]["logits"]
    num = sum((x - y) ** 2 for x, y in zip(a, b))
    den = sum(x * x for x in a) or 1.0
    if num / den > 1e-3:
        print(f"FAIL: Q8_0 logits far from F32: nmse {num / den:.3g}")
        return 1
    print(f"ok: Q8_0 of the gqa model runs, logits nmse vs F32 {num / den:.2e}")
    return 0


def main():
    if not os.path.exists(LMC):
        print("lmc binary not found")
        return 77
    refs = json.load(open(os.path.join(HERE, "data", "quantize_refs.json")))
    with tempfile.TemporaryDirectory(prefix="lmc-quant-") as work:
        for g in qm.GEOMETRIES:
            qm.write_model(g, os.path.join(work, g + ".gguf"))
        fails = check_cases(work, refs)
        n = len(qm.cases())
        print(f"{n - fails}/{n} quantize cases identical to llama-quantize "
              f"(llama-cpp-python {refs['llama_cpp_python']})")
        fails += check_errors(work)
        fails += check_runs(work)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
