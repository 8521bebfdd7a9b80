#!/usr/bin/env python3
"""test_chat_goldens.py — lmc's chat path against llama.cpp on the default model (SmolLM2-135M-Instruct):
for each conversation in tests/data/smollm2_chat_goldens.json (made by scripts/make_chat_goldens.py),
`lmc run --chat --temp 0 -n 64 --print-ids` must give the same prompt ids (template + tokenizer) and
the same 64 greedy ids and text; and `echo PROMPT | lmc chat --temp 0` must print llama.cpp's reply.
Skips (77) when the default model is not in the cache."""
import json
import os
import subprocess
import sys

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def default_model():
    cache = os.environ.get("LMC_CACHE")
    if not cache:
        xdg = os.environ.get("XDG_CACHE_HOME")
        cache = os.path.join(xdg, "lmc") if xdg else os.path.expanduser("~/.cache/lmc")
    return os.path.join(cache, "SmolLM2-135M-Instruct.Q4_1.gguf")


def main():
    lmc = os.environ.get("LMC_BIN")
    src = os.environ.get("LMC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
    if not lmc or not os.path.exists(lmc):
        print("SKIP: LMC_BIN is not set or missing")
        return 77
    if not os.path.exists(default_model()):
        print("SKIP: the default model is not in the cache (%s); run scripts/fetch-model.sh" % default_model())
        return 77
    with open(os.path.join(src, "tests", "data", "smollm2_chat_goldens.json"), encoding="utf-8") as f:
        gold = json.load(f)

    for i, case in enumerate(gold["cases"]):
        msgs = case["messages"]
        user = [m["content"] for m in msgs if m["role"] == "user"]
        system = [m["content"] for m in msgs if m["role"] == "system"]
        assert len(user) == 1 and len(system) <= 1
        cmd = [lmc, "run", "--chat", "--temp", "0", "-n", str(gold["n_predict"]), "-c", str(gold["n_ctx"]),
               "-t", "2", "--print-ids", "-p", user[0]]
        if system:
            cmd += ["--system", system[0]]
        r = subprocess.run(cmd, capture_output=True, timeout=300)
        check(r.returncode == 0, "case %d: lmc run exit %d: %s" % (i, r.returncode, r.stderr.decode()[-500:]))
        if r.returncode != 0:
            continue
        got = json.loads(r.stdout.decode("utf-8"))
        check(got["prompt_ids"] == case["prompt_ids"],
              "case %d: prompt ids\n  lmc   %s\n  llama %s" % (i, got["prompt_ids"], case["prompt_ids"]))
        same = 0
        while same < min(len(got["ids"]), len(case["ids"])) and got["ids"][same] == case["ids"][same]:
            same += 1
        margin = case["margins"][same] if same < len(case["margins"]) else None
        check(got["ids"] == case["ids"],
              "case %d: greedy ids differ at step %d (llama.cpp's top-1/top-2 margin there: %s)\n"
              "  lmc   %s\n  llama %s" % (i, same, margin, got["ids"], case["ids"]))
        check(got["text"] == case["text"], "case %d: text\n  lmc   %r\n  llama %r" % (i, got["text"], case["text"]))
        check(got["stop"] == case["stop"], "case %d: stop %s, llama.cpp %s" % (i, got["stop"], case["stop"]))

    # the interactive command, scripted: the reply is llama.cpp's text
    for i, case in enumerate(gold["cases"]):
        msgs = case["messages"]
        if msgs[0]["content"] != "What is the capital of France?" and msgs[0]["role"] != "system":
            continue
        user = [m["content"] for m in msgs if m["role"] == "user"][0]
        system = [m["content"] for m in msgs if m["role"] == "system"]
        cmd = [lmc, "chat", "--temp", "0", "-n", str(gold["n_predict"]), "-c", str(gold["n_ctx"]), "-t", "2"]
        if system:
            cmd += ["--system", system[0]]
        r = subprocess.run(cmd, input=(user + "\n").encode(), capture_output=True, timeout=300)
        check(r.returncode == 0, "chat case %d: exit %d: %s" % (i, r.returncode, r.stderr.decode()[-500:]))
        out = r.stdout.decode("utf-8")
        check(out == case["text"] + "\n", "chat case %d: reply\n  lmc   %r\n  llama %r" % (i, out, case["text"]))
        check("[turn 1: %d new prompt tokens processed" % len(case["prompt_ids"]) in r.stderr.decode(),
              "chat case %d: turn line: %s" % (i, r.stderr.decode()[-300:]))

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
