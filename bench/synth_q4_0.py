#!/usr/bin/env python3
"""Write a llama GGUF with random Q4_0 weights (random quant nibbles, one small scale), for GPU
speed benchmarks only (the output is meaningless). Needs numpy alone: the tokenizer.* metadata is
copied byte for byte from VOCAB.gguf, the rest written here.

usage: synth_q4_0.py VOCAB.gguf OUT.gguf [--layers 32 --embd 4096 --ffn 14336 --heads 32 --kv-heads 8]
"""
import argparse
import struct
import numpy as np

SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def skip_value(b, o, t):
    if t == 8:  # string
        n = struct.unpack_from("<Q", b, o)[0]
        return o + 8 + n
    if t == 9:  # array
        et, n = struct.unpack_from("<IQ", b, o)
        o += 12
        if et in SIZES:
            return o + n * SIZES[et]
        for _ in range(n):
            o = skip_value(b, o, et)
        return o
    return o + SIZES[t]


def tokenizer_kvs(path):
    b = open(path, "rb").read()
    assert b[:4] == b"GGUF"
    _, _, n_kv = struct.unpack_from("<IQQ", b, 4)
    o, out = 24, []
    for _ in range(n_kv):
        s = o
        n = struct.unpack_from("<Q", b, o)[0]
        key = b[o + 8:o + 8 + n].decode()
        t = struct.unpack_from("<I", b, o + 8 + n)[0]
        o = skip_value(b, o + 12 + n, t)
        if key.startswith("tokenizer."):
            out.append(b[s:o])
    return out


def kv(key, t, fmt, v):
    k = key.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<I", t) + struct.pack(fmt, v)


def kv_str(key, v):
    k, s = key.encode(), v.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<IQ", 8, len(s)) + s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vocab")
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--embd", type=int, default=4096)
    ap.add_argument("--ffn", type=int, default=14336)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=8)
    a = ap.parse_args()
    tok = tokenizer_kvs(a.vocab)
    b = open(a.vocab, "rb").read()
    # n_vocab: the length of tokenizer.ggml.tokens
    n_vocab = None
    for r in tok:
        n = struct.unpack_from("<Q", r, 0)[0]
        if r[8:8 + n] == b"tokenizer.ggml.tokens":
            n_vocab = struct.unpack_from("<Q", r, 8 + n + 4 + 4)[0]
    kvs = [kv_str("general.architecture", "llama"), kv_str("general.name", "synthetic-q4_0"),
           kv("llama.context_length", 4, "<I", 4096), kv("llama.embedding_length", 4, "<I", a.embd),
           kv("llama.block_count", 4, "<I", a.layers), kv("llama.feed_forward_length", 4, "<I", a.ffn),
           kv("llama.attention.head_count", 4, "<I", a.heads),
           kv("llama.attention.head_count_kv", 4, "<I", a.kv_heads),
           kv("llama.rope.dimension_count", 4, "<I", a.embd // a.heads),
           kv("llama.attention.layer_norm_rms_epsilon", 6, "<f", 1e-5),
           kv("llama.rope.freq_base", 6, "<f", 10000.0), kv("general.file_type", 4, "<I", 2)] + tok
    kvd = a.kv_heads * (a.embd // a.heads)
    tensors = [("token_embd.weight", 2, a.embd, n_vocab)]
    for i in range(a.layers):
        p = f"blk.{i}."
        tensors += [(p + "attn_norm.weight", 0, a.embd, 1), (p + "attn_q.weight", 2, a.embd, a.embd),
                    (p + "attn_k.weight", 2, a.embd, kvd), (p + "attn_v.weight", 2, a.embd, kvd),
                    (p + "attn_output.weight", 2, a.embd, a.embd), (p + "ffn_norm.weight", 0, a.embd, 1),
                    (p + "ffn_gate.weight", 2, a.embd, a.ffn), (p + "ffn_up.weight", 2, a.embd, a.ffn),
                    (p + "ffn_down.weight", 2, a.ffn, a.embd)]
    tensors += [("output_norm.weight", 0, a.embd, 1), ("output.weight", 2, a.embd, n_vocab)]

    def nbytes(t, c, r):
        return c * r * 4 if t == 0 else c * r // 32 * 18

    info, off = b"", 0
    for name, t, c, r in tensors:
        nm = name.encode()
        dims = struct.pack("<QQ", c, r) if r > 1 else struct.pack("<Q", c)
        info += struct.pack("<Q", len(nm)) + nm + struct.pack("<I", 2 if r > 1 else 1) + dims
        info += struct.pack("<IQ", t, off)
        off += (nbytes(t, c, r) + 31) // 32 * 32
    rng = np.random.default_rng(0)
    most = max(nbytes(t, c, r) for _, t, c, r in tensors) // 18 + 4096
    pool = rng.integers(0, 256, size=(most, 18), dtype=np.uint8)
    pool[:, 0:2] = np.frombuffer(np.float16(0.004).tobytes(), dtype=np.uint8)
    with open(a.out, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
        for k in kvs:
            f.write(k)
        f.write(info)
        f.write(b"\0" * ((32 - f.tell() % 32) % 32))
        for k, (name, t, c, r) in enumerate(tensors):
            if t == 0:
                data = np.ones(c * r, dtype=np.float32).tobytes()
            else:
                o = (k * 1237) % 4096
                data = pool[o:o + c * r // 32].tobytes()
            f.write(data)
            f.write(b"\0" * ((32 - len(data) % 32) % 32))
    print("wrote", a.out, n_vocab, "tokens")


if __name__ == "__main__":
    main()
