#!/usr/bin/env python3
"""test_server_format.py — constrained output through `lmc serve` with the default model
(SmolLM2-135M-Instruct): response_format json_schema at temperature 0.8 over several seeds,
streamed and not, validated with jsonschema; json_object; llama-server's `grammar` and `json_schema`
fields on /v1/completions (outputs matched against the grammar's language); and the 400s for bad
grammars, unsupported schema keywords, conflicting fields and malformed tools (tool calls: test_server_tools.py). Uses the official `openai`
client where it applies. Skips (exit 77) without the model, openai or jsonschema."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmctest  # noqa: E402
from lmctest import check, finish, require_default_model, skip  # noqa: E402

try:
    import jsonschema
    import openai
except ImportError:
    skip("the openai and jsonschema packages are needed (scripts/setup.sh installs them)")

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "role": {"enum": ["admin", "user", "guest"]},
        "hobbies": {"type": "array", "items": {"type": "string", "maxLength": 16}, "maxItems": 3},
        "email": {"type": "string", "pattern": "^[a-z]{1,10}@[a-z]{1,10}\\.com$"},
    },
    "required": ["name", "age", "role", "hobbies", "email"],
    "additionalProperties": False,
}
MESSAGES = [{"role": "user", "content": "Describe a user of a website as JSON."}]
SEEDS = [1, 2, 3]


def raw(port, path, body):
    return lmctest.http_request(port, "POST", path, body)[:2]


def valid(text, schema):
    try:
        jsonschema.validate(json.loads(text), schema)
        return True
    except (ValueError, jsonschema.ValidationError) as e:
        print("invalid:", repr(text), e)
        return False


def test_json_schema(client):
    rf = {"type": "json_schema", "json_schema": {"name": "user", "schema": PERSON, "strict": True}}
    for seed in SEEDS:
        r = client.chat.completions.create(model="m", messages=MESSAGES, temperature=0.8,
                                           seed=seed, max_tokens=300, response_format=rf)
        text = r.choices[0].message.content
        check(r.choices[0].finish_reason == "stop", f"seed {seed}: finish {r.choices[0].finish_reason}")
        check(valid(text, PERSON), f"seed {seed}: json_schema output validates")
        parts, finish_reason = [], None
        for ch in client.chat.completions.create(model="m", messages=MESSAGES, temperature=0.8,
                                                 seed=seed, max_tokens=300, response_format=rf,
                                                 stream=True):
            if ch.choices and ch.choices[0].delta.content:
                parts.append(ch.choices[0].delta.content)
            if ch.choices and ch.choices[0].finish_reason:
                finish_reason = ch.choices[0].finish_reason
        check(finish_reason == "stop", f"seed {seed}: streamed finish {finish_reason}")
        check(valid("".join(parts), PERSON), f"seed {seed}: streamed output validates")
        check("".join(parts) == text, f"seed {seed}: streamed text equals the plain one")


def test_json_object(client):
    for seed in SEEDS[:2]:
        r = client.chat.completions.create(model="m", messages=MESSAGES, temperature=0.8,
                                           seed=seed, max_tokens=300,
                                           response_format={"type": "json_object"})
        text = r.choices[0].message.content
        ok = False
        try:
            ok = isinstance(json.loads(text), dict)
        except ValueError:
            pass
        check(ok or r.choices[0].finish_reason == "length",
              f"json_object seed {seed}: a JSON object ({text!r})")
    r = client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=20,
                                       response_format={"type": "text"})
    check(r.choices[0].finish_reason in ("stop", "length"), "response_format text is accepted")


GBNF = 'root ::= " " ("yes" | "no") ", because " [a-z ]{1,40} "."'
GBNF_RE = re.compile(r" (yes|no), because [a-z ]{1,40}\.")


def test_grammar_field(port, client):
    for seed in SEEDS:
        st, d = raw(port, "/v1/completions", {"prompt": "Is the sky blue? Answer:", "grammar": GBNF,
                                               "temperature": 0.8, "seed": seed, "max_tokens": 60})
        text = d["choices"][0]["text"] if st == 200 else ""
        check(st == 200 and GBNF_RE.fullmatch(text), f"grammar seed {seed}: {st} {text!r}")
        # the same through the openai client, streamed (llama-server's field rides in extra_body)
        parts = [c.choices[0].text for c in client.completions.create(
            model="m", prompt="Is the sky blue? Answer:", temperature=0.8, seed=seed,
            max_tokens=60, stream=True, extra_body={"grammar": GBNF}) if c.choices]
        check("".join(parts) == text, f"grammar seed {seed}: streamed {''.join(parts)!r}")
    schema = {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 9},
              "minItems": 2, "maxItems": 4}
    st, d = raw(port, "/v1/completions", {"prompt": "Some numbers:", "json_schema": schema,
                                           "temperature": 0.8, "seed": 5, "max_tokens": 60})
    check(st == 200 and valid(d["choices"][0]["text"], schema), f"json_schema field: {st} {d}")


def test_errors(port):
    def bad(body, param, text, path="/v1/chat/completions"):
        body = dict(body)
        if path.endswith("chat/completions"):
            body.setdefault("messages", MESSAGES)
        else:
            body.setdefault("prompt", "x")
        st, d = raw(port, path, body)
        err = d.get("error", {}) if isinstance(d, dict) else {}
        check(st == 400 and err.get("param") == param and text in err.get("message", ""),
              f"{body}: want 400 param {param} with '{text}', got {st} {d}")

    bad({"grammar": "root ::= \"a"}, "grammar", "line 1, column 12: unterminated string",
        "/v1/completions")
    bad({"grammar": "root ::= root \"x\" | \"x\""}, "grammar", "left-recursive", "/v1/completions")
    bad({"grammar": 5}, "grammar", "must be a string")
    bad({"json_schema": {"type": "string", "format": "email"}}, "json_schema",
        "'format': 'email' is not supported")
    bad({"response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object", "properties": {"a": {"not": {}}}}}}},
        "response_format.json_schema.schema", "at /properties/a: unsupported keyword 'not'")
    bad({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
        "response_format.json_schema.schema", "is required")
    bad({"response_format": {"type": "xml"}}, "response_format.type", "got \"xml\"")
    bad({"response_format": "json"}, "response_format", "must be an object")
    bad({"grammar": "root ::= \"a\"", "json_schema": {}}, "grammar", "only one of")
    bad({"tools": [{"type": "retrieval", "function": {"name": "f", "parameters": {}}}]}, "tools[0].type",
        "must be \"function\"")
    bad({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required",
         "response_format": {"type": "json_object"}}, "tool_choice", "cannot be combined")


def main():
    require_default_model()
    proc, port = lmctest.start_server(["--parallel", "2"], n_ctx=1024)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none")
        test_errors(port)
        test_grammar_field(port, client)
        test_json_schema(client)
        test_json_object(client)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    finish()


if __name__ == "__main__":
    main()
