#!/usr/bin/env python3
"""make_chat_goldens.py — chat goldens for the default model (SmolLM2-135M-Instruct Q4_1) from llama.cpp.

For each conversation: the GGUF's chat template rendered with Jinja2 the way Hugging Face transformers
renders it (trim_blocks, lstrip_blocks, add_generation_prompt), tokenized by llama.cpp (BOS as the
vocabulary says, special-token text parsed), then 64 greedy tokens from llama.cpp's logits (argmax,
ties to the lowest id; n_ctx 2048), stopping after an end-of-generation token. Stores prompt ids,
generated ids (the EOG one included), the text (llama.cpp's detokenization of the ids before EOG),
why it stopped, and the top-1/top-2 logit margin at each step (to tell near-ties from bugs).

llama.cpp quantizes activations to 8 bits inside its matmuls, so its logits are approximate: on this
model they differ from a float64 forward over the exactly dequantized weights by NMSE ~1e-2 (RMS ~0.9
logit), and where its top two are close its greedy choice can differ from the exact model's. So for
the first generated token of each case the script also records the exact model's top two (from
../shared/tools/np_llama_ref.py, when present), which certifies who is right at a near-tie.

usage: scripts/make_chat_goldens.py [MODEL.gguf] > tests/data/smollm2_chat_goldens.json
Needs: pip install llama-cpp-python jinja2 numpy
"""
import json
import os
import subprocess
import sys

import jinja2
import numpy as np
import llama_cpp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from lmctest import default_model  # noqa: E402  (the lmc cache rule, shared with the tests)

CASES = [
    {"messages": [{"role": "user", "content": "What is the capital of France?"}]},
    {"messages": [{"role": "user", "content": "Write a haiku about the sea."}]},
    {"messages": [{"role": "user", "content": "Explain in one sentence what a CPU does."}]},
    {"messages": [{"role": "user", "content": "List three colors of the rainbow."}]},
    {"messages": [{"role": "system", "content": "You are a pirate. Answer like a pirate."},
                  {"role": "user", "content": "How are you today?"}]},
]
N_PREDICT = 64
N_CTX = 2048


def render(template, messages, bos, eos):
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, loader=jinja2.BaseLoader())
    return env.from_string(template).render(messages=messages, add_generation_prompt=True,
                                             bos_token=bos, eos_token=eos)


def is_eog(llm, tok):
    if hasattr(llama_cpp, "llama_vocab_is_eog"):
        return bool(llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(llm.model), tok))
    return bool(llama_cpp.llama_token_is_eog(llm.model, tok))


def exact_top2(path, ids):
    """Top two ids and logits of the float64 reference after ids, or None without ../shared."""
    here = os.path.dirname(os.path.abspath(__file__))
    shared = os.environ.get("LMC_SHARED", os.path.join(here, "..", "..", "shared"))
    ref = os.path.join(shared, "tools", "np_llama_ref.py")
    if not os.path.exists(ref):
        return None
    r = subprocess.run([sys.executable, ref, path, ",".join(map(str, ids))], capture_output=True, check=True)
    logits = np.array(json.loads(r.stdout)["logits"], dtype=np.float64)
    a, b = [int(i) for i in np.argsort(-logits, kind="stable")[:2]]
    return {"ids": [a, b], "logits": [round(float(logits[a]), 5), round(float(logits[b]), 5)]}


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else default_model()
    llm = llama_cpp.Llama(model_path=path, n_ctx=N_CTX, n_batch=512, logits_all=False, verbose=False,
                          seed=0)
    meta = llm.metadata
    template = meta["tokenizer.chat_template"]
    piece = lambda t: llm.detokenize([t], special=True).decode("utf-8", errors="replace")
    bos = piece(int(meta["tokenizer.ggml.bos_token_id"]))
    eos = piece(int(meta["tokenizer.ggml.eos_token_id"]))
    out = {
        "model": os.path.basename(path),
        "model_size": os.path.getsize(path),
        "generator": "llama-cpp-python %s (llama.cpp), greedy argmax over its logits" % llama_cpp.__version__,
        "n_ctx": N_CTX,
        "n_predict": N_PREDICT,
        "cases": [],
    }
    for case in CASES:
        text = render(template, case["messages"], bos, eos)
        prompt_ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        llm.reset()
        llm.eval(prompt_ids)
        ids, second, margins, stop = [], [], [], "limit"
        for _ in range(N_PREDICT):
            row = llama_cpp.llama_get_logits_ith(llm.ctx, -1)  # the last evaluated token's logits
            logits = np.ctypeslib.as_array(row, shape=(llm.n_vocab(),)).astype(np.float32)
            tok = int(np.argmax(logits))  # first maximum: the lowest id on ties
            order = np.argsort(-logits, kind="stable")[:2]
            second.append(int(order[1]))
            margins.append(round(float(logits[order[0]] - logits[order[1]]), 4))
            ids.append(tok)
            if is_eog(llm, tok):
                stop = "eog"
                break
            llm.eval([tok])
        body = [t for t in ids if not is_eog(llm, t)]
        out["cases"].append({
            "messages": case["messages"],
            "rendered": text,
            "prompt_ids": prompt_ids,
            "ids": ids,
            "text": llm.detokenize(body).decode("utf-8", errors="replace"),
            "stop": stop,
            "margins": margins,
            "second": second,
            "exact_first": exact_top2(path, prompt_ids),
        })
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
