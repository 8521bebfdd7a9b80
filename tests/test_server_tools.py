#!/usr/bin/env python3
"""test_server_tools.py — tool calls through `lmc serve` with the default model (SmolLM2-135M-Instruct,
whose template has no tool support: the generic fallback) and the official `openai` client:
- tool_choice "required" and a named function at temperature 0.8 over several seeds: the reply is
  message.tool_calls only (content null, finish_reason "tool_calls", ids "call_..."), each call names a
  given function and its arguments parse as JSON and validate against that function's schema (jsonschema);
- streamed, the tool-call deltas (index, id, type and name first, then argument pieces) reassemble to the
  call the same seed gives unstreamed;
- "auto": either text or a valid call of a given function;
- a tool result round-trips: an assistant message with tool_calls and a role "tool" message are
  accepted, and their text reaches the prompt (prompt_tokens grow by exactly the tokens added);
- malformed tools, tool_choice and tool messages are 400s naming the field;
- with `--chat-template` set to the shared Qwen 2.5 (Hermes syntax), Llama 3.1 and Mistral Nemo templates,
  the prompt has the token count of Jinja2's rendering with tools, and "required" replies are calls in
  that template's syntax, parsed back into valid calls.
Skips (exit 77) without the model, openai or jsonschema."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmctest  # noqa: E402
from lmctest import check, finish, require_default_model, skip  # noqa: E402

try:
    import jsonschema
    import openai
except ImportError:
    skip("the openai and jsonschema packages are needed (scripts/setup.sh installs them)")

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 30},
        "unit": {"enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
ADD = {
    "type": "object",
    "properties": {"a": {"type": "integer", "minimum": -1000, "maximum": 1000},
                   "b": {"type": "integer", "minimum": -1000, "maximum": 1000}},
    "required": ["a", "b"],
    "additionalProperties": False,
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                      "parameters": WEATHER}},
    {"type": "function", "function": {"name": "add", "description": "Add two integers", "parameters": ADD}},
]
SCHEMAS = {"get_weather": WEATHER, "add": ADD}
MESSAGES = [{"role": "user", "content": "What is the weather in Paris right now?"}]
SEEDS = [1, 2, 3, 4]


def raw(port, body, path="/v1/chat/completions"):
    return lmctest.http_request(port, "POST", path, body)[:2]


def valid_call(call, what, only=None):
    """call: (id, name, arguments string). True when it names a tool (only's, if given) and its arguments
    validate against that tool's schema."""
    cid, name, args = call
    ok = isinstance(cid, str) and cid.startswith("call_") and name in SCHEMAS and (only is None or name == only)
    try:
        jsonschema.validate(json.loads(args), SCHEMAS.get(name, {}))
    except (ValueError, jsonschema.ValidationError) as e:
        print(f"{what}: invalid arguments {args!r}: {e}")
        ok = False
    check(ok, f"{what}: a valid call of {only or 'a tool'}: {call}")
    return ok


def calls_of(message):
    return [(t.id, t.function.name, t.function.arguments) for t in (message.tool_calls or [])]


def forced(client, choice, only, what):
    """Non-streamed and streamed calls over SEEDS; returns nothing, checks everything."""
    for seed in SEEDS:
        r = client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS, tool_choice=choice,
                                           temperature=0.8, seed=seed, max_tokens=120)
        ch = r.choices[0]
        calls = calls_of(ch.message)
        check(ch.finish_reason == "tool_calls" and ch.message.content is None and len(calls) >= 1,
              f"{what} seed {seed}: tool_calls only ({ch.finish_reason}, {ch.message.content!r}, {calls})")
        check(all(t.type == "function" for t in ch.message.tool_calls or []), f"{what}: type function")
        for c in calls:
            valid_call(c, f"{what} seed {seed}", only)
        # the same seed streamed: deltas in OpenAI's shape reassemble to the same calls
        got, finish_reason, shapes_ok = {}, None, True
        for chunk in client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS, tool_choice=choice,
                                                    temperature=0.8, seed=seed, max_tokens=120, stream=True):
            if not chunk.choices:
                continue
            d = chunk.choices[0].delta
            finish_reason = chunk.choices[0].finish_reason or finish_reason
            for t in d.tool_calls or []:
                if t.index not in got:  # the first delta of a call carries id, type and name
                    shapes_ok &= bool(t.id and t.type == "function" and t.function and t.function.name)
                    got[t.index] = [t.id, t.function.name, t.function.arguments or ""]
                else:
                    shapes_ok &= t.id is None and t.function is not None and t.function.name is None
                    got[t.index][2] += t.function.arguments or ""
        streamed = [tuple(got[i]) for i in sorted(got)]
        check(shapes_ok and finish_reason == "tool_calls", f"{what} seed {seed}: delta shapes, finish {finish_reason}")
        check([c[1:] for c in streamed] == [c[1:] for c in calls],
              f"{what} seed {seed}: streamed calls {streamed} equal the unstreamed {calls}")


def test_auto(client):
    n_calls = n_text = 0
    for seed in SEEDS:
        for stream in (False, True):
            kw = dict(model="m", messages=MESSAGES, tools=TOOLS, temperature=0.8, seed=seed, max_tokens=60)
            if not stream:
                ch = client.chat.completions.create(**kw).choices[0]
                calls, content, fr = calls_of(ch.message), ch.message.content, ch.finish_reason
            else:
                content, calls, fr = "", {}, None
                for chunk in client.chat.completions.create(stream=True, **kw):
                    if not chunk.choices:
                        continue
                    d = chunk.choices[0].delta
                    fr = chunk.choices[0].finish_reason or fr
                    content += d.content or ""
                    for t in d.tool_calls or []:
                        c = calls.setdefault(t.index, [t.id, t.function.name, ""])
                        c[2] += t.function.arguments or ""
                calls = [tuple(calls[i]) for i in sorted(calls)]
            if calls:
                n_calls += 1
                for c in calls:
                    valid_call(c, f"auto seed {seed} stream {stream}")
                check(fr == "tool_calls", f"auto: finish_reason tool_calls ({fr})")
            else:
                n_text += 1
                check(isinstance(content, str) and content != "" and fr in ("stop", "length"),
                      f"auto seed {seed} stream {stream}: a text reply ({content!r}, {fr})")
    print(f"auto: {n_calls} replies were calls, {n_text} text")


def test_round_trip(client, port):
    r = client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS, tool_choice="required",
                                       temperature=0.8, seed=5, max_tokens=120)
    msg = r.choices[0].message
    check(msg.tool_calls, "a call to answer")
    if not msg.tool_calls:
        return
    call = msg.tool_calls[0]

    def prompt_tokens(result, arguments=None):
        m = msg.model_dump(exclude_none=True)
        if arguments is not None:
            m["tool_calls"][0]["function"]["arguments"] = arguments
        history = MESSAGES + [m, {"role": "tool", "tool_call_id": call.id, "content": result}]
        rr = client.chat.completions.create(model="m", messages=history, tools=TOOLS, temperature=0, max_tokens=8)
        check(rr.choices[0].finish_reason in ("stop", "length", "tool_calls"), "a tool result is accepted")
        return rr.usage.prompt_tokens

    def n_tokens(text):
        st, d = raw(port, {"content": text}, "/tokenize")
        return len(d["tokens"]) if st == 200 else -1

    short, extra = "Sunny", " with a light breeze from the north and 21 degrees"
    diff = prompt_tokens(short + extra) - prompt_tokens(short)
    check(diff == n_tokens(short + extra) - n_tokens(short) and diff > 0,
          f"the tool result reaches the prompt ({diff} more tokens)")
    a1 = json.dumps({"city": "Oslo", "unit": "celsius"})
    a2 = json.dumps({"city": "Oslo and the fjords nearby", "unit": "celsius"})
    check(prompt_tokens("x", a2) > prompt_tokens("x", a1), "the assistant's call arguments reach the prompt")


def test_errors(port):
    def bad(body, param, text):
        body = dict(body)
        body.setdefault("messages", MESSAGES)
        body.setdefault("max_tokens", 4)
        st, d = raw(port, body)
        err = d.get("error", {}) if isinstance(d, dict) else {}
        check(st == 400 and err.get("param") == param and text in err.get("message", ""),
              f"{json.dumps(body)[:160]}: want 400 param {param} with '{text}', got {st} {d}")

    fn = lambda **f: [{"type": "function", "function": dict({"name": "f"}, **f)}]  # noqa: E731
    bad({"tools": {"type": "function"}}, "tools", "must be an array")
    bad({"tools": ["f"]}, "tools[0]", "must be an object")
    bad({"tools": [{"type": "function"}]}, "tools[0].function", "must be an object")
    bad({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name", "letters")
    bad({"tools": [{"type": "function", "function": {"name": "x" * 65}}]}, "tools[0].function.name", "letters")
    bad({"tools": fn(parameters=[1])}, "tools[0].function.parameters", "schema object")
    bad({"tools": fn(description=3)}, "tools[0].function.description", "string")
    bad({"tools": fn() + fn()}, "tools[1].function.name", "already given")
    bad({"tools": fn(), "tool_choice": "sometimes"}, "tool_choice", "got \"sometimes\"")
    bad({"tools": fn(), "tool_choice": {"type": "function", "function": {"name": "g"}}},
        "tool_choice.function.name", "is not a function")
    bad({"tools": fn(), "parallel_tool_calls": "yes"}, "parallel_tool_calls", "true or false")
    bad({"tools": fn(parameters={"type": "object", "properties": {"a": {"not": {}}}}), "tool_choice": "required"},
        "tools[0].function.parameters", "at /properties/a: unsupported keyword 'not'")
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    bad({"messages": MESSAGES + [{"role": "assistant", "tool_calls": [call]}, {"role": "tool", "content": "1"}]},
        "messages[2].tool_call_id", "is required")
    bad({"messages": MESSAGES + [{"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}]},
        "messages[1].tool_calls[0]", "must be")
    bad({"messages": [{"role": "user", "content": "x", "tool_calls": [call]}]}, "messages[0].tool_calls",
        "assistant")
    # "none" with tools and the trivial forms stay text replies
    st, d = raw(port, {"messages": MESSAGES, "tools": fn(), "tool_choice": "none", "max_tokens": 4})
    check(st == 200 and "tool_calls" not in d["choices"][0]["message"] and
          d["choices"][0]["finish_reason"] in ("stop", "length"), f"tool_choice none: a text reply ({st})")


def jinja_render(src, messages, tools):
    """The template rendered as Hugging Face's apply_chat_template(messages, tools=tools) does."""
    import datetime
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    return env.from_string(src).render(messages=messages, tools=tools, add_generation_prompt=True,
                                       bos_token="<|im_start|>", eos_token="<|im_end|>")


# Templates with their own tool syntax, given to the default model with --chat-template: the prompt is
# what Jinja2 renders (the same token count), and "required" replies are calls in that syntax (the grammar
# forces them even though the model never learnt them), parsed back into valid calls.
SYNTAX_TEMPLATES = [("Qwen-Qwen2.5-7B-Instruct.jinja", "<tool_call>"),
                    ("meta-llama-Llama-3.1-8B-Instruct.jinja", "\"parameters\""),
                    ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "[{")]


def test_template_syntaxes():
    try:
        import jinja2  # noqa: F401
        tdir = lmctest.shared_dir("templates")
    except (ImportError, SystemExit):
        print("jinja2 or ../shared missing: the template syntaxes are not tried")
        return
    for name, marker in SYNTAX_TEMPLATES:
        path = os.path.join(tdir, name)
        proc, port = lmctest.start_server(["--chat-template", path], n_ctx=2048)
        try:
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0,
                                   timeout=300)
            want = jinja_render(open(path, encoding="utf-8").read(), MESSAGES, TOOLS)
            st, d = raw(port, {"content": want, "add_special": True, "parse_special": True}, "/tokenize")
            r = client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS, tool_choice="required",
                                               temperature=0.8, seed=11, max_tokens=120, logprobs=True)
            n_want = len(d["tokens"]) if st == 200 else -1
            if n_want >= 2 and d["tokens"][0] == d["tokens"][1]:
                n_want -= 1  # the template's BOS text and the tokenizer's BOS: the server keeps one
            check(r.usage.prompt_tokens == n_want,
                  f"{name}: the prompt is Jinja2's ({r.usage.prompt_tokens} tokens, Jinja2's text {n_want})")
            ch = r.choices[0]
            text = "".join(t.token for t in ch.logprobs.content) if ch.logprobs and ch.logprobs.content else ""
            calls = calls_of(ch.message)
            check(ch.finish_reason == "tool_calls" and calls and marker in text,
                  f"{name}: a call in the template's syntax ({ch.finish_reason}, {text[:80]!r})")
            for c in calls:
                valid_call(c, name)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main():
    require_default_model()
    proc, port = lmctest.start_server(["--parallel", "2"], n_ctx=1024)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=300)
        test_errors(port)
        forced(client, "required", None, "required")
        forced(client, {"type": "function", "function": {"name": "add"}}, "add", "named add")
        test_auto(client)
        r = client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS, tool_choice="required",
                                           temperature=0.8, seed=9, max_tokens=120, n=3)
        check(len(r.choices) == 3, "n=3 with tools: three choices")
        ids = [t.id for ch in r.choices for t in ch.message.tool_calls or []]
        check(len(ids) == len(set(ids)) >= 3, f"n=3: call ids unique across choices ({ids})")
        for ch in r.choices:
            check(ch.finish_reason == "tool_calls" and all(valid_call(c, f"n=3 choice {ch.index}")
                                                          for c in calls_of(ch.message)) and ch.message.tool_calls,
                  f"n=3 choice {ch.index}: calls")
        test_round_trip(client, port)
    except Exception:
        print("".join(proc.log_tail))
        raise
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    test_template_syntaxes()
    finish()


if __name__ == "__main__":
    main()
