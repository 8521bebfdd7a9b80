#!/usr/bin/env python3
"""make_synth_vocab.py — a small byte-level BPE vocabulary GGUF for a pre-tokenizer no shared vocab file
has (Phi-4-mini's "gpt-4o"), so its split rules can be checked against llama.cpp without the real
200k-token vocabulary. The merges are learned on the test strings themselves (llama.cpp's .inp cases
and tests/data/tok/hard_cases.inp) with NO pre-tokenization, so many tokens span what the split rules
separate: the ids then show every place where two tokenizers split differently.

usage: scripts/make_synth_vocab.py [PRE] [N_MERGES]   -> tests/data/tok/synth-PRE.gguf
Needs: pip install gguf
"""
import collections
import os
import sys

import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from lmctest import shared_root  # noqa: E402

SEP = b"\n__ggml_vocab_test__\n"


def byte_chars():
    """GPT-2's byte -> printable character table."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def main():
    pre = sys.argv[1] if len(sys.argv) > 1 else "gpt-4o"
    n_merges = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
    corpus = open(os.path.join(shared_root(), "models", "vocab", "ggml-vocab-llama-spm.gguf.inp"), "rb").read()
    corpus += open(os.path.join(HERE, "..", "tests", "data", "tok", "hard_cases.inp"), "rb").read()
    bc = byte_chars()
    seqs = [[bc[b] for b in case] for case in corpus.split(SEP) if case]
    tokens = [bc[b] for b in range(256)]
    merges = []
    known = set(tokens)
    for _ in range(n_merges):
        pairs = collections.Counter()
        for s in seqs:
            pairs.update(zip(s, s[1:]))
        if not pairs:
            break
        (a, b), _count = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))  # ties: a fixed order
        merges.append(f"{a} {b}")
        if a + b not in known:  # the same text can come from two merge orders: one token
            known.add(a + b)
            tokens.append(a + b)
        for s in seqs:
            i = 0
            while i + 1 < len(s):
                if s[i] == a and s[i + 1] == b:
                    s[i:i + 2] = [a + b]
                i += 1
    specials = [t for t in ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>"] if t not in known]
    types = [gguf.TokenType.NORMAL] * len(tokens) + [gguf.TokenType.CONTROL] * len(specials)
    tokens += specials
    out = os.path.join(HERE, "..", "tests", "data", "tok", f"synth-{pre}.gguf")
    w = gguf.GGUFWriter(out, "llama")
    w.add_name(f"synthetic byte-level BPE, pre-tokenizer {pre}")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_eos_token_id(len(tokens) - len(specials))
    w.add_add_bos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{out}: {len(tokens)} tokens, {len(merges)} merges", file=sys.stderr)


if __name__ == "__main__":
    main()
