#!/usr/bin/env python3
"""test_inspect.py — `lmc inspect` against the gguf package's reader (an independent implementation):
header counts, every key's type, every tensor's name/type/shape/offset/bytes, the parameter total;
and the error paths (no file, missing file, truncated file, --help)."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, shared_dir, skip  # noqa: E402

lmc = lmc_bin()
models = shared_dir("models")
try:
    import gguf
except ImportError:
    skip("the gguf Python package is absent")

VT_NAMES = {
    0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32", 7: "bool",
    8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64",
}


def run(*args):
    return subprocess.run([lmc, "inspect", *args], capture_output=True, text=True, errors="replace")


def compare(path):
    r = run(path)
    check(r.returncode == 0, f"{path}: exit {r.returncode}: {r.stderr}")
    out = r.stdout
    ref = gguf.GGUFReader(path)
    fields = {k: v for k, v in ref.fields.items() if not k.startswith("GGUF.")}  # header pseudo-fields
    head = dict(re.findall(r"^(\w[\w ]*?):\s+(\S+)$", out, re.M))
    check(head.get("n_tensors") == str(len(ref.tensors)), f"{path}: n_tensors {head.get('n_tensors')}")
    check(head.get("n_kv") == str(len(fields)), f"{path}: n_kv {head.get('n_kv')} vs {len(fields)}")
    check(head.get("alignment") == str(ref.alignment), f"{path}: alignment")
    if ref.tensors:
        check(head.get("data offset") == str(ref.data_offset), f"{path}: data offset")

    # metadata lines: "  key  type  = value"
    meta = {}
    for m in re.finditer(r"^  (\S+)\s+(\w+(?:\[\w+\])?)\s+= (.*)$", out, re.M):
        meta[m.group(1)] = (m.group(2), m.group(3))
    for name, field in fields.items():
        got = meta.get(name)
        check(got is not None, f"{path}: key {name} not printed")
        if got is None:
            continue
        vt = VT_NAMES[int(field.types[0])]
        want = vt if vt != "array" else f"array[{VT_NAMES[int(field.types[1])]}]"
        check(got[0] == want, f"{path}: {name}: type {got[0]}, want {want}")
        if vt == "array":
            n = len(field.data)
            check(got[1].startswith(f"[{n} "), f"{path}: {name}: count in {got[1][:40]}")
        elif vt == "string":
            s = bytes(field.parts[-1]).decode("utf-8", "replace")
            if len(s) < 60 and s.isprintable() and '"' not in s and "\\" not in s:
                check(got[1] == f'"{s}"', f"{path}: {name}: {got[1]} vs {s!r}")
        elif vt in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"):
            check(got[1] == str(int(field.parts[-1][0])), f"{path}: {name}: {got[1]}")
        elif vt in ("float32", "float64"):
            v = float(field.parts[-1][0])
            check(abs(float(got[1]) - v) <= 1e-6 * abs(v), f"{path}: {name}: {got[1]} vs {v}")

    # tensor rows: "  #  name  type  [shape]  offset  bytes"
    rows = re.findall(r"^\s+(\d+)  (\S+)\s+(\w+)\*?\s+\[([\d, ]*)\]\s+(\d+)\s+(\d+)$", out, re.M)
    check(len(rows) == len(ref.tensors), f"{path}: {len(rows)} tensor rows, want {len(ref.tensors)}")
    n_params = 0
    for row, t in zip(rows, ref.tensors):
        idx, name, tname, shape, off, nbytes = row
        check(name == t.name, f"{path}: tensor {idx} name {name} vs {t.name}")
        check(tname == t.tensor_type.name, f"{path}: {name}: type {tname} vs {t.tensor_type.name}")
        check([int(x) for x in shape.split(",")] == [int(x) for x in t.shape], f"{path}: {name}: shape")
        check(int(off) == t.data_offset - ref.data_offset, f"{path}: {name}: offset")
        check(int(nbytes) == t.n_bytes, f"{path}: {name}: bytes {nbytes} vs {t.n_bytes}")
        n_params += int(t.n_elements)
    if ref.tensors:
        m = re.search(r"^total: (\d+) tensors, (\d+) parameters .*?, (\d+) bytes .*?, ([\d.]+) bits per weight",
                      out, re.M)
        check(m is not None, f"{path}: no total line")
        if m:
            total_bytes = sum(int(t.n_bytes) for t in ref.tensors)
            check(int(m.group(2)) == n_params, f"{path}: params {m.group(2)} vs {n_params}")
            check(int(m.group(3)) == total_bytes, f"{path}: bytes")
            check(abs(float(m.group(4)) - total_bytes * 8 / n_params) < 1e-3, f"{path}: bits per weight")


paths = [os.path.join(models, "stories260K.gguf"), os.path.join(models, "llama-2-tiny-random.gguf"),
         os.path.join(models, "synthetic", "synthetic-A-Q4_K_M.gguf"),
         os.path.join(models, "synthetic", "synthetic-A-Q5_1.gguf"),
         os.path.join(models, "vocab", "ggml-vocab-phi-3.gguf")]  # 128k-token vocabularies are slow in gguf-py
for p in paths:
    if os.path.exists(p):
        compare(p)
    else:
        check(False, f"missing {p}")

# Long values are abbreviated: a 32000-entry vocabulary shows three strings.
r = run(os.path.join(models, "llama-2-tiny-random.gguf"), "--no-tensors")
check(re.search(r'tokenizer\.ggml\.tokens\s+array\[string\]\s+= \[32000 strings: "<unk>", "<s>", "</s>", \.\.\.\]',
                r.stdout) is not None, "abbreviated vocabulary")
check("\ntensors:\n" not in r.stdout and "total:" in r.stdout, "--no-tensors")

# Errors: usage, missing file, truncated file, --help.
r = run()
check(r.returncode == 2 and "--help" in r.stderr, f"no file: exit {r.returncode}")
r = run("/nonexistent/model.gguf")
check(r.returncode == 1 and "/nonexistent/model.gguf" in r.stderr, f"missing file: {r.stderr}")
r = run("--help")
check(r.returncode == 0 and "usage: lmc inspect" in r.stdout, "--help")
with tempfile.TemporaryDirectory() as d:
    data = open(os.path.join(models, "stories260K.gguf"), "rb").read()
    for cut in (3, 100, 5000, len(data) - 1):
        tp = os.path.join(d, f"cut{cut}.gguf")
        open(tp, "wb").write(data[:cut])
        r = run(tp)
        check(r.returncode == 1 and tp in r.stderr and "offset" in r.stderr and "Traceback" not in r.stderr,
              f"truncated at {cut}: exit {r.returncode}: {r.stderr}")

sys.exit(finish())
