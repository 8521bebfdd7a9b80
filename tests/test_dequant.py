#!/usr/bin/env python3
"""test_dequant.py — lmc's reference dequantization must equal the `gguf` package's numpy code bit
for bit: on every tensor of ../shared/models/synthetic/synthetic-A-*.gguf and on random blocks of
every supported type. Also checks lmc's type table against gguf's GGML_QUANT_SIZES.
lmc's floats come from tests/tool_dequant.c (env LMC_DEQUANT_TOOL), which reads raw block bytes."""
import glob
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, shared_root, skip  # noqa: E402

try:
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as T
except ImportError as e:  # pragma: no cover
    skip(f"python packages numpy/gguf not importable ({e})")

TOOL = os.environ.get("LMC_DEQUANT_TOOL")
if not TOOL or not os.path.exists(TOOL):
    skip("LMC_DEQUANT_TOOL is not set or missing (run through ctest)")


def lmc_dequant(type_id, n, raw):
    r = subprocess.run([TOOL, str(type_id), str(n)], input=raw, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"lmc_dequant_tool {type_id} {n}: {r.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(r.stdout, dtype=np.float32)


def compare(label, type_id, raw, n, ref, allow_nan=False):
    """ref: gguf's float32 values. Equal bits where NaN may occur (plain float types), else equal
    values and NaN-free."""
    try:
        got = lmc_dequant(type_id, n, raw)
    except RuntimeError as e:
        check(False, f"{label}: {e}")
        return
    ref = np.ascontiguousarray(ref, dtype=np.float32).reshape(-1)
    if got.shape != ref.shape:
        check(False, f"{label}: lmc gave {got.shape[0]} floats, gguf {ref.shape[0]}")
        return
    if allow_nan:
        ok = np.array_equal(got.view(np.uint32), ref.view(np.uint32))
    else:
        ok = not np.isnan(ref).any() and np.array_equal(got, ref)
    if not ok:
        bad = np.flatnonzero(got.view(np.uint32) != ref.view(np.uint32))
        i = int(bad[0]) if bad.size else 0
        check(False, f"{label}: {bad.size} of {n} values differ; first at {i}: lmc {got[i]!r} gguf {ref[i]!r}")
    else:
        check(True, label)


# --- the type table -------------------------------------------------------------------------------
lmc_types = {}
for line in subprocess.run([TOOL, "--types"], capture_output=True, text=True, check=True).stdout.splitlines():
    tid, name, blck, size, supported = line.split()
    lmc_types[int(tid)] = (name, int(blck), int(size), supported == "1")

for qt, (blck, size) in gguf.GGML_QUANT_SIZES.items():
    if int(qt) >= 40:  # newer than lmc's table (NVFP4, Q1_0, ...): lmc must call them unknown
        check(int(qt) not in lmc_types, f"type {qt.name} ({int(qt)}) is beyond lmc's table")
        continue
    if qt == T.Q8_1:  # gguf-py lists 4 + 4 + 32 (two f32); ggml's block_q8_1 holds two f16: 36
        size = 36
    got = lmc_types.get(int(qt))
    check(got == (qt.name, blck, size, got[3] if got else None),
          f"type {int(qt)}: lmc {got}, gguf ({qt.name}, {blck}, {size})")
known_ids = {int(qt) for qt in gguf.GGML_QUANT_SIZES}
check(set(lmc_types) <= known_ids, f"lmc knows ids gguf does not: {sorted(set(lmc_types) - known_ids)}")

SUPPORTED = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
             T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
for qt in SUPPORTED:
    check(lmc_types.get(int(qt), (0, 0, 0, False))[3], f"{qt.name} must be supported")

# --- random blocks ----------------------------------------------------------------------------------
# Byte offsets of each block's f16 scales; they get random finite values (subnormals included),
# everything else random bytes.
F16_FIELDS = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
              T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}
rng = np.random.default_rng(1234)


def finite_halves(shape):
    h = rng.integers(0, 1 << 16, size=shape, dtype=np.uint32).astype(np.uint16)
    inf_nan = (h & 0x7C00) == 0x7C00
    h[inf_nan] &= 0xBFFF  # clear one exponent bit: finite
    return h


for qt in SUPPORTED:
    blck, size = gguf.GGML_QUANT_SIZES[qt]
    if qt == T.F16:  # every f16 bit pattern, NaN payloads and all
        raw = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
        compare("random F16: all 65536 values", int(qt), raw.tobytes(), raw.size,
                gguf.quants.dequantize(raw.view(np.uint8), qt), allow_nan=True)
        continue
    if qt in (T.F32, T.BF16):  # random bit patterns, NaN and inf included
        n = 1 << 16
        raw = rng.integers(0, 256, size=n * size, dtype=np.uint8)
        raw[: 4 * size] = 0  # and a few zeros
        compare(f"random {qt.name}: {n} values", int(qt), raw.tobytes(), n,
                gguf.quants.dequantize(raw.view(np.uint8), qt), allow_nan=True)
        continue
    n_blocks = 512
    blocks = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in F16_FIELDS[qt]:
        blocks[:, off:off + 2] = finite_halves(n_blocks).view(np.uint8).reshape(n_blocks, 2)
    blocks[0, :] = 0  # an all-zero block
    blocks[1, :] = 0xFF
    for off in F16_FIELDS[qt]:
        blocks[1, off:off + 2] = np.array([0xFF, 0x7B], dtype=np.uint8)  # 65504: largest scales
    compare(f"random {qt.name}: {n_blocks} blocks", int(qt), blocks.tobytes(), n_blocks * blck,
            gguf.quants.dequantize(blocks, qt))

# --- every tensor of the synthetic models -------------------------------------------------------------
shared = shared_root()
files = sorted(glob.glob(os.path.join(shared, "models", "synthetic", "synthetic-A-*.gguf")))
if not files:
    print(f"note: no synthetic models under {shared}; only random blocks were compared")
seen_types = set()
for path in files:
    reader = gguf.GGUFReader(path)
    for t in reader.tensors:
        qt = t.tensor_type
        label = f"{os.path.basename(path)}:{t.name} ({qt.name})"
        if int(qt) not in lmc_types or not lmc_types[int(qt)][3]:
            check(False, f"{label}: type not supported by lmc")
            continue
        seen_types.add(qt.name)
        raw = np.ascontiguousarray(t.data).view(np.uint8).reshape(-1)
        n = int(t.n_elements)
        ref = gguf.quants.dequantize(t.data, qt)
        compare(label, int(qt), raw.tobytes(), n, ref)
if files:
    print(f"synthetic models: {len(files)} files, types seen: {' '.join(sorted(seen_types))}")

sys.exit(finish())
