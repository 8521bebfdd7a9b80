#!/usr/bin/env python3
"""quant_models.py — deterministic synthetic llama GGUFs (F32/F16 weights) for the quantization
tests, and the list of quantization cases checked against llama-quantize. Standard library only
(the tests run it in CI), so the same bytes come out everywhere.

Each geometry stresses a part of llama-quantize's choices: grouped-query attention, rows that are
not a multiple of 256 (k-quant fallbacks) or of 32 (F16 fallback, or an error for Q4_0/Q8_0), tied
embeddings, more than 10 layers (tensor order and the layer counters of the _M mixes). Rows carry
special cases: zeros, a constant, one outlier, tiny values, large values.

usage: quant_models.py OUT_DIR      writes every geometry's input GGUF into OUT_DIR
"""
import array
import os
import struct
import sys

# name: (n_embd, n_ff, n_layer, n_head, n_head_kv, n_vocab, tied, weight type)
GEOMETRIES = {
    "gqa": (256, 512, 2, 4, 1, 64, False, "F32"),
    "odd": (96, 160, 3, 3, 3, 40, True, "F32"),
    "deep": (256, 160, 11, 4, 2, 48, False, "F16"),
    "unaligned": (64, 80, 2, 2, 2, 32, True, "F32"),
}

FTYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S",
          "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K"]
# llama_ftype numbers
FTYPE_ID = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9,
            "Q2_K": 10, "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15,
            "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "BF16": 32}
GGML_TYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 8, "Q4_K": 12}


def cases():
    """(case name, geometry, ftype, options) — options: pure, output/embd type names, requant."""
    out = []
    for g in GEOMETRIES:
        for f in FTYPES:
            out.append((f"{g}-{f}", g, f, {}))
    out.append(("gqa-Q4_K_M-pure", "gqa", "Q4_K_M", {"pure": True}))
    out.append(("deep-Q3_K_M-pure", "deep", "Q3_K_M", {"pure": True}))
    out.append(("gqa-Q4_K_M-types", "gqa", "Q4_K_M", {"output": "Q8_0", "embd": "F16"}))
    out.append(("odd-Q5_K_M-types", "odd", "Q5_K_M", {"output": "Q4_0", "embd": "Q8_0"}))
    out.append(("deep-Q6_K-from-Q8_0", "deep", "Q6_K", {"requant_from": "Q8_0"}))
    out.append(("gqa-Q4_K_M-from-Q4_1", "gqa", "Q4_K_M", {"requant_from": "Q4_1"}))
    return out


class Rand:
    """xorshift64*: the same numbers in every Python."""

    def __init__(self, seed):
        self.s = (seed * 0x9E3779B97F4A7C15 + 1) & 0xFFFFFFFFFFFFFFFF

    def next(self):
        s = self.s
        s ^= (s >> 12)
        s ^= (s << 25) & 0xFFFFFFFFFFFFFFFF
        s ^= (s >> 27)
        self.s = s
        return (s * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF


def value_pool(n=1 << 16):
    """n bell-shaped float32 values in about [-3, 3] (sum of three uniforms)."""
    r = Rand(12345)
    vals = []
    for _ in range(n):
        u = sum(((r.next() >> 40) - (1 << 23)) / float(1 << 23) for _ in range(3))
        vals.append(u)
    return array.array("f", vals)


POOL = None


def matrix(rows, cols, seed):
    """rows x cols float32 values: pool slices at pseudo-random offsets, scaled by powers of two,
    with special rows mixed in."""
    global POOL
    if POOL is None:
        POOL = value_pool()
    r = Rand(seed)
    out = array.array("f")
    n = len(POOL)
    for i in range(rows):
        kind = r.next() % 23
        if kind == 0:
            out.extend([0.0] * cols)
            continue
        if kind == 1:
            out.extend([0.375] * cols)
            continue
        off = r.next() % (n - cols)
        row = POOL[off:off + cols]
        scale = 2.0 ** (-(r.next() % 9) - 2)
        if kind == 2:
            scale = 1e-18  # below GROUP_MAX_EPS after squaring
        if kind == 3:
            scale = 64.0
        row = array.array("f", (v * scale for v in row))
        if kind == 4:
            row[r.next() % cols] = 5.0  # one outlier
        if kind == 5:
            row[r.next() % cols] = 0.0
        out.extend(row)
    return out


def half_bytes(a):
    return struct.pack("<%de" % len(a), *a)


def kv_str(key, val):
    k = key.encode()
    v = val.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<I", 8) + struct.pack("<Q", len(v)) + v


def kv_u32(key, val):
    k = key.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<II", 4, val)


def kv_f32(key, val):
    k = key.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<If", 6, val)


def kv_arr(key, elem_type, items):
    k = key.encode()
    b = struct.pack("<Q", len(k)) + k + struct.pack("<IIQ", 9, elem_type, len(items))
    for it in items:
        if elem_type == 8:
            e = it.encode()
            b += struct.pack("<Q", len(e)) + e
        elif elem_type == 6:
            b += struct.pack("<f", it)
        else:
            b += struct.pack("<i", it)
    return b


def tensors_of(g):
    n_embd, n_ff, n_layer, n_head, n_head_kv, n_vocab, tied, _ = GEOMETRIES[g]
    hd = n_embd // n_head
    t = [("token_embd.weight", (n_embd, n_vocab))]
    if not tied:
        t.append(("output.weight", (n_embd, n_vocab)))
    t.append(("output_norm.weight", (n_embd,)))
    for i in range(n_layer):
        p = f"blk.{i}."
        t += [(p + "attn_norm.weight", (n_embd,)), (p + "attn_q.weight", (n_embd, n_embd)),
              (p + "attn_k.weight", (n_embd, hd * n_head_kv)),
              (p + "attn_v.weight", (n_embd, hd * n_head_kv)),
              (p + "attn_output.weight", (n_embd, n_embd)), (p + "ffn_norm.weight", (n_embd,)),
              (p + "ffn_gate.weight", (n_embd, n_ff)), (p + "ffn_down.weight", (n_ff, n_embd)),
              (p + "ffn_up.weight", (n_embd, n_ff))]
    return t


def write_model(g, path):
    n_embd, n_ff, n_layer, n_head, n_head_kv, n_vocab, tied, wtype = GEOMETRIES[g]
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(16)]
    toks += ["\u2581" + chr(ord("a") + i % 26) * (1 + i // 26) for i in range(n_vocab - len(toks))]
    kvs = [kv_str("general.architecture", "llama"), kv_str("general.name", "quant-test-" + g),
           kv_u32("general.file_type", 0 if wtype == "F32" else 1),
           kv_u32("llama.context_length", 256), kv_u32("llama.embedding_length", n_embd),
           kv_u32("llama.block_count", n_layer), kv_u32("llama.feed_forward_length", n_ff),
           kv_u32("llama.rope.dimension_count", n_embd // n_head),
           kv_u32("llama.attention.head_count", n_head),
           kv_u32("llama.attention.head_count_kv", n_head_kv),
           kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5),
           kv_u32("llama.vocab_size", n_vocab),
           kv_str("tokenizer.ggml.model", "llama"), kv_arr("tokenizer.ggml.tokens", 8, toks),
           kv_arr("tokenizer.ggml.scores", 6, [-float(i) for i in range(n_vocab)]),
           kv_arr("tokenizer.ggml.token_type", 5, [2, 3, 3] + [6] * 16 + [1] * (n_vocab - 19)),
           kv_u32("tokenizer.ggml.bos_token_id", 1), kv_u32("tokenizer.ggml.eos_token_id", 2)]
    infos, blobs, off = b"", [], 0
    for i, (name, shape) in enumerate(tensors_of(g)):
        n = 1
        for d in shape:
            n *= d
        if len(shape) == 1:
            data, ty = array.array("f", [1.0 + 0.01 * (j % 7) for j in range(n)]).tobytes(), 0
        else:
            m = matrix(shape[1], shape[0], seed=1000 * len(g) + i)
            data, ty = (m.tobytes(), 0) if wtype == "F32" else (half_bytes(m), 1)
        nm = name.encode()
        infos += struct.pack("<Q", len(nm)) + nm + struct.pack("<I", len(shape))
        infos += b"".join(struct.pack("<q", d) for d in shape) + struct.pack("<IQ", ty, off)
        pad = (-len(data)) % 32
        blobs.append(data + b"\0" * pad)
        off += len(data) + pad
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors_of(g)), len(kvs)) + b"".join(kvs) + infos
    head += b"\0" * ((-len(head)) % 32)
    with open(path, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)


# ggml type id: (name, weights per block, bytes per block)
TYPE_INFO = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 30: ("BF16", 1, 2), 2: ("Q4_0", 32, 18),
             3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34),
             10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
             13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210)}


def tensor_hashes(path):
    """[(name, type name, sha256 of the data)] of a GGUF file, in table order (a minimal reader)."""
    import hashlib
    b = open(path, "rb").read()
    pos = 8
    n_t, n_kv = struct.unpack_from("<QQ", b, pos)
    pos += 16
    align = 32

    def skip_val(t, pos):
        sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
        if t == 8:
            return pos + 8 + struct.unpack_from("<Q", b, pos)[0]
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, pos)
            pos += 12
            for _ in range(n):
                pos = skip_val(et, pos)
            return pos
        return pos + sizes[t]
    for _ in range(n_kv):
        kl = struct.unpack_from("<Q", b, pos)[0]
        key = b[pos + 8:pos + 8 + kl]
        pos += 8 + kl
        t = struct.unpack_from("<I", b, pos)[0]
        pos += 4
        if key == b"general.alignment":
            align = struct.unpack_from("<I", b, pos)[0]
        pos = skip_val(t, pos)
    infos = []
    for _ in range(n_t):
        nl = struct.unpack_from("<Q", b, pos)[0]
        name = b[pos + 8:pos + 8 + nl].decode()
        pos += 8 + nl
        nd = struct.unpack_from("<I", b, pos)[0]
        ne = struct.unpack_from("<%dq" % nd, b, pos + 4)
        pos += 4 + 8 * nd
        ty, off = struct.unpack_from("<IQ", b, pos)
        pos += 12
        infos.append((name, ne, ty, off))
    data = pos + (-pos) % align
    out = []
    for name, ne, ty, off in infos:
        tn, bs, ts = TYPE_INFO[ty]
        n = 1
        for d in ne:
            n *= d
        nbytes = n // bs * ts
        out.append((name, tn, hashlib.sha256(b[data + off:data + off + nbytes]).hexdigest()))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    for g in GEOMETRIES:
        write_model(g, os.path.join(sys.argv[1], g + ".gguf"))


if __name__ == "__main__":
    main()
