#!/usr/bin/env python3
"""make_quant_refs.py — the references of tests/test_quantize.py: every case of
scripts/quant_models.py quantized by llama.cpp's quantizer (llama-cpp-python's
llama_model_quantize, default parameters, no importance matrix), recorded as the SHA-256 of the
whole output file and of each tensor's data, or as an error when llama.cpp refuses the case.

usage: make_quant_refs.py [WORK_DIR]   (needs llama-cpp-python; writes tests/data/quantize_refs.json)
"""
import ctypes
import hashlib
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quant_models as qm  # noqa: E402

import llama_cpp  # noqa: E402

GGML_TYPE_ID = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8,
                "Q2_K": 10, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "BF16": 30}


def quantize(src, dst, ftype, opts, allow_requantize=False):
    p = llama_cpp.llama_model_quantize_default_params()
    p.nthread = 2
    p.ftype = qm.FTYPE_ID[ftype]
    p.allow_requantize = allow_requantize
    p.pure = bool(opts.get("pure"))
    if "output" in opts:
        p.output_tensor_type = GGML_TYPE_ID[opts["output"]]
    if "embd" in opts:
        p.token_embedding_type = GGML_TYPE_ID[opts["embd"]]
    if os.path.exists(dst):
        os.remove(dst)
    return llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p)) == 0


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="lmc-qref-")
    os.makedirs(work, exist_ok=True)
    for g in qm.GEOMETRIES:
        qm.write_model(g, os.path.join(work, g + ".gguf"))
    refs = {"llama_cpp_python": llama_cpp.__version__, "cases": {}}
    for name, g, ftype, opts in qm.cases():
        src = os.path.join(work, g + ".gguf")
        allow = False
        if "requant_from" in opts:
            mid = os.path.join(work, name + ".src.gguf")
            if not quantize(src, mid, opts["requant_from"], {}):
                sys.exit("cannot make " + mid)
            src, allow = mid, True
        dst = os.path.join(work, name + ".gguf")
        ok = quantize(src, dst, ftype, opts, allow)
        if not ok:
            refs["cases"][name] = {"error": True}
            print(f"{name}: llama.cpp refuses it")
            continue
        file_sha = hashlib.sha256(open(dst, "rb").read()).hexdigest()
        refs["cases"][name] = {"file": file_sha,
                               "tensors": [[n, t, h[:24]] for n, t, h in qm.tensor_hashes(dst)]}
        print(f"{name}: {file_sha[:16]}")
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "quantize_refs.json")
    with open(out, "w") as f:
        json.dump(refs, f, indent=0, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
