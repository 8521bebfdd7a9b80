#!/usr/bin/env python3
"""make_random_quant_gguf.py — writes a llama GGUF with random but valid weights of a given type
(F16, Q8_0, Q4_0, Q4_K_M) for speed benchmarks, with the tokenizer of a vocab GGUF. Random quant bits
with small finite f16 scales: the byte counts and block layouts are real, the model means nothing.
Needs only numpy (no gguf package): the GGUF is written by hand and streamed, so a 7B F16 file
(14.5 GB) takes seconds on a machine with a fast disk or /dev/shm.

Type mixes (after llama.cpp's defaults, approximately):
  F16    : every matrix F16 (token_embd and output too)
  Q8_0   : every matrix Q8_0
  Q4_0   : every matrix Q4_0, output Q6_K
  Q4_K_M : Q4_K, output Q6_K; attn_v and ffn_down Q6_K in the layers i < n/8, i >= 7n/8 and
           (i - n/8) % 3 == 2, Q4_K elsewhere
Norm weights are F32 ones. Default geometry: Mistral-7B (32 layers, 4096 wide, 32/8 heads, FFN 14336).

usage: make_random_quant_gguf.py VOCAB.gguf OUT.gguf --type Q4_K_M [--layers N --embd N --ffn N
       --heads N --kv-heads N --seed N]
"""
import argparse
import struct
import sys

import numpy as np

# ggml type ids, block sizes (weights), bytes per block, f16 scale fields (byte offset, magnitude)
TYPES = {
    "F32": (0, 1, 4, []),
    "F16": (1, 1, 2, []),
    "Q4_0": (2, 32, 18, [(0, 2e-4)]),
    "Q8_0": (8, 32, 34, [(0, 1e-5)]),
    "Q4_K": (12, 256, 144, [(0, 2e-5), (2, 2e-5)]),
    "Q6_K": (14, 256, 210, [(208, 1e-6)]),
}
FILE_TYPE = {"F16": 1, "Q8_0": 7, "Q4_0": 2, "Q4_K_M": 15}
ALIGN = 32


def read_vocab_kvs(path):
    """Raw bytes of every tokenizer.* key/value of a GGUF (copied verbatim) and the vocab size."""
    data = open(path, "rb").read()
    if data[:4] != b"GGUF":
        sys.exit(f"{path}: not a GGUF file")
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)
    off = 24
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_value(t, o):
        if t in sizes:
            return o + sizes[t]
        if t == 8:
            (n,) = struct.unpack_from("<Q", data, o)
            return o + 8 + n
        if t == 9:
            et, n = struct.unpack_from("<IQ", data, o)
            o += 12
            if et in sizes:
                return o + n * sizes[et]
            for _ in range(n):
                o = skip_value(et, o)
            return o
        sys.exit(f"{path}: unknown GGUF value type {t}")

    kvs, n_vocab = [], 0
    for _ in range(n_kv):
        start = off
        (klen,) = struct.unpack_from("<Q", data, off)
        key = data[off + 8: off + 8 + klen].decode()
        off += 8 + klen
        (t,) = struct.unpack_from("<I", data, off)
        vstart = off + 4
        off = skip_value(t, vstart)
        if key.startswith("tokenizer."):
            kvs.append(data[start:off])
            if key == "tokenizer.ggml.tokens":
                n_vocab = struct.unpack_from("<IQ", data, vstart)[1]
    return kvs, n_vocab


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv_u32(k, v):
    return gstr(k) + struct.pack("<II", 4, v)


def kv_f32(k, v):
    return gstr(k) + struct.pack("<If", 6, v)


def kv_str(k, v):
    return gstr(k) + struct.pack("<I", 8) + gstr(v)


def use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("vocab")
    ap.add_argument("out")
    ap.add_argument("--type", required=True, choices=sorted(FILE_TYPE))
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--embd", type=int, default=4096)
    ap.add_argument("--ffn", type=int, default=14336)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    kvs, n_vocab = read_vocab_kvs(a.vocab)
    hd = a.embd // a.heads
    kv_dim = hd * a.kv_heads
    ftype = a.type

    def mat_type(kind, layer):
        if ftype in ("F16", "Q8_0"):
            return ftype
        if ftype == "Q4_0":
            return "Q6_K" if kind == "output" else "Q4_0"
        if kind == "output":
            return "Q6_K"
        if kind in ("attn_v", "ffn_down") and use_more_bits(layer, a.layers):
            return "Q6_K"
        return "Q4_K"

    tensors = [("token_embd.weight", [a.embd, n_vocab], mat_type("token_embd", -1)),
               ("output_norm.weight", [a.embd], "F32"),
               ("output.weight", [a.embd, n_vocab], mat_type("output", -1))]
    for i in range(a.layers):
        p = f"blk.{i}."
        tensors += [(p + "attn_norm.weight", [a.embd], "F32"),
                    (p + "attn_q.weight", [a.embd, a.embd], mat_type("attn_q", i)),
                    (p + "attn_k.weight", [a.embd, kv_dim], mat_type("attn_k", i)),
                    (p + "attn_v.weight", [a.embd, kv_dim], mat_type("attn_v", i)),
                    (p + "attn_output.weight", [a.embd, a.embd], mat_type("attn_output", i)),
                    (p + "ffn_norm.weight", [a.embd], "F32"),
                    (p + "ffn_gate.weight", [a.embd, a.ffn], mat_type("ffn_gate", i)),
                    (p + "ffn_up.weight", [a.embd, a.ffn], mat_type("ffn_up", i)),
                    (p + "ffn_down.weight", [a.ffn, a.embd], mat_type("ffn_down", i))]

    meta = [kv_str("general.architecture", "llama"), kv_str("general.name", f"random-{ftype}"),
            kv_u32("general.file_type", FILE_TYPE[ftype]), kv_u32("general.alignment", ALIGN),
            kv_u32("llama.context_length", 32768), kv_u32("llama.embedding_length", a.embd),
            kv_u32("llama.block_count", a.layers), kv_u32("llama.feed_forward_length", a.ffn),
            kv_u32("llama.attention.head_count", a.heads), kv_u32("llama.attention.head_count_kv", a.kv_heads),
            kv_u32("llama.rope.dimension_count", hd), kv_f32("llama.rope.freq_base", 10000.0),
            kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5)] + kvs

    infos, offset, sizes = [], 0, []
    for name, ne, t in tensors:
        tid, bs, ts, _ = TYPES[t]
        n = int(np.prod(ne))
        assert ne[0] % bs == 0, (name, ne, t)
        nbytes = n // bs * ts
        infos.append(gstr(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) +
                     struct.pack("<IQ", tid, offset))
        sizes.append(nbytes)
        offset += (nbytes + ALIGN - 1) // ALIGN * ALIGN

    rng = np.random.default_rng(a.seed)
    pool = np.frombuffer(rng.bytes(1 << 28), dtype=np.uint8)  # 256 MiB of random bytes, reused
    with open(a.out, "wb") as f:
        head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)) + b"".join(meta) + b"".join(infos)
        f.write(head)
        f.write(b"\0" * ((-len(head)) % ALIGN))
        total = 0
        for (name, ne, t), nbytes in zip(tensors, sizes):
            tid, bs, ts, scales = TYPES[t]
            if t == "F32":
                buf = np.ones(int(np.prod(ne)), dtype=np.float32).tobytes()
            else:
                start = int(rng.integers(0, len(pool) - 1))
                reps = (start + nbytes + len(pool) - 1) // len(pool)
                raw = np.tile(pool, reps)[start:start + nbytes] if reps > 1 else pool[start:start + nbytes]
                raw = raw.copy()
                if t == "F16":  # finite halves of magnitude 2^-10..2^-9 with random sign and mantissa
                    h = raw.view(np.uint16)
                    h &= np.uint16(0x83FF)
                    h |= np.uint16(5 << 10)
                else:
                    blocks = raw.reshape(-1, ts)
                    nb = blocks.shape[0]
                    for off, mag in scales:
                        d = (rng.random(min(nb, 4096), dtype=np.float32) * mag + mag * 0.1).astype(np.float16)
                        d = np.resize(d, nb)
                        blocks[:, off:off + 2] = d.view(np.uint8).reshape(nb, 2)
                buf = raw.tobytes()
            f.write(buf)
            f.write(b"\0" * ((-nbytes) % ALIGN))
            total += nbytes
    print(f"{a.out}: {ftype}, {len(tensors)} tensors, {total / 2**30:.2f} GiB of weights")


if __name__ == "__main__":
    main()
