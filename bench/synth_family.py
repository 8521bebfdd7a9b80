#!/usr/bin/env python3
"""Write a GGUF of random Q4_0 weights for one architecture of lmc's table (llama, qwen2, qwen3,
gemma2, gemma3, phi3) at a given geometry, for speed comparisons across families only (the output
is meaningless): the same geometry written as llama and as qwen2 reads the same weight bytes per
token, so decode tok/s x weight bytes compares the two block paths. Needs numpy alone (a small
GGUF writer is here); the vocabulary is a byte-fallback SentencePiece list of random words.

usage: synth_family.py OUT.gguf --arch qwen2 [--embd 1536 --ff 8960 --heads 12 --kv-heads 2
                                              --layers 28 --vocab 32000 --head-dim 128]
"""
import argparse
import struct

import numpy as np

U32, I32, F32, STR, ARR = 4, 5, 6, 8, 9


def kv_bytes(key, typ, val):
    out = struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", typ)
    if typ == U32:
        return out + struct.pack("<I", val)
    if typ == I32:
        return out + struct.pack("<i", val)
    if typ == F32:
        return out + struct.pack("<f", val)
    if typ == STR:
        b = val.encode()
        return out + struct.pack("<Q", len(b)) + b
    et, items = val
    out += struct.pack("<IQ", et, len(items))
    if et == STR:
        return out + b"".join(struct.pack("<Q", len(s.encode())) + s.encode() for s in items)
    fmt = {I32: "<i", F32: "<f"}[et]
    return out + b"".join(struct.pack(fmt, x) for x in items)


def q4_0(rng, rows, cols):
    """Random Q4_0 blocks: nibbles uniform, scale 1/64 (rows x cols / 32 blocks of 18 bytes)."""
    nb = rows * cols // 32
    blocks = np.empty((nb, 18), dtype=np.uint8)
    blocks[:, :2] = np.frombuffer(np.float16(1 / 64).tobytes(), dtype=np.uint8)
    blocks[:, 2:] = rng.integers(0, 256, (nb, 16), dtype=np.uint8)
    return blocks.tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--arch", default="llama")
    ap.add_argument("--embd", type=int, default=1536)
    ap.add_argument("--ff", type=int, default=8960)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--vocab", type=int, default=32000)
    a = ap.parse_args()
    arch, E, F, hd = a.arch, a.embd, a.ff, a.head_dim
    Q, KV = a.heads * hd, a.kv_heads * hd
    rng = np.random.default_rng(1)
    gemma = arch.startswith("gemma")
    kvs = [("general.architecture", STR, arch), (f"{arch}.context_length", U32, 4096),
           (f"{arch}.embedding_length", U32, E), (f"{arch}.block_count", U32, a.layers),
           (f"{arch}.feed_forward_length", U32, F), (f"{arch}.attention.head_count", U32, a.heads),
           (f"{arch}.attention.head_count_kv", U32, a.kv_heads),
           (f"{arch}.attention.key_length", U32, hd), (f"{arch}.attention.value_length", U32, hd),
           (f"{arch}.rope.dimension_count", U32, hd),
           (f"{arch}.attention.layer_norm_rms_epsilon", F32, 1e-6),
           (f"{arch}.rope.freq_base", F32, 10000.0)]
    if gemma or arch == "phi3":
        kvs.append((f"{arch}.attention.sliding_window", U32, 4096))
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    n_words = a.vocab - len(toks)
    toks += ["\u2581w" + str(i) for i in range(n_words)]
    kvs += [("tokenizer.ggml.model", STR, "llama"), ("tokenizer.ggml.tokens", ARR, (STR, toks)),
            ("tokenizer.ggml.scores", ARR, (F32, [0.0] * 259 + [-float(i) for i in range(n_words)])),
            ("tokenizer.ggml.token_type", ARR, (I32, [2, 3, 3] + [6] * 256 + [1] * n_words)),
            ("tokenizer.ggml.bos_token_id", U32, 1), ("tokenizer.ggml.eos_token_id", U32, 2)]
    ts = []  # (name, dims (ne0, ne1), type, bytes)

    def mat(name, rows, cols):
        ts.append((name, (cols, rows), 2, q4_0(rng, rows, cols)))

    def vec(name, n, v=1.0):
        ts.append((name, (n,), 0, np.full(n, v, dtype=np.float32).tobytes()))

    mat("token_embd.weight", a.vocab, E)
    for i in range(a.layers):
        b = f"blk.{i}."
        vec(b + "attn_norm.weight", E)
        if arch == "phi3":
            mat(b + "attn_qkv.weight", Q + 2 * KV, E)
        else:
            mat(b + "attn_q.weight", Q, E)
            mat(b + "attn_k.weight", KV, E)
            mat(b + "attn_v.weight", KV, E)
        if arch == "qwen2":
            vec(b + "attn_q.bias", Q, 0.01)
            vec(b + "attn_k.bias", KV, 0.01)
            vec(b + "attn_v.bias", KV, 0.01)
        if arch in ("qwen3", "gemma3"):
            vec(b + "attn_q_norm.weight", hd)
            vec(b + "attn_k_norm.weight", hd)
        mat(b + "attn_output.weight", E, Q)
        if gemma:
            vec(b + "post_attention_norm.weight", E)
        vec(b + "ffn_norm.weight", E)
        if arch == "phi3":
            mat(b + "ffn_up.weight", 2 * F, E)
        else:
            mat(b + "ffn_gate.weight", F, E)
            mat(b + "ffn_up.weight", F, E)
        mat(b + "ffn_down.weight", E, F)
        if gemma:
            vec(b + "post_ffw_norm.weight", E)
    vec("output_norm.weight", E)
    if not gemma:
        mat("output.weight", a.vocab, E)
    with open(a.out, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(ts), len(kvs)))
        for k, t, v in kvs:
            f.write(kv_bytes(k, t, v))
        off = 0
        for name, dims, typ, data in ts:
            f.write(struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(dims)))
            f.write(b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", typ, off))
            off += (len(data) + 31) // 32 * 32
        f.write(b"\0" * (-f.tell() % 32))
        for _, _, _, data in ts:
            f.write(data + b"\0" * (-len(data) % 32))


if __name__ == "__main__":
    main()
