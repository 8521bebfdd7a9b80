#!/usr/bin/env python3
"""test_tool_templates.py — chat templates with tools, as `lmc serve` hands them to a template, against
Jinja2 rendering them the way Hugging Face's apply_chat_template(messages, tools=...) does (the settings of
../shared/tools/render_templates.py): every shared template that reads `tools`, over conversations with a
tool list, an assistant turn with tool_calls (arguments as objects, which is what HF callers pass and what
lmc serve turns a JSON-object arguments string into) and a role "tool" result. `lmc template --context`
must print exactly Jinja2's text, or exit 1 when Jinja2 raises. Skips (77) without ../shared or jinja2."""
import datetime
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, shared_dir, skip  # noqa: E402

try:
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    skip("jinja2 is needed")

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city"},
                                                        "unit": {"type": "string", "enum": ["c", "f"]}},
                       "required": ["city"]}}},
    {"type": "function", "function": {"name": "ping", "description": "Check the service",
                                      "parameters": {"type": "object", "properties": {}}}},
]
CALL = {"id": "call9abcd", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}}
CONVERSATIONS = [
    ("ask", [{"role": "system", "content": "You are helpful."},
             {"role": "user", "content": "Weather in Paris?"}], True),
    ("ask-no-system", [{"role": "user", "content": "Weather in Paris?"}], True),
    ("result", [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call9abcd", "name": "get_weather", "content": "{\"temp\": 21}"}],
     True),
    ("answered", [{"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "content": None, "tool_calls": [CALL]},
                  {"role": "tool", "tool_call_id": "call9abcd", "name": "get_weather", "content": "21 C"},
                  {"role": "assistant", "content": "It is 21 C in Paris."}], False),
]


def jinja_env():
    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime(2026, 11, 21).strftime(fmt)
    return env


def main():
    tdir = shared_dir("templates")
    env = jinja_env()
    tmp = tempfile.mkdtemp()
    msgs_path, ctx_path = os.path.join(tmp, "m.json"), os.path.join(tmp, "c.json")
    json.dump({"tools": TOOLS}, open(ctx_path, "w"))
    n_templates = n_rendered = 0
    for f in sorted(os.listdir(tdir)):
        if not f.endswith(".jinja"):
            continue
        src = open(os.path.join(tdir, f), encoding="utf-8").read()
        if "tools" not in src:
            continue
        n_templates += 1
        tmpl = env.from_string(src)
        for name, msgs, gen in CONVERSATIONS:
            try:
                want, error = tmpl.render(messages=msgs, tools=TOOLS, add_generation_prompt=gen,
                                          bos_token="<s>", eos_token="</s>"), None
            except Exception as e:  # the template raised: lmc must too
                want, error = None, str(e)
            json.dump(msgs, open(msgs_path, "w"))
            args = [lmc_bin(), "template", "--file", os.path.join(tdir, f), "--messages", msgs_path,
                    "--context", ctx_path, "--bos-token", "<s>", "--eos-token", "</s>"]
            if gen:
                args.append("--add-generation-prompt")
            p = subprocess.run(args, capture_output=True, env=dict(os.environ, LMC_TEMPLATE_NOW="2026-11-21"))
            out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
            label = f"{f}/{name}"
            if error is None:
                n_rendered += 1
                ok = p.returncode == 0 and out == want
                if not ok and p.returncode == 0:  # show where they part
                    k = next((i for i in range(min(len(out), len(want))) if out[i] != want[i]), min(len(out), len(want)))
                    print(f"{label}: part at {k}:\n  lmc    {out[max(0, k - 60):k + 60]!r}\n  jinja2 {want[max(0, k - 60):k + 60]!r}")
                check(ok, f"{label}: rc {p.returncode} {err.strip()[:200]}")
            else:
                check(p.returncode == 1 and out == "", f"{label}: Jinja2 raised ({error}); lmc rc {p.returncode}")
    check(n_templates >= 10, f"{n_templates} templates read tools")
    print(f"{n_templates} templates with tools, {n_rendered} renders compared")
    finish()


if __name__ == "__main__":
    main()
