#!/usr/bin/env python3
"""bench_family_vs_llama.py — decode speed of a new architecture's block against the llama block on
the same geometry and tensor type, side by side in one run: random-weight GGUFs (a tiny vocabulary,
so the blocks dominate) of a given architecture and of llama, quantized with llama-cpp-python, then
`lmc bench` on each, alternating, reporting tok/s and tok/s x weight bytes (the bytes a decode step
reads). The issue's bar: the new block within 10% of the llama block's bytes per second.

usage: bench_family_vs_llama.py WORK_DIR [--arch qwen2] [--types Q8_0,Q4_0] [--layers 12]
       [--embd 1024 --heads 16 --kv-heads 2 --ff 2816] [-t 2] [-r 3] [-n 32]
needs: numpy, gguf, llama-cpp-python (to quantize), build/lmc (or env LMC_BIN).
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_family_goldens as fam  # noqa: E402


def bench(lmc, path, threads, reps, n_gen):
    r = subprocess.run([lmc, "bench", "-m", path, "-p", "0", "-n", str(n_gen), "-t", str(threads),
                        "-r", str(reps), "--json"], capture_output=True, text=True, check=True)
    row = json.loads(r.stdout)[0]
    return row["avg_ts"], row["stddev_ts"], row["model_size"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--arch", default="qwen2")
    ap.add_argument("--types", default="Q8_0,Q4_0")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--embd", type=int, default=1024)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ff", type=int, default=2816)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("-n", type=int, default=32)
    a = ap.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    lmc = os.environ.get("LMC_BIN") or os.path.join(root, "build", "lmc")
    os.makedirs(a.work, exist_ok=True)
    files = {}
    for arch in (a.arch, "llama"):
        c = dict(name=f"bench-{arch}", arch=arch, embd=a.embd, heads=a.heads, kv_heads=a.kv_heads,
                 ff=a.ff, layers=a.layers, tied=False, seed=42)
        if arch.startswith("gemma"):
            c["n_swa"] = 512  # llama.cpp requires the window key for gemma3 (Gemma 3's own is 512)
        f32 = os.path.join(a.work, f"bench-{arch}-F32.gguf")
        if not os.path.exists(f32):
            fam.write_model(c, f32, "F32")
        for typ in a.types.split(","):
            q = os.path.join(a.work, f"bench-{arch}-{typ}.gguf")
            if not os.path.exists(q):
                fam.quantize(f32, q, typ)
            files[(arch, typ)] = q
    print(f"geometry: {a.layers} layers, n_embd {a.embd}, heads {a.heads}/{a.kv_heads}, "
          f"n_ff {a.ff}, vocab {fam.N_VOCAB}; lmc bench -p 0 -n {a.n} -t {a.t} -r {a.r}")
    for typ in a.types.split(","):
        res = {}
        for _ in range(2):  # alternate the two models twice; keep each one's best mean
            for arch in (a.arch, "llama"):
                ts, sd, size = bench(lmc, files[(arch, typ)], a.t, a.r, a.n)
                if arch not in res or ts > res[arch][0]:
                    res[arch] = (ts, sd, size)
        for arch in (a.arch, "llama"):
            ts, sd, size = res[arch]
            print(f"{typ:7s} {arch:8s} {ts:8.2f} ± {sd:5.2f} tok/s  {size / 1e6:8.1f} MB  "
                  f"{ts * size / 1e9:7.2f} GB/s")
        ratio = (res[a.arch][0] * res[a.arch][2]) / (res["llama"][0] * res["llama"][2])
        print(f"{typ:7s} {a.arch} / llama bytes per second: {ratio:.3f}")


if __name__ == "__main__":
    main()
