#!/usr/bin/env python3
"""test_cli_flags.py — the one option table (tools/cli/flags.c) seen from outside:
- `lmc help flags` is the table docs/CLI.md holds, verbatim; no option name is taken twice by one
  subcommand;
- every subcommand's --help lists every option the table gives it;
- each option given to a subcommand outside its set is a usage error (exit 2) naming the option and
  every subcommand that takes it; an unknown option and bad values (type, range) are usage errors;
- with the default model: `lmc run -cnv` is lmc chat; `lmc serve --temp 0 -n 6` makes requests
  without those fields greedy (the same text as temperature 0) and at most 6 tokens long; `serve
  --chat-template llama3` renders chat requests with it (prompt_tokens equal the tokens of `lmc
  template --chat-template llama3` of the same messages).
The model checks skip when the default model is not in the cache; the rest needs only the binary."""
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, default_model, finish, lmc_bin, source_dir, start_server  # noqa: E402

SUBCOMMANDS = ["run", "chat", "serve", "bench", "logits", "tokenize", "template", "inspect", "quantize",
               "perplexity"]


def lmc(*args, stdin=None, timeout=60):
    return subprocess.run([lmc_bin(), *args], capture_output=True, text=True, input=stdin, timeout=timeout)


def parse_table(md):
    """Rows of the Markdown table: (names, value, default, subcommands, help)."""
    rows = []
    for line in md.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        names = re.findall(r"`([^`]+)`", cells[0])
        subs = SUBCOMMANDS if cells[3] == "all" else re.split(r", | and ", cells[3])
        rows.append((names, cells[1].replace("\\|", "|"), cells[2], subs, cells[4]))
    return rows


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def main():
    r = lmc("help", "flags")
    check(r.returncode == 0 and r.stdout.startswith("| option |"), f"lmc help flags: {r.returncode}")
    table = r.stdout
    with open(os.path.join(source_dir(), "docs", "CLI.md"), encoding="utf-8") as fp:
        doc = fp.read()
    check(table in doc, "docs/CLI.md holds the table `lmc help flags` prints (regenerate it)")
    rows = parse_table(table)
    check(len(rows) > 50, f"table rows: {len(rows)}")
    seen = {}
    for names, _, _, subs, _ in rows:
        for sub in subs:
            check(sub in SUBCOMMANDS, f"subcommand name {sub!r}")
            for n in names:
                check((n, sub) not in seen, f"{n} is taken twice by {sub}")
                seen[(n, sub)] = True

    # --help of each subcommand lists its options
    helps = {}
    for sub in SUBCOMMANDS:
        h = lmc(sub, "--help")
        check(h.returncode == 0 and h.stdout.startswith("usage: lmc " + sub), f"lmc {sub} --help: {h.returncode}")
        helps[sub] = h.stdout
    for names, _, _, subs, _ in rows:
        for sub in subs:
            for n in names:
                check(re.search(r"(^|[\s,])" + re.escape(n) + r"([\s,]|$)", helps[sub]) is not None,
                      f"lmc {sub} --help lists {n}")

    # an option outside its subcommands: a usage error naming them
    for names, value, _, subs, _ in rows:
        others = [s for s in SUBCOMMANDS if s not in subs]
        if not others:
            continue
        sub = others[0]
        # the same spelling may belong to another row that this subcommand takes (bench's -p)
        if any((n, sub) in seen for n in names):
            others = [s for s in others if all((n, s) not in seen for n in names)]
            if not others:
                continue
            sub = others[0]
        args = [sub, names[0]] + (["1"] if value else [])
        e = lmc(*args)
        taken_by = [s for s in SUBCOMMANDS if (names[0], s) in seen]
        ok = (e.returncode == 2 and f"option {names[0]} is not used by lmc {sub}" in e.stderr
              and all(s in e.stderr for s in taken_by) and f"Try 'lmc {sub} --help'" in e.stderr)
        check(ok, f"lmc {' '.join(args)}: exit {e.returncode}, {e.stderr.strip()!r}")

    e = lmc("run", "--frobnicate")
    check(e.returncode == 2 and "unknown option '--frobnicate'" in e.stderr, f"unknown option: {e.stderr!r}")
    for args, flag in ((["run", "-c", "-1"], "-c"), (["serve", "--port", "70000"], "--port"),
                       (["chat", "--top-p", "2"], "--top-p"), (["bench", "-p", "x"], "-p"),
                       (["serve", "-ngl", "all"], "-ngl"), (["run", "--temp"], "--temp"),
                       (["logits", "--device", "tpu"], "--device"), (["serve", "--temp", "hot"], "--temp"),
                       (["perplexity", "-c", "8", "-f", "x"], "-c")):
        e = lmc(*args)
        check(e.returncode == 2 and flag in e.stderr and "--help" in e.stderr,
              f"lmc {' '.join(args)}: exit {e.returncode}, {e.stderr.strip()!r}")

    if not os.path.exists(default_model()):
        print("(default model not in the cache: the model checks are skipped)")
        return finish()

    # -cnv: llama.cpp's conversation mode is lmc chat (one message per line when stdin is not a tty)
    c = lmc("run", "-cnv", "--temp", "0", "-n", "8", "-t", "2", stdin="Hello!\n", timeout=300)
    check(c.returncode == 0 and "[turn 1:" in c.stderr and c.stdout.strip(), f"run -cnv: {c.returncode} {c.stderr[-300:]!r}")

    # serve: --temp / -n as request defaults
    msgs = [{"role": "user", "content": "Name three colours."}]
    proc, port = start_server(["--temp", "0", "-n", "6", "--parallel", "1"])
    try:
        a = post(port, "/v1/chat/completions", {"messages": msgs, "seed": 1})
        b = post(port, "/v1/chat/completions", {"messages": msgs, "seed": 2})
        g = post(port, "/v1/chat/completions", {"messages": msgs, "temperature": 0, "max_tokens": 6})
        text = lambda x: x["choices"][0]["message"]["content"]  # noqa: E731
        check(text(a) == text(b) == text(g), f"--temp 0: greedy by default: {text(a)!r} {text(b)!r} {text(g)!r}")
        check(a["usage"]["completion_tokens"] <= 6 and a["choices"][0]["finish_reason"] == "length",
              f"-n 6: max_tokens by default: {a['usage']}")
        h = post(port, "/v1/chat/completions", {"messages": msgs, "max_tokens": 12, "temperature": 0})
        check(h["usage"]["completion_tokens"] > 6, f"a request's max_tokens wins: {h['usage']}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/props", timeout=30) as r:
            par = json.loads(r.read())["default_generation_settings"]["params"]
        check(par["temperature"] == 0 and par["n_predict"] == 6, f"/props shows --temp and -n: {par}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    # serve: --chat-template
    with tempfile.TemporaryDirectory() as tmp:
        mp = os.path.join(tmp, "m.json")
        with open(mp, "w") as fp:
            json.dump(msgs, fp)
        t = lmc("template", "-m", default_model(), "--chat-template", "llama3", "--messages", mp,
                "--add-generation-prompt", timeout=120)
        check(t.returncode == 0 and "<|start_header_id|>" in t.stdout, f"template llama3: {t.stderr!r}")
        tp = os.path.join(tmp, "p.txt")
        with open(tp, "w") as fp:
            fp.write(t.stdout)
        k = lmc("tokenize", "--parse-special", "--bos", "-f", tp, timeout=120)
        ids = k.stdout.split()
        if len(ids) >= 2 and ids[0] == ids[1]:  # BOS text from the template and BOS added: one, as serve keeps
            ids = ids[1:]
        n_expect = len(ids)
    proc, port = start_server(["--chat-template", "llama3", "--parallel", "1"])
    try:
        a = post(port, "/v1/chat/completions", {"messages": msgs, "max_tokens": 1})
        check(a["usage"]["prompt_tokens"] == n_expect,
              f"--chat-template llama3: {a['usage']['prompt_tokens']} prompt tokens, expected {n_expect}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/props", timeout=30) as r:
            tmpl = json.loads(r.read())["chat_template"]
        check("<|start_header_id|>" in tmpl, "/props shows the --chat-template in use")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
