#!/usr/bin/env python3
"""make_tok_goldens.py — llama.cpp's token ids, end-of-generation tokens and pieces for the vocabularies
of the families lmc runs, so CI can check lmc's tokenizer without llama-cpp-python.

For each vocabulary (the shared llama-spm, llama-bpe, phi-3 and qwen2 vocab GGUFs, the synthetic
tests/data/tok/synth-gpt-4o.gguf of scripts/make_synth_vocab.py (Phi-4-mini's pre-tokenizer), and the
real Gemma-3-270M from the lmc cache when present) and each of two case files (llama.cpp's test strings,
../shared/models/vocab/*.inp, and lmc's own hard cases, tests/data/tok/hard_cases.inp, written by this
script from HARD below) it tokenizes every case with llama.cpp four ways (BOS/EOS added or not ×
special-token text parsed or not) and writes tests/data/tok/<vocab>.json:
  {"gguf": where the file is, "cases": {"llama": {"plain"|"bos"|"special"|"bos+special": [[ids]..]},
   "hard": {...}}, "eog": [ids llama.cpp ends a generation on],
   "pieces_fnv": {"plain": hex, "special": hex}}
For Gemma-3 (its GGUF carries no chat template; lmc falls back to its "gemma" built-in) also
  "chat": {"messages", "text": Gemma-3's Hugging Face template (tests/data/templates) rendered by
  Jinja2 with BOS text "<bos>", "ids": llama.cpp's ids for it (the leading BOS text removed and BOS
  added by the tokenizer, as llama.cpp's chat code does)}.
pieces_fnv is FNV-1a 64 over every token's piece in id order (llama_token_to_piece, special off/on),
each piece preceded by its length as 4 little-endian bytes: one number that checks the detokenizer on
all tokens.

usage: scripts/make_tok_goldens.py          (needs: pip install llama-cpp-python)
"""
import ctypes
import json
import os
import struct
import sys

import jinja2
import llama_cpp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from lmctest import cache_dir, shared_root  # noqa: E402

SEP = b"\n__ggml_vocab_test__\n"
OUT = os.path.join(HERE, "..", "tests", "data", "tok")
GEMMA3 = "gemma-3-270m-q4_k_m.gguf"

# Special-token texts of the families (those a vocabulary lacks are plain text to it).
SPECIALS = ["<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|end|>",
            "<|user|>", "<|assistant|>", "<|system|>", "<start_of_turn>", "<end_of_turn>", "<bos>",
            "<eos>", "<pad>", "<mask>", "<unused0>", "[multimodal]", "<|eot_id|>",
            "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|fim_prefix|>",
            "<|fim_pad|>", "<tool_call>", "<think>", "</think>"]

HARD = [
    b"", b" ", b"  ", b"   ", b"\t", b"\n", b" \n", b"\n \n", b"\n\n\n\n", b"\r\n", b"a\r\nb",
    b"hello   world", b"   leading", b"trailing   ", b"a \t b", b"\t\t\tindented", b"x\n\n\n\ny",
    b"  \n\t  mixed \t\n", b"word" + b" " * 40 + b"end", b"\n" * 40,
    "日本語のテキストです。".encode(), "中文测试，标点符号！".encode(), "한국어 문장입니다".encode(),
    "Ελληνικά και русский текст".encode(), "مرحبا بالعالم".encode(), "नमस्ते दुनिया".encode(),
    "ภาษาไทย".encode(), "👋🏽 hello 🤖🚀 bye".encode(), "👨‍👩‍👧‍👦 family".encode(),
    "café cafe\u0301 naïve".encode(), "ﬁ ligature ＡＢＣ full-width".encode(), "\u00a0nbsp\u2003em".encode(),
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛".encode(), "e\u0301\u0302\u0303 stacked".encode(), "\u200b\u200d\ufeff".encode(),
    b"\xff\xfe invalid", b"abc\x80def", b"trunc\xe6\x97", b"\xc0\xaf overlong", b"\xed\xa0\x80 surrogate",
    b"1234567890", b"3.14159 2.71828", b"1,000,000.00", b"0x1F 0b1010 1e-9", b"123abc456def",
    b"v1.2.3-rc4", b"2024-12-06T15:30:00Z", "٣٤٥ ௧௨௩ ５６７".encode(),
    b"def f(x):\n    return x**2  # square\n",
    b"for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}\n",
    b"<div class=\"a\">&amp; <b>bold</b></div>", b'{"key": [1, 2, {"n": null}]}',
    b"SELECT * FROM t WHERE id=42;", b"x = y ?? z; a?.b ||= c",
    b"Hello </s> world", b"Hello</s>world", b"</s>  \n  next", b"  </s>", b"Hi<|end|>\n<|assistant|>  ok",
    b"<|user|>\nhello<|end|>\n<|assistant|>\n", b"<|end|>   \n\nnext", b"<|endoftext|>  x", b"<s> <s>",
    b" <|im_start|> user\n", b"<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
    b"text<|im_end|>", b"<|im_end|><|im_end|>", b"<|im_start|><|im_end|>",
    b"<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", b"a  <end_of_turn>  b",
    b"<bos><bos>Hello", b"<bos> space", b"<eos> <pad> <mask> <unk>", b"<unused0> <unused99>x",
    b"[multimodal] image", b"<|fim_prefix|>def f(<|fim_suffix|>)<|fim_middle|>", b"<|fim_pad|> pad",
    b"<tool_call>{\"a\":1}</tool_call>", b"<think>\nhmm\n</think>\n\nanswer",
    b"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    b"<s", b"</s", b"<|im_", b"<start_of_turn", b"<<|im_end|>>", b"<</s>>",
    b"\n<|end|>\n", b" <|end|> ", b"\t<end_of_turn>\t",
] + [(" " + s + "  x").encode() for s in SPECIALS]

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there </s> "},
        {"role": "assistant", "content": " Hello!\n"}, {"role": "user", "content": "日本語で？"}]

MODES = {"plain": (False, False), "bos": (True, False), "special": (False, True),
         "bos+special": (True, True)}


def vocabs():
    vdir = os.path.join(shared_root(), "models", "vocab")
    out = {n: ("shared", f"models/vocab/ggml-vocab-{n}.gguf", os.path.join(vdir, f"ggml-vocab-{n}.gguf"))
           for n in ["llama-spm", "llama-bpe", "phi-3", "qwen2"]}
    out["synth-gpt-4o"] = ("source", "tests/data/tok/synth-gpt-4o.gguf",
                           os.path.join(HERE, "..", "tests", "data", "tok", "synth-gpt-4o.gguf"))
    g = os.path.join(cache_dir(), GEMMA3)
    if os.path.exists(g):
        out["gemma3"] = ("cache", GEMMA3, g)
    else:
        print(f"note: {g} absent: no Gemma-3 golden", file=sys.stderr)
    return out


def read_cases(path):
    data = open(path, "rb").read()
    parts = data.split(SEP)
    if parts and parts[-1] == b"":
        parts.pop()
    return parts


def fnv_pieces(llm_vocab, n, special):
    h = 0xcbf29ce484222325
    buf = ctypes.create_string_buffer(4096)
    for i in range(n):
        k = llama_cpp.llama_token_to_piece(llm_vocab, i, buf, len(buf), 0, special)
        assert 0 <= k <= len(buf), (i, k)
        for b in struct.pack("<I", k) + buf.raw[:k]:
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main():
    os.makedirs(OUT, exist_ok=True)
    hard_path = os.path.join(OUT, "hard_cases.inp")
    with open(hard_path, "wb") as f:
        for c in HARD:
            f.write(c + SEP)
    llama_inp = os.path.join(shared_root(), "models", "vocab", "ggml-vocab-llama-spm.gguf.inp")
    case_files = {"llama": read_cases(llama_inp), "hard": read_cases(hard_path)}
    for name, (where, rel, path) in vocabs().items():
        llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
        voc = llama_cpp.llama_model_get_vocab(llm.model)
        n = llama_cpp.llama_vocab_n_tokens(voc)
        g = {"gguf": {"where": where, "path": rel}, "cases": {}}
        for cname, cases in case_files.items():
            g["cases"][cname] = {m: [llm.tokenize(c, add_bos=b, special=s) for c in cases]
                                 for m, (b, s) in MODES.items()}
        if name == "gemma3":
            tmpl = open(os.path.join(HERE, "..", "tests", "data", "templates", "google-gemma-3-it.jinja")).read()
            env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
            text = env.from_string(tmpl).render(messages=CHAT, bos_token="<bos>", eos_token="<eos>",
                                                add_generation_prompt=True)
            body = text[len("<bos>"):] if text.startswith("<bos>") else text
            g["chat"] = {"messages": CHAT, "text": text,
                         "ids": llm.tokenize(body.encode(), add_bos=True, special=True)}
        g["eog"] = [i for i in range(n) if llama_cpp.llama_vocab_is_eog(voc, i)]
        g["pieces_fnv"] = {"plain": fnv_pieces(voc, n, False), "special": fnv_pieces(voc, n, True)}
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(g, f, separators=(",", ":"))
            f.write("\n")
        print(f"{name}: {n} tokens, eog {g['eog']}", file=sys.stderr)


if __name__ == "__main__":
    main()
