#!/usr/bin/env python3
"""load_test.py — load test for `lmc serve`: C concurrent clients (default 32) each send streaming
chat requests back to back for D seconds (default 60) and read every event; prints requests done,
errors, aggregate generated tok/s and time to first token. Exits 1 if any request failed.
Loopback only; bounded in clients, time and tokens. Plain stdlib (http.client), no openai package.

  python3 bench/load_test.py --lmc build/lmc --parallel 8        # starts its own server
  python3 bench/load_test.py --port 8080                         # against a running one
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

PROMPTS = [
    "Write a short poem about the sea.",
    "Explain what a CPU cache is in two sentences.",
    "List three fruits and their colors.",
    "What is the capital of Japan?",
    "Give me a tip for learning to cook.",
    "Describe a cat to someone who has never seen one.",
    "Why is the sky blue?",
    "Tell me a fun fact about octopuses.",
]


def start_server(lmc, args):
    cmd = [lmc, "serve", "--host", "127.0.0.1", "--port", "0", "--parallel", str(args.parallel),
           "-c", str(args.ctx), "--queue", str(max(64, args.clients))]
    if args.threads:
        cmd += ["-t", str(args.threads)]
    if args.model:
        cmd += ["-m", args.model]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.time() + 120
    while time.time() < end:
        line = proc.stderr.readline()
        if not line:
            break
        sys.stderr.write(line)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
    proc.kill()
    raise SystemExit("lmc serve did not start")


def one_request(port, body, timeout):
    """Streams one chat completion; returns (completion_tokens, ttft_s, total_s)."""
    t0 = time.time()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
        ttft, usage, done = None, None, False
        while True:
            line = r.readline()
            if not line:
                break
            line = line.decode().strip()
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                done = True
                break
            j = json.loads(data)
            if "error" in j:
                raise RuntimeError(j["error"]["message"])
            ch = j.get("choices") or []
            if ch and ch[0].get("delta", {}).get("content") and ttft is None:
                ttft = time.time() - t0
            if j.get("usage"):
                usage = j["usage"]
        if not done or not usage:
            raise RuntimeError("stream ended without [DONE] and usage")
        return usage["completion_tokens"], ttft if ttft is not None else time.time() - t0, time.time() - t0
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, help="use a running server on 127.0.0.1:PORT")
    ap.add_argument("--lmc", default=os.environ.get("LMC_BIN", "build/lmc"), help="lmc binary (to start a server)")
    ap.add_argument("--model", help="model for the started server (default: its default model)")
    ap.add_argument("--parallel", type=int, default=8, help="slots of the started server")
    ap.add_argument("--ctx", type=int, default=1024, help="context per slot of the started server")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads of the started server")
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients (max 256)")
    ap.add_argument("--duration", type=float, default=60, help="seconds to keep sending (max 3600)")
    ap.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per request before it counts as failed")
    args = ap.parse_args()
    args.clients = max(1, min(args.clients, 256))
    args.duration = max(1.0, min(args.duration, 3600.0))

    proc = None
    port = args.port
    if port is None:
        proc, port = start_server(args.lmc, args)
    results, errors, lock = [], [], threading.Lock()
    t_start = time.time()
    t_stop = t_start + args.duration

    def client(k):
        i = 0
        while time.time() < t_stop:
            body = {"messages": [{"role": "user", "content": PROMPTS[(k + i) % len(PROMPTS)]}],
                    "max_tokens": args.max_tokens, "temperature": 0.8, "seed": k * 1000 + i, "stream": True,
                    "stream_options": {"include_usage": True}}
            i += 1
            try:
                res = one_request(port, body, args.timeout)
                with lock:
                    results.append(res)
            except Exception as e:  # noqa: BLE001 — every failure is counted and reported
                with lock:
                    errors.append(f"client {k}: {e}")

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.clients)]
    [t.start() for t in threads]
    [t.join(timeout=args.duration + args.timeout + 30) for t in threads]
    elapsed = time.time() - t_start
    if proc:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()

    toks = sum(r[0] for r in results)
    print(f"clients {args.clients}, {elapsed:.1f} s, max_tokens {args.max_tokens}"
          + (f", server --parallel {args.parallel}" if proc else ""))
    print(f"requests: {len(results)} done, {len(errors)} failed")
    print(f"generated tokens: {toks}  ->  aggregate {toks / elapsed:.1f} tok/s")
    if results:
        ttft = sorted(r[1] for r in results)
        print(f"time to first token: median {statistics.median(ttft):.2f} s, p90 {ttft[int(0.9 * (len(ttft) - 1))]:.2f} s")
        print(f"request time: median {statistics.median(r[2] for r in results):.2f} s")
    for e in errors[:10]:
        print("error:", e)
    return 1 if errors or not results else 0


if __name__ == "__main__":
    sys.exit(main())
