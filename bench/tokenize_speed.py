#!/usr/bin/env python3
"""tokenize_speed.py — times 'lmc tokenize -f' on ~1 MB of deterministic English-like text (a fixed
word list, sentences and paragraphs drawn with a seeded PRNG) and, when llama-cpp-python is installed,
llama.cpp's tokenizer on the same vocabulary and text. It checks both give the same ids.

usage: bench/tokenize_speed.py [--vocab GGUF] [--bytes N] [--runs K] [--lmc build/lmc]
Default vocab: ../shared/models/vocab/ggml-vocab-llama-bpe.gguf (Llama-3). Single-threaded by nature."""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

WORDS = ("the of and to in a is that for it as was with be by on not he I this are or his from at which "
         "but have an they you were her she there been one all we their has would when if so what no more "
         "time people year way day man thing woman life child world school state family student group "
         "country problem hand part place case week company system program question work government number "
         "night point home water room mother area money story fact month lot right study book eye job word "
         "business issue side kind head house service friend father power hour game line end member law car "
         "city community name president team minute idea kid body information back parent face others level "
         "office door health person art war history party result change morning reason research girl guy "
         "moment air teacher force education don't it's I'm we'll they've couldn't 1984 2026 3.14 42 100,000 "
         "e-mail U.S. Mr. Dr. (see above) \"quoted\" well-known self-contained").split()
PUNCT = [",", ",", ";", ":", " -", ""]


def make_text(n_bytes, seed=1234):
    rng = random.Random(seed)
    out, size = [], 0
    while size < n_bytes:
        para = []
        for _ in range(rng.randint(3, 8)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(6, 24))]
            for i in range(1, len(words) - 1):
                if rng.random() < 0.08:
                    words[i] += rng.choice(PUNCT)
            s = " ".join(words)
            para.append(s[0].upper() + s[1:] + rng.choice([".", ".", ".", "?", "!"]))
        p = " ".join(para) + "\n\n"
        out.append(p)
        size += len(p.encode())
    return "".join(out).encode()[:n_bytes].decode("utf-8", "ignore")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    shared = os.environ.get("LMC_SHARED", os.path.join(here, "..", "..", "shared"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", default=os.path.join(shared, "models/vocab/ggml-vocab-llama-bpe.gguf"))
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lmc", default=os.path.join(here, "..", "build", "lmc"))
    a = ap.parse_args()
    text = make_text(a.bytes)
    data = text.encode()
    with tempfile.NamedTemporaryFile(suffix=".txt") as f:
        f.write(data)
        f.flush()
        best, ids = None, None
        for _ in range(a.runs):
            t0 = time.perf_counter()
            r = subprocess.run([a.lmc, "tokenize", "-m", a.vocab, "-f", f.name], capture_output=True, check=True)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
            ids = [int(x) for x in r.stdout.split()]
        # the load alone (same command on an empty prompt), to separate it from tokenizing
        load = None
        for _ in range(a.runs):
            t0 = time.perf_counter()
            subprocess.run([a.lmc, "tokenize", "-m", a.vocab, "-p", ""], capture_output=True, check=True)
            dt = time.perf_counter() - t0
            load = dt if load is None else min(load, dt)
    mb = len(data) / 1e6
    print(f"text: {len(data)} bytes, {len(ids)} tokens ({os.path.basename(a.vocab)})")
    print(f"lmc tokenize -f: {best:.3f} s total (best of {a.runs}), of which load+exit {load:.3f} s; "
          f"tokenizing {best - load:.3f} s = {mb / max(best - load, 1e-9):.1f} MB/s")
    try:
        import llama_cpp
    except ImportError:
        print("llama-cpp-python not installed: no comparison")
        return 0
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=a.vocab, vocab_only=True, verbose=False)
    lt = time.perf_counter() - t0
    best_l, lids = None, None
    for _ in range(a.runs):
        t0 = time.perf_counter()
        lids = llm.tokenize(data, add_bos=False, special=False)
        dt = time.perf_counter() - t0
        best_l = dt if best_l is None else min(best_l, dt)
    print(f"llama.cpp (llama-cpp-python {llama_cpp.__version__}): load {lt:.3f} s, tokenizing {best_l:.3f} s = "
          f"{mb / best_l:.1f} MB/s; ids {'identical' if lids == ids else 'DIFFERENT'}")
    return 0 if lids == ids else 1


if __name__ == "__main__":
    sys.exit(main())
