#!/usr/bin/env python3
"""make_fuzz_seeds.py — writes the committed seed corpora of the fuzz targets into fuzz/corpus/:
tiny GGUFs (the crafted-model writer of tests/test_hostile_gguf.py), the templates of
tests/data/jinja_cases.json plus hostile ones, short texts for the tokenizers (the first byte picks
the vocabulary) and request bodies. Run it again after changing a target's input format; inputs named regress-* (kept findings) stay."""
import hashlib
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def gguf_seeds():
    import tempfile
    import test_hostile_gguf as tiny
    tmp = tempfile.mkdtemp()
    for name, kw in (("base", {}), ("one_block", {"blocks": 1, "block_count": 1}),
                     ("template", {"kv": {"tokenizer.chat_template": ("str", "{{ messages[0]['content'] }}")}})):
        path = os.path.join(tmp, name + ".gguf")
        tiny.write_model(path, width=8, ffn=16, **kw)
        put("fuzz_gguf", open(path, "rb").read())
    shutil.rmtree(tmp)


def jinja_seeds():
    cases = json.load(open(os.path.join(ROOT, "tests", "data", "jinja_cases.json")))
    for c in cases:
        src = c["template"]
        if c.get("context"):
            src += "\n---\n" + json.dumps(c["context"])
        put("fuzz_jinja", src)
    for src in ("{{ 1 + 1 + 1 + 1 }}", "{{ 'a' ~ 'b' ~ 'c' }}", "{{ [[[[1]]]] }}", "{{ 1e300|int }}",
                "{{ 1.5|round(3) }}", "{{ '%5.2f|%-3s'|format(1.5, 'x') }}",
                "{% set ns = namespace(s='x') %}{% for i in range(3) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
                "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}",
                "{% for m in messages %}<|{{ m.role }}|>{{ m.content | trim }}{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}",
                "{{ messages | tojson(indent=2) }}{{ tools[0].function.name | upper }}"):
        put("fuzz_jinja", src)


def tokenizer_seeds():
    texts = ["Hello world", " leading space", "tabs\tand\nnewlines\r\n", "naïve café – 日本語 😀",
             "123 4567 89.01", "<s>[INST] hi [/INST]</s>", "<|begin_of_text|><|start_header_id|>user",
             "   many    spaces   ", "don't we'll I'M", "\x7f\x01 control", "a" * 300]
    for i, t in enumerate(texts):
        for which in range(5):
            put("fuzz_tokenizer", bytes([which | (0x80 if i % 3 == 0 else 0)]) + t.encode())


def request_seeds():
    bodies = [
        {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "temperature": 0.7},
        {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": [{"type": "text", "text": "y"}]}],
         "stream": True, "stream_options": {"include_usage": True}},
        {"prompt": "1, 2, 3,", "max_tokens": 4, "stop": ["\n", "7"], "seed": 42, "top_p": 0.9, "top_k": 40},
        {"prompt": ["once"], "min_p": 0.05, "presence_penalty": 0.5, "frequency_penalty": 0.2,
         "repeat_penalty": 1.1, "max_completion_tokens": 3},
        {"messages": [], "n": 1}, {"prompt": "", "max_tokens": 0}, [], {"messages": "no"},
    ]
    for i, b in enumerate(bodies):
        data = json.dumps(b).encode()
        # the first byte's low bit picks chat (1) or completion (0): '{' is 0x7b (odd)
        put("fuzz_request", data if "messages" in json.dumps(b) else b" " + data)
    put("fuzz_request", b'{"prompt": "a\\u00e9\\ud83d\\ude00", "max_tokens": 1e300}')


def grammar_seeds():
    """First byte: bit 0 = JSON schema (else GBNF), bits 1-4 = chunk size - 1; then the grammar or
    schema, "\n%%\n" and a sample text fed to the matcher."""
    gbnf = [
        ('root ::= "yes" | "no"', "yes"),
        ('root ::= [a-z]+ ("," [a-z]+)*', "ab,cd,e"),
        ('root ::= expr\nexpr ::= term (("+" | "-") term)*\nterm ::= [0-9]+ | "(" expr ")"', "(1+2)-3"),
        ('root ::= "\u00e9" [^"\\x00]{2,5} .?', "\u00e9ab\u65e5"),
        ('root ::= ("a" | "b"){0,3} "c"?', "abac"),
        ('root ::= item+\nitem ::= "- " [^\n]* "\n"', "- x\n- y\n"),
    ]
    for i, (g, sample) in enumerate(gbnf):
        put("fuzz_grammar", bytes([(i % 8) << 1]) + g.encode() + b"\n%%\n" + sample.encode())
    schemas = [
        ({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
          "required": ["name"]}, '{"name": "Al", "age": 3}'),
        ({"type": "array", "items": {"enum": ["a", 1, None]}, "minItems": 1, "maxItems": 3}, '["a", 1]'),
        ({"anyOf": [{"type": "number"}, {"type": "string", "pattern": "^[a-z]{2,4}\\d?$"}]}, '"abc1"'),
        ({"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}},
          "$ref": "#/$defs/n"}, '{"next": {}}'),
        ({"type": "object", "additionalProperties": {"type": "boolean"}}, '{"x": true}'),
        ({"const": {"k": [1, 2]}}, '{"k": [1, 2]}'),
    ]
    for i, (sch, sample) in enumerate(schemas):
        put("fuzz_grammar", bytes([1 | ((i % 8) << 1)]) + json.dumps(sch).encode() + b"\n%%\n" + sample.encode())


if __name__ == "__main__":
    for t in os.listdir(OUT) if os.path.isdir(OUT) else []:  # keep the findings' regress-* inputs
        for f in os.listdir(os.path.join(OUT, t)):
            if not f.startswith("regress-"):
                os.remove(os.path.join(OUT, t, f))
    gguf_seeds()
    jinja_seeds()
    tokenizer_seeds()
    request_seeds()
    grammar_seeds()
    for t in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, t))
        print(t, len(files), "files,", sum(os.path.getsize(os.path.join(OUT, t, f)) for f in files), "bytes")
