#!/usr/bin/env python3
"""test_template_cli.py — `lmc template` end to end: every shared chat template over its conversations
prints exactly the Jinja2 text (nothing more on stdout) or exits 1 with the raised message on stderr;
the model path (-m) takes the template and BOS/EOS text from the GGUF; usage errors exit 2."""
import json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, shared_dir, shared_root  # noqa: E402

lmc = lmc_bin()
tdir = shared_dir("templates")
shared = shared_root()


def run(args, env_extra=None):
    env = dict(os.environ, LMC_TEMPLATE_NOW="2026-11-21")
    env.update(env_extra or {})
    p = subprocess.run([lmc, "template"] + args, capture_output=True, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


tmp = tempfile.mkdtemp()
msgs_path = os.path.join(tmp, "m.json")
for f in sorted(os.listdir(tdir)):
    if not f.endswith(".jinja"):
        continue
    cases = json.load(open(os.path.join(tdir, f[:-6] + ".expected.json")))
    for c in cases:
        json.dump(c["messages"], open(msgs_path, "w"), ensure_ascii=False)
        args = ["--file", os.path.join(tdir, f), "--messages", msgs_path,
                "--bos-token", c["bos_token"], "--eos-token", c["eos_token"]]
        if c["add_generation_prompt"]:
            args.append("--add-generation-prompt")
        rc, out, err = run(args)
        label = f + "/" + c["name"]
        if "expected" in c:
            check(rc == 0 and out == c["expected"] and err == "", label + f" (rc {rc}, err {err.strip()!r})")
        else:
            check(rc == 1 and out == "" and c["error"] in err, label + f" (rc {rc}, err {err.strip()!r})")

# built-in and extra context
json.dump([{"role": "user", "content": "hi"}], open(msgs_path, "w"))
rc, out, err = run(["--chat-template", "chatml", "--messages", msgs_path, "--add-generation-prompt"])
check(rc == 0 and out == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "builtin chatml")
ctx_path = os.path.join(tmp, "ctx.json")
json.dump({"tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}]},
          open(ctx_path, "w"))
rc, out, err = run(["--file", os.path.join(tdir, "Qwen-Qwen2.5-7B-Instruct.jinja"), "--messages", msgs_path,
                    "--context", ctx_path])
check(rc == 0 and '{"type": "function", "function": {"name": "f"' in out, "--context passes tools")

# the model's own template and token text
vocab = os.path.join(shared, "models", "vocab", "ggml-vocab-llama-bpe.gguf")
if os.path.exists(vocab):
    rc, out, err = run(["-m", vocab, "--messages", msgs_path, "--add-generation-prompt"])
    check(rc == 0 and out.startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>")
          and out.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n"), "-m llama-bpe: " + repr(out[:80]) + err)
    rc, out, err = run(["-m", vocab, "--messages", msgs_path, "--bos-token", "B"])
    check(rc == 0 and out.startswith("B<|start_header_id|>"), "--bos-token overrides the model's")

# usage and input errors
check(run(["--chat-template", "chatml"])[0] == 2, "missing --messages is a usage error")
check(run(["--chat-template", "nope", "--messages", msgs_path])[0] == 2, "unknown built-in is a usage error")
check(run(["--frobnicate"])[0] == 2, "unknown option")
open(os.path.join(tmp, "bad.json"), "w").write("[{")
check(run(["--chat-template", "chatml", "--messages", os.path.join(tmp, "bad.json")])[0] == 1, "bad JSON")
open(os.path.join(tmp, "bad.jinja"), "w").write("{% if %}")
rc, out, err = run(["--file", os.path.join(tmp, "bad.jinja"), "--messages", msgs_path])
check(rc == 1 and "line 1" in err and out == "", "syntax error reported with its line: " + err)
rc, out, err = run(["--help"])
check(rc == 0 and "--messages" in out, "--help")

sys.exit(finish())
