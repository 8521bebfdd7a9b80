#!/usr/bin/env python3
"""load_test.py — load test for `lmc serve`: C concurrent clients (default 32) each send streaming
chat requests back to back for D seconds (default 60) and read every event; prints requests done,
errors, aggregate generated tok/s, time to first token and inter-token latency (p50/p99; the gap
between two streamed content chunks), and with --json one JSON object. Exits 1 if any request failed.
Loopback only; bounded in clients, time and tokens. Plain stdlib (http.client), no openai package.

  python3 bench/load_test.py --lmc build/lmc --parallel 8        # starts its own server
  python3 bench/load_test.py --port 8080                         # against a running one
  python3 bench/load_test.py --model m.gguf -ngl 99 --parallel 16 --clients 16   # on the GPU
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
    if args.ngl is not None:
        cmd += ["-ngl", str(args.ngl)]
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
    """Streams one chat completion; returns (completion_tokens, ttft_s, total_s, [inter-chunk gaps s])."""
    t0 = time.time()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
        ttft, usage, done, last, gaps = None, None, False, None, []
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
            if ch and ch[0].get("delta", {}).get("content"):
                now = time.time()
                if ttft is None:
                    ttft = now - t0
                else:
                    gaps.append(now - last)
                last = now
            if j.get("usage"):
                usage = j["usage"]
        if not done or not usage:
            raise RuntimeError("stream ended without [DONE] and usage")
        t_end = time.time()
        return usage["completion_tokens"], ttft if ttft is not None else t_end - t0, t_end - t0, gaps
    finally:
        c.close()


def pct(sorted_vals, q, scale=1.0):
    """The q-th percentile (nearest rank) of an ascending list, times scale; None when empty."""
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(q / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return round(sorted_vals[k] * scale, 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, help="use a running server on 127.0.0.1:PORT")
    ap.add_argument("--lmc", default=os.environ.get("LMC_BIN", "build/lmc"), help="lmc binary (to start a server)")
    ap.add_argument("--model", help="model for the started server (default: its default model)")
    ap.add_argument("--parallel", type=int, default=8, help="slots of the started server")
    ap.add_argument("--ctx", type=int, default=1024, help="context per slot of the started server")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads of the started server")
    ap.add_argument("-ngl", "--n-gpu-layers", dest="ngl", type=int, help="-ngl of the started server")
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients (max 256)")
    ap.add_argument("--duration", type=float, default=60, help="seconds to keep sending (max 3600)")
    ap.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per request before it counts as failed")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
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
    ttft = sorted(r[1] for r in results)
    gaps = sorted(g for r in results for g in r[3])
    report = {"clients": args.clients, "parallel": args.parallel if proc else None, "seconds": round(elapsed, 2),
              "max_tokens": args.max_tokens, "requests": len(results), "failed": len(errors),
              "tokens": toks, "aggregate_tok_s": round(toks / elapsed, 2),
              "ttft_p50_s": pct(ttft, 50), "ttft_p99_s": pct(ttft, 99),
              "itl_p50_ms": pct(gaps, 50, 1000), "itl_p99_ms": pct(gaps, 99, 1000),
              "request_p50_s": pct(sorted(r[2] for r in results), 50), "errors": errors[:10]}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"clients {args.clients}, {elapsed:.1f} s, max_tokens {args.max_tokens}"
              + (f", server --parallel {args.parallel}" if proc else ""))
        print(f"requests: {len(results)} done, {len(errors)} failed")
        print(f"generated tokens: {toks}  ->  aggregate {toks / elapsed:.1f} tok/s")
        if results:
            print(f"time to first token: p50 {report['ttft_p50_s']:.3f} s, p99 {report['ttft_p99_s']:.3f} s")
            if gaps:
                print(f"inter-token latency: p50 {report['itl_p50_ms']:.1f} ms, p99 {report['itl_p99_ms']:.1f} ms")
            print(f"request time: p50 {report['request_p50_s']:.2f} s")
        for e in errors[:10]:
            print("error:", e)
    return 1 if errors or not results else 0


if __name__ == "__main__":
    sys.exit(main())
