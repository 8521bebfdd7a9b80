#!/usr/bin/env python3
"""test_server.py — `lmc serve` end to end: starts it on a free loopback port with the default model
(SmolLM2-135M-Instruct) and drives it with the official `openai` client (chat, completions, streaming,
stop strings, seeds, parallel slots, prompt-prefix reuse) and with raw HTTP for every error case
(400, 401, 404, 405, 413, 503), client disconnects, hostile bytes and graceful shutdown.
Skips (exit 77) when the model is not in the cache or the openai package is missing."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmctest  # noqa: E402
from lmctest import check, finish, require_default_model, skip  # noqa: E402

try:
    import openai
except ImportError:
    skip("the openai package is not installed (pip install openai)")

KEY = "test-key-123"
N_CTX = 512


def start_server(extra):
    return lmctest.start_server(extra, n_ctx=N_CTX)


def raw(port, method, path, body=None, headers=None, timeout=60):
    return lmctest.http_request(port, method, path, body, headers, key=KEY, timeout=timeout)


def is_error(data, status_field=None):
    return (isinstance(data, dict) and isinstance(data.get("error"), dict)
            and isinstance(data["error"].get("message"), str) and data["error"]["message"]
            and "type" in data["error"] and "param" in data["error"] and "code" in data["error"])


def health(port):
    return raw(port, "GET", "/health")[1]


def wait_idle(port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        h = health(port)
        if h.get("slots_processing") == 0 and h.get("queued") == 0:
            return True
        time.sleep(0.1)
    return False


def open_stream(port, body):
    """Starts a streaming completion on its own socket and reads the response head; returns the
    connection so the caller can read or drop it."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/v1/completions", body=json.dumps(dict(body, stream=True)),
              headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    r = c.getresponse()
    return c, r


def main():
    require_default_model()
    proc, port = start_server(["--parallel", "2", "--queue", "1", "--api-key", KEY])
    try:
        run_tests(port)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
        check(rc == 0, f"SIGINT after the tests: exit 0 (got {rc})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if lmctest.failed:
            print("server log (tail):\n" + "".join(proc.log_tail))
    test_shutdown()
    return finish()


def run_tests(port):
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=120)

    # --- discovery ----------------------------------------------------------------------------
    h = health(port)
    check(h.get("status") == "ok" and h.get("slots_idle") == 2, f"/health: {h}")
    models = client.models.list().data
    check(len(models) == 1 and models[0].id.endswith(".gguf"), f"/v1/models: {models}")
    model_id = models[0].id
    st, page, hdr = raw(port, "GET", "/", headers={"Authorization": ""})
    check(st == 200 and "<html" in page and "/v1/chat/completions" in page
          and hdr.get("Content-Type", "").startswith("text/html"), "chat page at /")

    # --- chat, non-streaming and streaming give the same greedy text ----------------------------
    msgs = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
    r = client.chat.completions.create(model=model_id, messages=msgs, max_tokens=16, temperature=0)
    text = r.choices[0].message.content
    u = r.usage
    check(isinstance(text, str) and text.strip() != "", f"chat reply is text: {text!r}")
    check(r.object == "chat.completion" and r.choices[0].message.role == "assistant", "chat shape")
    check(r.choices[0].finish_reason in ("stop", "length"), f"finish_reason {r.choices[0].finish_reason}")
    check(u.prompt_tokens > 5 and 0 < u.completion_tokens <= 16
          and u.total_tokens == u.prompt_tokens + u.completion_tokens, f"usage {u}")
    print(f"chat: {text!r}", flush=True)

    chunks = list(client.chat.completions.create(model=model_id, messages=msgs, max_tokens=16, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    deltas = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    check(deltas == text, f"streamed chat == non-streamed: {deltas!r} vs {text!r}")
    check(finals == [r.choices[0].finish_reason], f"one final chunk with finish_reason: {finals}")
    check(chunks[0].choices[0].delta.role == "assistant", "first chunk carries the role")
    check(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == u.completion_tokens,
          "include_usage: a usage chunk at the end")
    check(all(c.object == "chat.completion.chunk" for c in chunks), "chunk object names")

    # the same request again reuses the slot's cached prompt and gives the same text
    r2 = client.chat.completions.create(model=model_id, messages=msgs, max_tokens=16, temperature=0)
    cached = r2.usage.prompt_tokens_details.cached_tokens if r2.usage.prompt_tokens_details else None
    check(r2.choices[0].message.content == text, "repeat request: same greedy text")
    check(cached == u.prompt_tokens - 1, f"repeat request: {cached} of {u.prompt_tokens} prompt tokens reused")
    # a follow-up turn shares the prefix of the first turn
    follow = msgs + [{"role": "assistant", "content": text}, {"role": "user", "content": "And of Italy?"}]
    r3 = client.chat.completions.create(model=model_id, messages=follow, max_tokens=8, temperature=0)
    c3 = r3.usage.prompt_tokens_details.cached_tokens if r3.usage.prompt_tokens_details else 0
    check(c3 >= u.prompt_tokens - 1, f"follow-up turn reuses the first turn's prompt ({c3} cached)")

    # --- completions ---------------------------------------------------------------------------
    prompt = "The three primary colors are"
    c = client.completions.create(model=model_id, prompt=prompt, max_tokens=16, temperature=0)
    ctext = c.choices[0].text
    check(c.object == "text_completion" and len(ctext) > 0, f"completion: {ctext!r}")
    streamed = list(client.completions.create(model=model_id, prompt=prompt, max_tokens=16, temperature=0,
                                              stream=True))
    check("".join(s.choices[0].text for s in streamed if s.choices) == ctext, "streamed completion == non-streamed")
    check(streamed[-1].choices[0].finish_reason == c.choices[0].finish_reason, "stream ends with finish_reason")
    print(f"completion: {ctext!r}", flush=True)

    # max_tokens cuts with "length"
    c5 = client.completions.create(model=model_id, prompt="1, 2, 3, 4, 5,", max_tokens=5, temperature=0)
    check(c5.choices[0].finish_reason == "length" and c5.usage.completion_tokens == 5,
          f"max_tokens=5: {c5.choices[0].finish_reason}, {c5.usage.completion_tokens} tokens")

    # --- stop strings: the greedy text cut right before the first occurrence --------------------
    long = client.completions.create(model=model_id, prompt="1, 2, 3, 4, 5,", max_tokens=20, temperature=0)
    full = long.choices[0].text
    stop = full[len(full) // 2: len(full) // 2 + 3]
    want = full[:full.find(stop)]
    s1 = client.completions.create(model=model_id, prompt="1, 2, 3, 4, 5,", max_tokens=20, temperature=0, stop=stop)
    check(s1.choices[0].text == want and s1.choices[0].finish_reason == "stop",
          f"stop {stop!r}: {s1.choices[0].text!r} vs {want!r}")
    s2 = list(client.completions.create(model=model_id, prompt="1, 2, 3, 4, 5,", max_tokens=20, temperature=0,
                                        stop=["never-appears", stop], stream=True))
    check("".join(x.choices[0].text for x in s2 if x.choices) == want, "stop (array) while streaming")
    # generation ends with the token that completes the stop string: one token fewer does not finish it
    n_stop = s1.usage.completion_tokens
    s3 = client.completions.create(model=model_id, prompt="1, 2, 3, 4, 5,", max_tokens=n_stop - 1, temperature=0,
                                   stop=stop)
    check(0 < n_stop < 20 and s3.choices[0].finish_reason == "length" and stop not in s3.choices[0].text
          and full.startswith(s3.choices[0].text),
          f"stop after {n_stop} tokens; {n_stop - 1}: {s3.choices[0].finish_reason} {s3.choices[0].text!r}")

    # timings (the page's tok/s) agree with usage
    st, d, _ = raw(port, "POST", "/v1/completions", body={"prompt": "1, 2, 3, 4, 5,", "max_tokens": 6,
                                                           "temperature": 0})
    t, us = d.get("timings", {}) if st == 200 else {}, d.get("usage", {}) if st == 200 else {}
    check(t.get("predicted_n") == us.get("completion_tokens") == 6
          and t.get("prompt_n") == us.get("prompt_tokens", 0) - us.get("prompt_tokens_details", {}).get("cached_tokens", 0)
          and t.get("prompt_ms", 0) > 0 and t.get("predicted_ms", 0) > 0 and t.get("predicted_per_second", 0) > 0,
          f"timings {t} vs usage {us}")

    # --- seeds ---------------------------------------------------------------------------------
    def sampled(seed):
        return client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "Tell me a story."}],
                                              max_tokens=12, temperature=1.0, seed=seed).choices[0].message.content
    a, b = sampled(1234), sampled(1234)
    check(a == b, f"same seed, same text: {a!r} vs {b!r}")
    others = {sampled(s) for s in (1, 2)}
    check(len(others | {a}) >= 2, "different seeds give different texts")

    # --- two requests at once (continuous batching) give their sequential results --------------
    p1, p2 = "Water boils at", "The largest planet is"
    seq1 = client.completions.create(model=model_id, prompt=p1, max_tokens=12, temperature=0).choices[0].text
    seq2 = client.completions.create(model=model_id, prompt=p2, max_tokens=12, temperature=0).choices[0].text
    out = {}

    def worker(key, p):
        out[key] = client.completions.create(model=model_id, prompt=p, max_tokens=12, temperature=0).choices[0].text
    ts = [threading.Thread(target=worker, args=(k, p)) for k, p in ((1, p1), (2, p2))]
    [t.start() for t in ts]
    [t.join() for t in ts]
    check(out.get(1) == seq1 and out.get(2) == seq2, f"parallel == sequential: {out} vs {seq1!r}, {seq2!r}")

    # --- errors --------------------------------------------------------------------------------
    st, d, _ = raw(port, "POST", "/v1/chat/completions", body='{"messages": [', headers={"Content-Type": "application/json"})
    check(st == 400 and is_error(d), f"malformed JSON -> 400: {st} {d}")
    st, d, _ = raw(port, "POST", "/v1/chat/completions", body="[1, 2]")
    check(st == 400 and is_error(d), f"JSON array body -> 400: {st}")
    st, d, _ = raw(port, "POST", "/v1/chat/completions", body={"model": "x"})
    check(st == 400 and is_error(d) and d["error"]["param"] == "messages", f"missing messages -> 400: {d}")
    st, d, _ = raw(port, "POST", "/v1/chat/completions", body={"messages": [{"role": "user", "content": 5}]})
    check(st == 400 and d["error"]["param"] == "messages[0].content", f"bad content -> 400: {d}")
    for field, val in (("temperature", "hot"), ("max_tokens", -3), ("top_p", 2), ("stop", 7), ("seed", 1.5),
                       ("stream", "yes"), ("top_k", "x"), ("presence_penalty", 9)):
        st, d, _ = raw(port, "POST", "/v1/chat/completions", body={"messages": msgs, field: val})
        check(st == 400 and is_error(d) and d["error"]["param"] == field, f"bad {field} -> 400 naming it: {st} {d}")
    st, d, _ = raw(port, "POST", "/v1/completions", body={"prompt": 42})
    check(st == 400 and d["error"]["param"] == "prompt", f"bad prompt -> 400: {d}")
    try:
        client.chat.completions.create(model=model_id, messages=msgs, temperature="hot")
        check(False, "openai client sees a 400")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and "temperature" in str(e), f"openai BadRequestError: {e}")

    st, d, _ = raw(port, "GET", "/v1/nothing")
    check(st == 404 and is_error(d), f"unknown route -> 404: {st}")
    st, d, hdr = raw(port, "GET", "/v1/chat/completions")
    check(st == 405 and is_error(d) and hdr.get("Allow") == "POST", f"GET on a POST route -> 405: {st} {hdr}")
    st, d, _ = raw(port, "PUT", "/health")
    check(st == 405 and is_error(d), f"PUT /health -> 405: {st}")

    st, d, _ = raw(port, "GET", "/v1/models", headers={"Authorization": ""})
    check(st == 401 and is_error(d), f"no key -> 401: {st}")
    st, d, _ = raw(port, "POST", "/v1/chat/completions", body={"messages": msgs}, headers={"Authorization": "Bearer nope"})
    check(st == 401 and is_error(d), f"wrong key -> 401: {st}")
    try:
        openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0).models.list()
        check(False, "openai client with a wrong key")
    except openai.AuthenticationError as e:
        check(e.status_code == 401, "openai AuthenticationError")
    st, d, _ = raw(port, "GET", "/health", headers={"Authorization": ""})
    check(st == 200, "/health needs no key")

    # a body announced over 1 MiB is refused before it is sent; one that grows past it while being
    # sent (chunked) is cut off with 413 too
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str((1 << 20) + 1).encode() + b"\r\n\r\n")
    head = s.recv(4096).decode("latin-1")
    s.close()
    check(head.startswith("HTTP/1.1 413"), f"Content-Length over 1 MiB -> 413: {head[:40]!r}")
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    head = b""
    try:
        for _ in range(20):  # 20 chunks of 64 KiB: 1.25 MiB
            s.sendall(b"10000\r\n" + b"x" * 65536 + b"\r\n")
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server may close as soon as it has answered
    try:
        head = s.recv(4096)
    except OSError:
        pass
    s.close()
    check(head.startswith(b"HTTP/1.1 413"), f"chunked body over 1 MiB -> 413: {head[:40]!r}")

    long_prompt = "hello " * (N_CTX + 50)
    try:
        client.completions.create(model=model_id, prompt=long_prompt, max_tokens=4)
        check(False, "over-long prompt is refused")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and str(N_CTX) in str(e), f"over-long prompt -> 400 with the limit: {e}")
    # max_tokens beyond the context is bounded by it, not refused
    def n_prompt(k):
        return client.completions.create(model=model_id, prompt="hello " * k, max_tokens=1).usage.prompt_tokens
    p10, p20 = n_prompt(10), n_prompt(20)
    per = (p20 - p10) / 10
    k = int((N_CTX - 8 - (p10 - 10 * per)) / per)
    near = client.completions.create(model=model_id, prompt="hello " * k, max_tokens=100000, temperature=0)
    nu = near.usage
    check(nu.prompt_tokens < N_CTX and nu.prompt_tokens + nu.completion_tokens <= N_CTX
          and (near.choices[0].finish_reason == "stop" or nu.prompt_tokens + nu.completion_tokens == N_CTX),
          f"huge max_tokens bounded by the context: {nu.prompt_tokens} + {nu.completion_tokens}, "
          f"{near.choices[0].finish_reason}")

    # --- 503: two slots busy, one request queued, the next one refused --------------------------
    check(wait_idle(port), "idle before the 503 test")
    count = {"prompt": "1, 2, 3, 4, 5, 6, 7, 8, 9,", "max_tokens": 400, "temperature": 0}
    streams = [open_stream(port, count) for _ in range(3)]
    check(all(r.status == 200 for _, r in streams), "three streams accepted (2 slots + 1 queued)")
    end = time.time() + 10
    while time.time() < end and health(port).get("queued") != 1:
        time.sleep(0.05)
    h = health(port)
    check(h.get("slots_processing") == 2 and h.get("queued") == 1, f"slots full, one queued: {h}")
    st, d, hdr = raw(port, "POST", "/v1/completions", body=count)
    check(st == 503 and is_error(d) and "Retry-After" in hdr, f"slots and queue full -> 503: {st} {d}")
    try:
        client.completions.create(model=model_id, prompt="hi", max_tokens=2)
        check(False, "openai client sees 503")
    except openai.APIStatusError as e:
        check(e.status_code == 503, f"openai client sees 503: {e.status_code}")
    # a streamed reply is readable while generating
    line = streams[0][1].readline().decode()
    check(line.startswith("data: {"), f"stream delivers SSE events: {line[:40]!r}")
    # clients that hang up cancel their generations: the slots come free well before 400 tokens
    t0 = time.time()
    for conn, _ in streams:
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
    check(wait_idle(port, 20), f"disconnected streams cancelled ({time.time() - t0:.1f} s)")

    # a non-streaming client that hangs up is cancelled too
    s = socket.create_connection(("127.0.0.1", port))
    body = json.dumps(count).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
              b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    end = time.time() + 10
    while time.time() < end and health(port).get("slots_processing") != 1:
        time.sleep(0.05)
    check(health(port).get("slots_processing") == 1, "non-streaming request running")
    s.close()
    check(wait_idle(port, 20), "disconnected non-streaming request cancelled")

    # --- hostile bytes: the server stays up -----------------------------------------------------
    for junk in (b"\x00\xff\xfe garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: " + b"a" * 100000 + b"\r\n\r\n",
                 b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"prompt\"",
                 b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                 b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            s.recv(4096)
        except OSError:
            pass
        finally:
            s.close()
    for bad in ({"messages": [{"role": "user", "content": "\udcff\x00\u202e"}], "max_tokens": 3},
                {"messages": [{"role": "", "content": "x"}]}, {"messages": [None]}, {"messages": "hi"},
                {"prompt": ["a", "b"]}, {"prompt": "", "max_tokens": 2}, {"messages": msgs, "n": 3},
                {"messages": msgs, "stop": ["x" * 1000]}, {"messages": msgs, "stream_options": 1}):
        path = "/v1/completions" if "prompt" in bad else "/v1/chat/completions"
        st, d, _ = raw(port, "POST", path, body=json.dumps(bad, ensure_ascii=True))
        check(st in (200, 400) and (st == 200 or is_error(d)), f"odd request {str(bad)[:60]} -> {st}")
    check(health(port).get("status") == "ok", "server alive after hostile requests")


def test_shutdown():
    """SIGTERM while a reply streams: the server stops and exits 0."""
    proc, port = start_server(["--parallel", "1"])
    c, r = open_stream(port, {"prompt": "1, 2, 3,", "max_tokens": 300, "temperature": 0})
    r.readline()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "hung"
    check(rc == 0, f"SIGTERM: clean exit 0 (got {rc})")
    c.close()


if __name__ == "__main__":
    sys.exit(main())
