#!/usr/bin/env python3
"""test_gemma_chat.py — the real Gemma-3-270M (gemma-3-270m-q4_k_m.gguf in the lmc cache) through
`lmc chat` and `lmc serve`. Its GGUF has no chat template, so lmc picks the built-in Gemma template by
the vocabulary's <start_of_turn> (tests/test_templates.c checks it renders Gemma-3's own template;
tests/test_tok_goldens.c that the prompt's ids are llama.cpp's). Here: the terminal chat (with and
without a system prompt, two turns) and the OpenAI API answer, and no turn marker (<start_of_turn>,
<end_of_turn>, <bos>, <eos>) reaches the user. This file is the BASE Gemma-3-270M (no -it, no chat
template): llama.cpp's greedy reply to a chat prompt repeats the question and never ends its turn
either, so the replies' text and length are not checked here (stopping at <end_of_turn> rests on
the end-of-generation set, which test_tok_goldens.c checks against llama.cpp's).
Skips (77) when the file is not in the cache or this build cannot run the gemma3 architecture."""
import http.client
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import cache_dir, check, finish, lmc_bin, skip, start_server  # noqa: E402

GEMMA3 = "gemma-3-270m-q4_k_m.gguf"
MARKERS = ["<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>"]
TURN = re.compile(r"\[turn (\d+): (\d+) new prompt tokens processed \(of (\d+) in context, (\d+) reused\), "
                  r"(\d+) generated")
N_MAX = 48


def chat(lmc, model, lines, *args):
    r = subprocess.run([lmc, "chat", "-m", model, "--temp", "0", "-t", "2", "-n", str(N_MAX), "-c", "2048", *args],
                       input="".join(l + "\n" for l in lines).encode(), capture_output=True, timeout=600)
    err = r.stderr.decode("utf-8", "replace")
    turns = {int(m.group(1)): tuple(int(x) for x in m.groups()[1:]) for m in TURN.finditer(err)}
    return r.returncode, r.stdout.decode("utf-8", "replace"), err, turns


def main():
    lmc = lmc_bin()
    model = os.path.join(cache_dir(), GEMMA3)
    if not os.path.exists(model):
        skip(f"{model} is not in the cache")
    probe = subprocess.run([lmc, "run", "-m", model, "-p", "Hi", "-n", "1", "-t", "2"], capture_output=True,
                           timeout=300)
    if probe.returncode != 0:
        skip("this build cannot run the model: " + probe.stderr.decode("utf-8", "replace").strip()[-300:])

    for label, args in (("no system prompt", []), ("system prompt", ["--system", "Answer in one short sentence."])):
        rc, out, err, t = chat(lmc, model, ["What is the capital of France?", "And of Italy?"], *args)
        check(rc == 0, f"{label}: chat exit {rc}: {err[-400:]}")
        check(sorted(t) == [1, 2], f"{label}: two turn lines: {err[-600:]}")
        for k in sorted(t):
            check(0 < t[k][3] <= N_MAX, f"{label}: turn {k} generated {t[k][3]} tokens")
        for m in MARKERS:
            check(m not in out, f"{label}: {m} in the chat output: {out!r}")
        print(f"chat, {label}: turns {t}, output {out.strip()[:120]!r}")

    proc, port = start_server(["-m", model], n_ctx=2048)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        body = {"messages": [{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": "What is the capital of France?"}],
                "max_tokens": N_MAX, "temperature": 0}
        c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        data = json.loads(r.read())
        check(r.status == 200, f"serve: status {r.status}: {data}")
        ch = (data.get("choices") or [{}])[0]
        text = (ch.get("message") or {}).get("content") or ""
        check(ch.get("finish_reason") in ("stop", "length"), f"serve: finish_reason {ch.get('finish_reason')!r}")
        check(0 < data.get("usage", {}).get("completion_tokens", 0) <= N_MAX, f"serve: usage {data.get('usage')}")
        check(text != "", "serve: an empty reply")
        for m in MARKERS:
            check(m not in text, f"serve: {m} in the reply: {text!r}")
        print(f"serve: {ch.get('finish_reason')}, {data.get('usage')}, {text.strip()[:120]!r}")
    finally:
        proc.kill()
        proc.wait()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
