#!/usr/bin/env python3
"""test_hostile_gguf.py — crafted GGUFs whose metadata is hostile (issue 17): a tiny llama model is
written with the gguf package, one fault at a time, and `lmc logits` must refuse each file with its
own clear error (naming the key), never load it and print nan. The valid base model must load and
give finite logits. Skips (exit 77) without the gguf package."""
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, skip  # noqa: E402

try:
    import numpy as np
    import gguf
except ImportError:
    skip("the gguf and numpy packages are needed")

E, F, H, L, V = 16, 32, 2, 2, 24  # width, FFN, heads, blocks, vocabulary


def write_model(path, kv=None, drop=(), blocks=L, block_count=L, nan_weight=False, width=E, ffn=F, n_ctx=128):
    """A llama with an SPM vocabulary; kv overrides metadata (value None removes the key)."""
    kv = dict(kv or {})
    E, F = width, ffn
    w = gguf.GGUFWriter(path, "llama")
    meta = {
        "llama.embedding_length": ("u32", E), "llama.block_count": ("u32", block_count),
        "llama.feed_forward_length": ("u32", F), "llama.attention.head_count": ("u32", H),
        "llama.attention.head_count_kv": ("u32", H), "llama.context_length": ("u32", n_ctx),
        "llama.attention.layer_norm_rms_epsilon": ("f32", 1e-5), "llama.rope.freq_base": ("f32", 10000.0),
        "tokenizer.ggml.bos_token_id": ("u32", 1), "tokenizer.ggml.eos_token_id": ("u32", 2),
    }
    for k, v in kv.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    for k, (t, v) in meta.items():
        {"u32": w.add_uint32, "i32": w.add_int32, "f32": w.add_float32, "str": w.add_string,
         "u64": w.add_uint64}[t](k, v)
    w.add_tokenizer_model("llama")
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(16)] + ["▁a", "▁b", "a", "b", "▁"]
    assert len(toks) == V
    w.add_token_list(toks)
    w.add_token_scores([0.0] * V)
    w.add_token_types([2, 3, 3] + [6] * 16 + [1] * 5)
    rng = np.random.default_rng(0)

    def t(name, *shape):
        if name not in drop:
            x = (rng.standard_normal(shape) * 0.1).astype(np.float32)
            if nan_weight and name == "output_norm.weight":
                x[3] = np.nan
            w.add_tensor(name, x)
    t("token_embd.weight", V, E)
    t("output_norm.weight", E)
    for i in range(blocks):
        for n, shape in (("attn_norm", (E,)), ("attn_q", (E, E)), ("attn_k", (E, E)), ("attn_v", (E, E)),
                         ("attn_output", (E, E)), ("ffn_norm", (E,)), ("ffn_gate", (F, E)),
                         ("ffn_up", (F, E)), ("ffn_down", (E, F))):
            t(f"blk.{i}.{n}.weight", *shape)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def run_logits(path):
    p = subprocess.run([lmc_bin(), "logits", "-m", path, "--ids", "1,20,21", "-n", "2", "-t", "1"],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def main():
    tmp = tempfile.mkdtemp(prefix="lmc_hostile_")
    base = os.path.join(tmp, "base.gguf")
    write_model(base)
    rc, out, err = run_logits(base)
    ok = rc == 0
    if ok:
        logits = json.loads(out)["logits"]
        ok = len(logits) == V and all(math.isfinite(x) for x in logits)
    check(ok, f"the valid tiny model loads and gives finite logits: rc {rc} {err.strip()}")
    # "none" written as -1, or as its u32 pattern (llama2.c conversions), is not an error
    for none in (("i32", -1), ("u32", 4294967295)):
        path = os.path.join(tmp, "pad_none.gguf")
        write_model(path, {"tokenizer.ggml.padding_token_id": none})
        rc, out, err = run_logits(path)
        check(rc == 0, f"padding_token_id {none[1]} means none: rc {rc} {err.strip()}")
        os.remove(path)

    nan, inf = float("nan"), float("inf")
    cases = [
        ("eps nan", {"llama.attention.layer_norm_rms_epsilon": ("f32", nan)}, {},
         "layer_norm_rms_epsilon is nan"),
        ("eps inf", {"llama.attention.layer_norm_rms_epsilon": ("f32", inf)}, {},
         "layer_norm_rms_epsilon is inf"),
        ("eps 0", {"llama.attention.layer_norm_rms_epsilon": ("f32", 0.0)}, {},
         "layer_norm_rms_epsilon is 0"),
        ("eps negative", {"llama.attention.layer_norm_rms_epsilon": ("f32", -1e-5)}, {},
         "must be finite and in (0, 1]"),
        ("rope base nan", {"llama.rope.freq_base": ("f32", nan)}, {}, "rope.freq_base is nan"),
        ("rope base inf", {"llama.rope.freq_base": ("f32", inf)}, {}, "rope.freq_base is inf"),
        ("rope base 1", {"llama.rope.freq_base": ("f32", 1.0)}, {}, "must be finite and above 1"),
        ("rope base 0", {"llama.rope.freq_base": ("f32", 0.0)}, {}, "rope.freq_base is 0"),
        ("attn softcap negative", {"llama.attn_logit_softcapping": ("f32", -50.0)}, {},
         "attn_logit_softcapping is -50: it must be finite and in [0, 1e6] (0 turns the cap off)"),
        ("attn softcap nan", {"llama.attn_logit_softcapping": ("f32", nan)}, {},
         "attn_logit_softcapping is nan"),
        ("final softcap inf", {"llama.final_logit_softcapping": ("f32", inf)}, {},
         "final_logit_softcapping is inf"),
        ("final softcap negative", {"llama.final_logit_softcapping": ("f32", -30.0)}, {},
         "final_logit_softcapping is -30"),
        ("context 0", {"llama.context_length": ("u32", 0)}, {}, "llama.context_length must be"),
        ("context huge", {"llama.context_length": ("u64", 1 << 40)}, {}, "llama.context_length must be"),
        ("heads do not divide", {"llama.attention.head_count": ("u32", 3)}, {}, "inconsistent hyperparameters"),
        ("kv heads do not divide", {"llama.attention.head_count_kv": ("u32", 3)}, {},
         "inconsistent hyperparameters"),
        ("block_count below the blocks", {}, {"block_count": 1}, "block_count is 1 but the file has tensors for 2"),
        ("block_count above the blocks", {}, {"blocks": 1}, "blk.1.attn_norm.weight"),
        ("bos outside", {"tokenizer.ggml.bos_token_id": ("u32", V)}, {},
         f"tokenizer.ggml.bos_token_id is {V}, outside the vocabulary of {V} tokens"),
        ("eos outside", {"tokenizer.ggml.eos_token_id": ("u32", 1 << 31)}, {},
         "tokenizer.ggml.eos_token_id is 2147483648, outside"),
        ("eot outside", {"tokenizer.ggml.eot_token_id": ("i32", -7)}, {}, "tokenizer.ggml.eot_token_id is -7"),
        ("pad outside", {"tokenizer.ggml.padding_token_id": ("u32", 4294967294)}, {},
         "tokenizer.ggml.padding_token_id is 4294967294, outside"),
        ("nan in a weight (valid metadata)", {}, {"nan_weight": True},
         "numeric fault: the logits at position 2 are not finite"),
        ("template with NUL", {"tokenizer.chat_template": ("str", "{{ 'a' }}\0{{ evil }}")}, {},
         "tokenizer.chat_template contains a NUL byte (at byte 9)"),
    ]
    for name, kv, extra, want in cases:
        path = os.path.join(tmp, name.replace(" ", "_") + ".gguf")
        write_model(path, kv, **extra)
        rc, out, err = run_logits(path)
        check(rc != 0 and want in err and "nan" not in out,
              f"{name}: want an error with '{want}', got rc {rc}: {err.strip()[:300]} {out[:100]}")
        os.remove(path)
    os.remove(base)
    os.rmdir(tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
