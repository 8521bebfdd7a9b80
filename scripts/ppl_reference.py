#!/usr/bin/env python3
"""ppl_reference.py — llama-perplexity's perplexity, computed in Python from llama-cpp-python's
logits (llama-cpp-python ships no perplexity tool): the whole text tokenized with BOS as the model
wants, chunks of n_ctx tokens with the first replaced by BOS, the second half of each chunk scored,
-log softmax with the exponentials of f32 logit differences summed in f64, as
tools/perplexity/perplexity.cpp does. Prints the running value per chunk and the final estimate
in llama-perplexity's format, or JSON with --json.

usage: ppl_reference.py MODEL.gguf TEXT [-c 512] [-t 2] [--chunks N] [--kv-f32] [--json]
"""
import argparse
import json
import math
import sys

import numpy as np
import llama_cpp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("text")
    ap.add_argument("-c", type=int, default=512)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--kv-f32", action="store_true",
                    help="f32 KV cache (llama.cpp's default is f16; lmc keeps f32)")
    a = ap.parse_args()
    llm = llama_cpp.Llama(a.model, n_ctx=a.c, n_batch=a.c, n_ubatch=a.c, logits_all=True,
                          n_threads=a.t, verbose=False,
                          **({"type_k": 0, "type_v": 0} if a.kv_f32 else {}))
    text = open(a.text, "rb").read()
    tokens = llm.tokenize(text, add_bos=True, special=False)
    add_bos = llm._model.add_bos_token() if hasattr(llm._model, "add_bos_token") else True
    bos = llm.token_bos()
    n_ctx, first = a.c, a.c // 2
    if len(tokens) < 2 * n_ctx:
        sys.exit(f"{len(tokens)} tokens: need at least {2 * n_ctx}")
    n_chunk = len(tokens) // n_ctx
    if a.chunks > 0:
        n_chunk = min(n_chunk, a.chunks)
    nll = nll2 = 0.0
    count = 0
    running = []
    for i in range(n_chunk):
        chunk = list(tokens[i * n_ctx:(i + 1) * n_ctx])
        if add_bos:
            chunk[0] = bos
        llm.reset()
        llm.eval(chunk)
        logits = np.asarray(llm.scores[:n_ctx], dtype=np.float32)
        for k in range(first, n_ctx - 1):
            row = logits[k]
            mx = row.max()
            s = float(np.sum(np.exp(row - mx, dtype=np.float32).astype(np.float64)))
            v = -(float(np.float32(row[tokens[i * n_ctx + k + 1]] - mx)) - math.log(s))
            nll += v
            nll2 += v * v
            count += 1
        running.append(math.exp(nll / count))
        if not a.json:
            print(f"[{i + 1}]{running[-1]:.4f},", end="", flush=True)
    m = nll / count
    var = nll2 / count - m * m
    ppl = math.exp(m)
    unc = math.sqrt(var / (count - 1)) * ppl if var > 0 else 0.0
    if a.json:
        print(json.dumps({"ppl": ppl, "ppl_unc": unc, "chunks": running, "n_tokens": len(tokens),
                          "n_scored": count, "llama_cpp_python": llama_cpp.__version__}))
    else:
        print(f"\nFinal estimate: PPL = {ppl:.4f} +/- {unc:.5f}")


if __name__ == "__main__":
    main()
