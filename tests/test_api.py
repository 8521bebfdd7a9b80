#!/usr/bin/env python3
"""test_api.py — the API surface of `lmc serve` beyond plain generation, with the default model
(SmolLM2-135M-Instruct) and the official `openai` client where it applies: log-probabilities (chat and
legacy shapes, streamed and not: the greedy token is the top entry, values <= 0, the alternatives'
mass <= 1), logit_bias -100 removing the greedy token, the table of known fields (an unknown one is a
400 naming it; bad tools are 400s too: tool calls themselves are test_server_tools.py's), limits, seeds, /tokenize and
/detokenize against `lmc tokenize`, /v1/embeddings (shape, unit norm, same text same vector, cosine
sanity; against llama-cpp-python when it is installed), /metrics counters, /props, the API key and
CORS. Skips (exit 77) when the model is not in the cache or the openai package is missing."""
import base64
import math
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmctest  # noqa: E402
from lmctest import check, finish, require_default_model, skip  # noqa: E402

try:
    import openai
except ImportError:
    skip("the openai package is not installed (pip install openai)")

KEY = "api-key-456"
ORIGIN = "https://example.com"
N_CTX = 512


def raw(port, method, path, body=None, headers=None, key=KEY):
    return lmctest.http_request(port, method, path, body, headers, key=key)


def error_of(data):
    e = data.get("error") if isinstance(data, dict) else None
    return e if isinstance(e, dict) and {"message", "type", "param", "code"} <= set(e) else None


def main():
    require_default_model()
    proc, port = lmctest.start_server(["--parallel", "2", "--api-key", KEY, "--cors", ORIGIN, "--embeddings"],
                                      n_ctx=N_CTX)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=120)
        model = client.models.list().data[0].id
        test_logprobs(client, model)
        test_logit_bias(client, model, port)
        test_fields(client, model, port)
        test_tokenize(port)
        test_embeddings(client, model, port)
        test_metrics_props(client, model, port)
        test_auth_cors(port)
    finally:
        proc.kill()
        proc.wait()
        if lmctest.failed:
            print("server log (tail):\n" + "".join(proc.log_tail))
    return finish()


# ---- log-probabilities ----------------------------------------------------------------------------
def check_entries(entries, what):
    """Chat logprob entries of a greedy reply: the chosen token is the top entry, values <= 0, the
    alternatives' probabilities sum to at most 1, bytes are the token's text."""
    ok_top = all(e.top_logprobs and e.top_logprobs[0].token == e.token and e.top_logprobs[0].logprob == e.logprob
                 for e in entries)
    ok_le0 = all(e.logprob <= 0 and all(t.logprob <= 0 for t in e.top_logprobs) for e in entries)
    ok_sorted = all(all(a.logprob >= b.logprob for a, b in zip(e.top_logprobs, e.top_logprobs[1:])) for e in entries)
    ok_mass = all(sum(math.exp(t.logprob) for t in e.top_logprobs) <= 1 + 1e-6 for e in entries)
    ok_bytes = all(bytes(e.bytes).decode("utf-8", "replace") == e.token for e in entries)
    check(ok_top, f"{what}: the greedy token is the top entry")
    check(ok_le0 and ok_sorted and ok_mass, f"{what}: logprobs <= 0, sorted, exp-sum <= 1")
    check(ok_bytes, f"{what}: bytes are the token's text")


def test_logprobs(client, model):
    msgs = [{"role": "user", "content": "Name three fruits."}]
    r = client.chat.completions.create(model=model, messages=msgs, max_tokens=12, temperature=0, logprobs=True,
                                       top_logprobs=5)
    lp = r.choices[0].logprobs
    entries = lp.content if lp else []
    check(len(entries) == r.usage.completion_tokens or (r.choices[0].finish_reason == "stop"
                                                        and len(entries) == r.usage.completion_tokens - 1),
          f"one entry per generated token ({len(entries)} vs {r.usage.completion_tokens})")
    check(all(len(e.top_logprobs) == 5 for e in entries), "top_logprobs=5 alternatives each")
    check("".join(e.token for e in entries) == r.choices[0].message.content, "the entries spell the reply")
    check_entries(entries, "chat")
    # streamed: the same entries, spread over the chunks
    chunks = list(client.chat.completions.create(model=model, messages=msgs, max_tokens=12, temperature=0,
                                                 logprobs=True, top_logprobs=5, stream=True))
    sentries = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    check([(e.token, e.logprob) for e in sentries] == [(e.token, e.logprob) for e in entries],
          "streamed logprobs equal the non-streamed ones")
    # without logprobs: null
    r0 = client.chat.completions.create(model=model, messages=msgs, max_tokens=3, temperature=0)
    check(r0.choices[0].logprobs is None, "no logprobs unless asked")
    # legacy completions shape: tokens, token_logprobs, top_logprobs dicts, text_offset
    c = client.completions.create(model=model, prompt="The capital of France is", max_tokens=8, temperature=0,
                                  logprobs=3)
    L = c.choices[0].logprobs
    text = c.choices[0].text
    offs = [len("".join(L.tokens[:i]).encode()) for i in range(len(L.tokens))]
    check("".join(L.tokens) == text and L.text_offset == offs, f"legacy tokens/text_offset: {L.tokens} {L.text_offset}")
    check(all(len(d) <= 3 and max(d.values()) == lp_ and L.tokens[i] in d and lp_ <= 0
              for i, (d, lp_) in enumerate(zip(L.top_logprobs, L.token_logprobs))),
          "legacy: the greedy token is the top entry of each dict, values <= 0")
    cs = list(client.completions.create(model=model, prompt="The capital of France is", max_tokens=8, temperature=0,
                                        logprobs=3, stream=True))
    st = [t for x in cs if x.choices and x.choices[0].logprobs for t in x.choices[0].logprobs.tokens]
    so = [t for x in cs if x.choices and x.choices[0].logprobs for t in x.choices[0].logprobs.text_offset]
    check(st == L.tokens and so == L.text_offset, "legacy streamed logprobs equal the non-streamed ones")
    print(f"logprobs: {len(entries)} chat entries, legacy {L.tokens}", flush=True)


# ---- logit_bias -----------------------------------------------------------------------------------
def test_logit_bias(client, model, port):
    prompt = "1, 2, 3, 4,"
    c = client.completions.create(model=model, prompt=prompt, max_tokens=6, temperature=0, logprobs=1)
    first = c.choices[0].logprobs.tokens[0]
    st, tk, _ = raw(port, "POST", "/tokenize", {"content": first, "with_pieces": True})
    ids = tk.get("tokens", []) if st == 200 else []
    check(len(ids) == 1 and ids[0]["piece"] == first, f"the greedy first token {first!r} is one token: {ids}")
    if len(ids) != 1:
        return
    tid = ids[0]["id"]
    b = client.completions.create(model=model, prompt=prompt, max_tokens=6, temperature=0, logprobs=5,
                                  logit_bias={str(tid): -100})
    BL = b.choices[0].logprobs
    check(first not in BL.tokens and all(first not in d for d in BL.top_logprobs),
          f"logit_bias -100 removes {first!r} (id {tid}): {BL.tokens}")
    # sampled at temperature 1 over several seeds: it never comes back
    seen = 0
    for seed in range(4):
        s = client.completions.create(model=model, prompt=prompt, max_tokens=8, temperature=1.0, seed=seed,
                                      logprobs=1, logit_bias={str(tid): -100})
        seen += first in s.choices[0].logprobs.tokens
    check(seen == 0, f"the removed token is never sampled ({seen})")
    # +100 forces a token
    f = client.completions.create(model=model, prompt=prompt, max_tokens=3, temperature=0,
                                  logit_bias={str(tid): 100})
    st, dt, _ = raw(port, "POST", "/detokenize", {"tokens": [tid] * 3})
    check(f.choices[0].text == dt.get("content"), f"logit_bias +100 forces the token: {f.choices[0].text!r}")


# ---- the field table and limits ---------------------------------------------------------------------
def expect_400(fn, param, what):
    try:
        fn()
        check(False, f"{what}: accepted")
    except openai.BadRequestError as e:
        err = (e.body or {}) if isinstance(e.body, dict) else {}
        err = err.get("error", err)
        check(e.status_code == 400 and err.get("param") == param and param.split(".")[0] in err.get("message", ""),
              f"{what}: 400 naming {param!r} ({err})")


def test_fields(client, model, port):
    msgs = [{"role": "user", "content": "Hi"}]
    chat = client.chat.completions.create
    comp = client.completions.create
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, extra_body={"frobnicate": 1}),
               "frobnicate", "unknown chat field")
    expect_400(lambda: comp(model=model, prompt="x", max_tokens=2, extra_body={"messages": []}),
               "messages", "a chat field on completions")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, n=9), "n", "n=9")
    # n choices: choice i is what the same request alone gives with seed + i
    story = [{"role": "user", "content": "Tell me a story."}]
    r = chat(model=model, messages=story, n=3, seed=40, temperature=1.0, max_tokens=10)
    alone = [chat(model=model, messages=story, seed=40 + i, temperature=1.0, max_tokens=10) for i in range(3)]
    check([c.index for c in r.choices] == [0, 1, 2] and
          [c.message.content for c in r.choices] == [a.choices[0].message.content for a in alone],
          f"n=3: choice i equals seed+i alone ({[c.message.content for c in r.choices]})")
    check(r.usage.completion_tokens == sum(a.usage.completion_tokens for a in alone) and
          r.usage.prompt_tokens == alone[0].usage.prompt_tokens,
          f"n=3 usage: the prompt once, every choice's tokens ({r.usage})")
    # streamed: the chunks of each index reassemble to that choice
    texts, finishes, usage = {}, {}, None
    for chunk in chat(model=model, messages=story, n=3, seed=40, temperature=1.0, max_tokens=10, stream=True,
                      stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        for c in chunk.choices:
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
            finishes[c.index] = c.finish_reason or finishes.get(c.index)
    check([texts.get(i) for i in range(3)] == [c.message.content for c in r.choices] and
          all(finishes.get(i) for i in range(3)) and usage and usage.completion_tokens == r.usage.completion_tokens,
          f"n=3 streamed: each index reassembles to its choice ({texts}, {finishes}, {usage})")
    t = comp(model=model, prompt="Once upon a time", n=2, seed=41, temperature=1.0, max_tokens=6)
    t1 = comp(model=model, prompt="Once upon a time", seed=42, temperature=1.0, max_tokens=6)
    check(len(t.choices) == 2 and t.choices[1].text == t1.choices[0].text, "n=2 on completions")
    tools = [{"type": "function", "function": {"parameters": {"type": "object"}}}]
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, tools=tools), "tools[0].function.name",
               "a tool without a name")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, tool_choice="required"), "tool_choice",
               "tool_choice required without tools")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, top_logprobs=3), "top_logprobs",
               "top_logprobs without logprobs")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, logprobs=True, top_logprobs=21),
               "top_logprobs", "top_logprobs 21")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, logit_bias={"abc": 1}), "logit_bias",
               "logit_bias key not a token id")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, logit_bias={"5": 101}), "logit_bias",
               "logit_bias 101")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, logit_bias={"99999999": 1}), "logit_bias",
               "logit_bias token outside the vocabulary")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, presence_penalty=2.5), "presence_penalty",
               "presence_penalty 2.5")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, frequency_penalty=-3), "frequency_penalty",
               "frequency_penalty -3")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, stop=[f"s{i}" for i in range(17)]), "stop",
               "17 stop strings")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, stop="x" * 257), "stop", "a 257-byte stop")
    expect_400(lambda: chat(model=model, messages=msgs, max_completion_tokens=0), "max_completion_tokens",
               "max_completion_tokens 0")
    expect_400(lambda: comp(model=model, prompt="x", max_tokens=2, echo=True), "echo", "echo true")
    expect_400(lambda: comp(model=model, prompt="x", max_tokens=2, suffix="end"), "suffix", "suffix")
    expect_400(lambda: chat(model=model, messages=msgs, max_tokens=2, stream=True,
                            stream_options={"include_usage": True, "bogus": 1}), "stream_options",
               "unknown stream_options field")
    # the trivial forms are fine, and so are user and max_completion_tokens
    r = chat(model=model, messages=msgs, max_completion_tokens=3, temperature=0, user="u1",
             response_format={"type": "text"}, tool_choice="none", tools=[], parallel_tool_calls=False,
             store=False, metadata={"k": "v"}, n=1)
    check(r.usage.completion_tokens <= 3, "trivial forms accepted; max_completion_tokens honoured")
    # seed: the same seed gives the same sampled text on completions too
    def sampled(seed):
        return comp(model=model, prompt="Once upon a time", max_tokens=10, temperature=1.0, seed=seed).choices[0].text
    check(sampled(7) == sampled(7), "same seed, same text (completions)")
    # stop as a list: the reply ends before the earliest
    full = comp(model=model, prompt="1, 2, 3, 4,", max_tokens=12, temperature=0).choices[0].text
    cut = comp(model=model, prompt="1, 2, 3, 4,", max_tokens=12, temperature=0, stop=["zzz", " 7", " 6"])
    want = full[:min(i for i in (full.find(" 6"), full.find(" 7"), len(full)) if i >= 0)]
    check(cut.choices[0].text == want, f"stop list: {cut.choices[0].text!r} vs {want!r}")


# ---- /tokenize, /detokenize -------------------------------------------------------------------------
def test_tokenize(port):
    text = "Hello world! Ünïcödé text, <|im_start|> and numbers 12345."
    st, d, _ = raw(port, "POST", "/tokenize", {"content": text})
    ids = d.get("tokens") if st == 200 else None
    cli = subprocess.run([lmctest.lmc_bin(), "tokenize", "-p", text, "--parse-special"], capture_output=True,
                         text=True, timeout=60)
    ref = [int(x) for x in cli.stdout.split()] if cli.returncode == 0 else None
    check(ids is not None and ids == ref, f"/tokenize equals `lmc tokenize --parse-special`: {ids} vs {ref}")
    st, d2, _ = raw(port, "POST", "/tokenize", {"content": text, "add_special": True, "parse_special": False})
    cli = subprocess.run([lmctest.lmc_bin(), "tokenize", "-p", text, "--bos"], capture_output=True, text=True,
                         timeout=60)
    check(st == 200 and d2.get("tokens") == [int(x) for x in cli.stdout.split()],
          "/tokenize add_special, parse_special false equals `lmc tokenize --bos`")
    st, dp, _ = raw(port, "POST", "/tokenize", {"content": text, "with_pieces": True})
    pieces = dp.get("tokens", []) if st == 200 else []
    spelled = b"".join(p["piece"].encode() if isinstance(p["piece"], str) else bytes(p["piece"]) for p in pieces)
    check([p["id"] for p in pieces] == ids and spelled == text.encode(),
          "with_pieces: ids and pieces (strings, or bytes where a piece is not UTF-8) spell the text")
    st, dd, _ = raw(port, "POST", "/detokenize", {"tokens": ids or []})
    check(st == 200 and dd.get("content") == text, f"/detokenize round trip: {dd}")
    st, de, _ = raw(port, "POST", "/detokenize", {"tokens": [10 ** 7]})
    check(st == 400 and error_of(de) and de["error"]["param"] == "tokens", "/detokenize: an id outside the vocab")
    st, de, _ = raw(port, "POST", "/tokenize", {"content": "x", "bogus": 1})
    check(st == 400 and error_of(de) and de["error"]["param"] == "bogus", "/tokenize: unknown field")


# ---- /v1/embeddings ---------------------------------------------------------------------------------
def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_embeddings(client, model, port):
    texts = ["The cat sat on the mat.", "A cat was sitting on the mat.",
             "Quarterly revenue grew by five percent."]
    e = client.embeddings.create(model=model, input=texts)  # the client asks for base64
    vecs = [d.embedding for d in e.data]
    n_embd = raw(port, "GET", "/props")[1].get("n_embd")
    check(len(vecs) == 3 and all(len(v) == n_embd for v in vecs) and [d.index for d in e.data] == [0, 1, 2],
          f"embeddings: 3 vectors of n_embd {n_embd}")
    check(all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-4 for v in vecs), "embeddings are unit vectors")
    again = client.embeddings.create(model=model, input=texts[0], encoding_format="float").data[0].embedding
    check(max(abs(a - b) for a, b in zip(again, vecs[0])) < 1e-6, "same text, same vector (float and base64)")
    c01, c02 = cos(vecs[0], vecs[1]), cos(vecs[0], vecs[2])
    check(c01 > c02, f"cosine: paraphrase {c01:.3f} > unrelated {c02:.3f}")
    check(e.usage.prompt_tokens > 10 and e.usage.total_tokens == e.usage.prompt_tokens, f"usage {e.usage}")
    st, d, _ = raw(port, "POST", "/v1/embeddings", {"input": "x", "dimensions": 3})
    check(st == 400 and d["error"]["param"] == "dimensions", "dimensions other than n_embd: 400")
    st, d, _ = raw(port, "POST", "/v1/embeddings", {"input": ""})
    check(st == 400 and error_of(d), "an empty input: 400")
    st, d, _ = raw(port, "POST", "/v1/embeddings", {"input": "word " * (N_CTX + 10)})
    check(st == 400 and "context" in d["error"]["message"], "an input longer than the context: 400")
    # ids in, and the same vector as the text they tokenize to
    ids = raw(port, "POST", "/tokenize", {"content": texts[0], "add_special": True, "parse_special": False})[1]["tokens"]
    st, d, _ = raw(port, "POST", "/v1/embeddings", {"input": ids, "encoding_format": "float"})
    check(st == 200 and max(abs(a - b) for a, b in zip(d["data"][0]["embedding"], vecs[0])) < 1e-6,
          "token ids embed as their text does")
    try:
        import llama_cpp
    except ImportError:
        print("embeddings: llama-cpp-python absent, reference comparison skipped", flush=True)
        return
    # one text per call: llama-cpp-python 0.3.16 puts a list's texts in sequences 1..n of a context
    # made with one sequence, which its llama_decode refuses (-1)
    llm = llama_cpp.Llama(lmctest.default_model(), n_ctx=128, embedding=True, verbose=False,
                          pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN)
    ref = [llm.embed(t, normalize=True) for t in texts]
    # unit vectors: nmse = |a - b|^2 = 2 (1 - cos). The model is Q4_1, where test_logits.py allows lmc
    # an nmse of 2e-3 against the exact result; llama.cpp (Q8_1 activations) has an error of its own,
    # so lmc vs llama.cpp gets the two budgets: 4e-3.
    worst = max(2 * (1 - cos(a, b)) for a, b in zip(vecs, ref))
    print(f"embeddings vs llama.cpp (mean pooling, normalized): worst nmse {worst:.3g}", flush=True)
    check(worst <= 4e-3, f"embeddings match llama.cpp's: nmse {worst:.3g}")


# ---- /metrics, /props -------------------------------------------------------------------------------
def metrics(port):
    st, text, hdr = raw(port, "GET", "/metrics")
    out = {}
    for line in text.splitlines() if st == 200 else []:
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out, hdr


def test_metrics_props(client, model, port):
    before, hdr = metrics(port)
    check(hdr.get("Content-Type", "").startswith("text/plain"), "metrics are Prometheus text")
    c = client.completions.create(model=model, prompt="Hello there", max_tokens=5, temperature=0)
    after, _ = metrics(port)
    key = 'lmc_requests_total{endpoint="/v1/completions"}'
    check(after.get(key, 0) == before.get(key, 0) + 1, "requests_total counts the completion")
    check(after.get("lmc_generations_total", 0) == before.get("lmc_generations_total", 0) + 1
          and after.get("lmc_generated_tokens_total", 0) - before.get("lmc_generated_tokens_total", 0)
          == c.usage.completion_tokens, "generations and generated tokens counted")
    check(after.get("lmc_prompt_tokens_total", 0) + after.get("lmc_prompt_tokens_cached_total", 0)
          - before.get("lmc_prompt_tokens_total", 0) - before.get("lmc_prompt_tokens_cached_total", 0)
          == c.usage.prompt_tokens, "prompt tokens counted")
    check(after.get("lmc_slots") == 2 and after.get("lmc_slots_busy") == 0 and after.get("lmc_queue_length") == 0
          and 0 < after.get("lmc_kv_cache_tokens", 0) <= after.get("lmc_kv_cache_capacity_tokens", 0) == 2 * N_CTX
          and after.get("lmc_generated_tokens_per_second", 0) > 0, f"gauges: {after}")
    st, p, _ = raw(port, "GET", "/props")
    check(st == 200 and p.get("n_ctx") == N_CTX and p.get("total_slots") == 2
          and p["default_generation_settings"]["n_ctx"] == N_CTX and isinstance(p.get("chat_template"), str)
          and "im_start" in p["chat_template"] and p.get("embeddings") is True, "/props")


# ---- API key and CORS -------------------------------------------------------------------------------
def test_auth_cors(port):
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    for method, path, b in (("POST", "/v1/chat/completions", body), ("POST", "/tokenize", {"content": "x"}),
                            ("GET", "/metrics", None), ("GET", "/props", None),
                            ("POST", "/v1/embeddings", {"input": "x"}), ("GET", "/v1/models", None),
                            ("POST", "/v1/completions", {"prompt": "x", "max_tokens": 1}),
                            ("POST", "/detokenize", {"tokens": [1]})):
        st, d, hdr = raw(port, method, path, b, key=None)
        st2, _, _ = raw(port, method, path, b, key="wrong")
        st3, _, _ = raw(port, method, path, b)
        check(st == 401 and st2 == 401 and error_of(d) and d["error"]["code"] == "invalid_api_key" and st3 == 200,
              f"{path}: 401 without or with a wrong key, 200 with it ({st}, {st2}, {st3})")
    st, d, hdr = raw(port, "GET", "/health", key=None)
    check(st == 200 and hdr.get("Access-Control-Allow-Origin") == ORIGIN, "/health is open and carries CORS")
    st, d, hdr = raw(port, "POST", "/v1/chat/completions", body)
    check(hdr.get("Access-Control-Allow-Origin") == ORIGIN, "responses carry Access-Control-Allow-Origin")
    st, d, hdr = raw(port, "OPTIONS", "/v1/chat/completions", key=None,
                     headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                              "Access-Control-Request-Headers": "authorization, content-type"})
    check(st == 204 and hdr.get("Access-Control-Allow-Origin") == ORIGIN
          and "POST" in hdr.get("Access-Control-Allow-Methods", "")
          and "Authorization" in hdr.get("Access-Control-Allow-Headers", ""), f"preflight: {st} {hdr}")


if __name__ == "__main__":
    sys.exit(main())
