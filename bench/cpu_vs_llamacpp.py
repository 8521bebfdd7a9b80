#!/usr/bin/env python3
"""cpu_vs_llamacpp.py — lmc vs llama.cpp on the CPU, side by side in one run, interleaved rep by rep.

Builds TinyLlama-1.1B-geometry synthetic models (../shared/tools/make_synthetic_gguf.py, F16, random
weights, Llama SPM vocab), quantizes them with llama.cpp (llama-cpp-python's llama_model_quantize),
then for each type, thread count and test measures prompt processing (pp, default 64 tokens in one
batch from position 0) and generation (tg, default 32 tokens one at a time from position 0) with

  lmc:       build/lmc bench -m MODEL -p P -n 0 -t T -r 1 --json   (pp; tg: -p 0 -n N), one process
             per rep (lmc bench loads the model and runs one untimed warm-up before the timed run)
  llama.cpp: llama-cpp-python (PyPI), one Llama(model, n_ctx, n_batch=P, n_threads=T,
             n_threads_batch=T) kept loaded across the reps of a type and thread count;
             pp = reset() + eval(P random tokens) (one llama_decode of P tokens),
             tg = reset() + N x eval([token]) (N llama_decode calls of one token),
             timed with time.perf_counter around those calls, one warm-up run per test.

The two engines alternate rep by rep (lmc, llama.cpp, then llama.cpp, lmc, ...: each pair is taken
within seconds), because this machine's memory bandwidth drifts by up to 2x over minutes and blocks
of reps minutes apart compare the drift, not the engines. Each pair gives a ratio lmc / llama.cpp; the
table shows their median and mean ± sd next to the per-engine mean ± sd (t/s). A pair during which
other processes took over 10% of the machine's CPU time (from /proc/stat, steal included, minus this
script's and its children's time) is dropped from those figures (all kept, and marked, if every pair was): a
compile next door slows llama.cpp's spinning barriers far more than lmc's pool (seen: 1 tok/s). The
log (stderr) shows every pair and its share; --json keeps all samples. It also prints the
share of the memory-bandwidth ceiling reached in decode (model bytes x tok/s / BW), for two
bandwidths: the nominal --bw-gbs (65 GB/s, issue 5's table) and the read bandwidth measured on this
machine in the same run with 1 and 2 (the -t) threads by bench/membw.c (compiled here with cc into
build/membw; --no-membw skips it; the measured figure moves with the drift and the other jobs' load).
Models live in a cache outside the repository ($LMC_BENCH_CACHE, default ~/.cache/lmc/bench).
--model PATH measures one given GGUF instead (a real model: the same method, its file name as the
type). It asserts nothing: speed is measured, not tested.

With -d D both tests run after D tokens already in the context (llama-bench's -d): lmc bench -d D;
llama.cpp fills the context once (untimed, batches of 512), and each rep first drops the cache rows
past D (kv_cache_seq_rm) so it starts from the same D tokens.

--cache-type f32|f16|q8_0 gives both engines that KV cache (lmc -ctk/-ctv; llama.cpp type_k/type_v).
Without it lmc keeps its default (f32) and llama.cpp its (f16). llama.cpp runs with flash attention
when the cache is q8_0 (it has no quantized V cache without it) or with --flash-attn, else without
(llama-cpp-python's default); its q8_0 cache keeps llama.cpp's default Hadamard rotation of q, k and v
(LLAMA_ATTN_ROT_DISABLE unset; lmc has none) unless --no-rot.

usage: bench/cpu_vs_llamacpp.py [--types F16,Q8_0,Q4_0,Q4_K_M] [-p 64] [-n 32] [-d 0] [-t 2] [-r 5]
                               [--tests pp,tg] [--bw-gbs 65] [--lmc build/lmc] [--json OUT]
                               [--no-membw] [--no-llamacpp]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("LMC_SHARED", os.path.join(ROOT, "..", "shared"))
CACHE = os.environ.get("LMC_BENCH_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "lmc", "bench"))
GEOMETRY = ["--layers", "22", "--embd", "2048", "--ffn", "5632", "--heads", "32", "--kv-heads", "4"]
FTYPES = {"Q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "Q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
          "Q4_K_M": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "Q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
          "Q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0", "Q5_K_M": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
          "Q6_K": "LLAMA_FTYPE_MOSTLY_Q6_K", "BF16": "LLAMA_FTYPE_MOSTLY_BF16"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def model_path(t):
    return os.path.join(CACHE, f"tinyllama-geom-{t}.gguf")


def ensure_models(types):
    os.makedirs(CACHE, exist_ok=True)
    f16 = model_path("F16")
    if not os.path.exists(f16):
        log(f"making {f16} (F16, random weights)")
        vocab = os.path.join(SHARED, "models", "vocab", "ggml-vocab-llama-spm.gguf")
        tool = os.path.join(SHARED, "tools", "make_synthetic_gguf.py")
        subprocess.run([sys.executable, tool, vocab, f16 + ".tmp"] + GEOMETRY, check=True)
        os.replace(f16 + ".tmp", f16)
    for t in types:
        out = model_path(t)
        if t == "F16" or os.path.exists(out):
            continue
        import ctypes
        import llama_cpp
        log(f"quantizing {out} with llama.cpp")
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = getattr(llama_cpp, FTYPES[t])
        params.nthread = 2
        rc = llama_cpp.llama_model_quantize(f16.encode(), (out + ".tmp").encode(), ctypes.byref(params))
        if rc != 0:
            sys.exit(f"llama_model_quantize failed for {t}: {rc}")
        os.replace(out + ".tmp", out)


def mean_sd(xs):
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


CACHE_TYPE = None  # --cache-type: lmc's -ctk/-ctv and llama.cpp's type_k/type_v; None: each its default
GGML_TYPES = {"f32": 0, "f16": 1, "q8_0": 8}
FLASH_ATTN = False


def lmc_cache_flags():
    return ["-ctk", CACHE_TYPE, "-ctv", CACHE_TYPE] if CACHE_TYPE else []


def run_lmc(lmc, path, p, n, threads, reps, depth):
    """{(kind, threads): [t/s per rep]} from one lmc bench process (all reps in a block)."""
    cmd = [lmc, "bench", "-m", path, "-p", str(p), "-n", str(n), "-t", ",".join(map(str, threads)),
           "-r", str(reps), "-d", str(depth), "--json"] + lmc_cache_flags()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    res = {}
    for r in json.loads(out):
        kind = "pp" if r["n_prompt"] > 0 else "tg"
        res[(kind, r["n_threads"])] = r["samples_ts"]
    return res


def lmc_one(lmc, path, kind, cnt, t, depth):
    """t/s of one timed lmc run (after lmc bench's own warm-up run) of test kind with cnt tokens,
    after depth tokens already in the context."""
    p, n = (cnt, 0) if kind == "pp" else (0, cnt)
    cmd = [lmc, "bench", "-m", path, "-p", str(p), "-n", str(n), "-t", str(t), "-r", "1", "-d", str(depth),
           "--json"] + lmc_cache_flags()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["avg_ts"]


CLK = os.sysconf("SC_CLK_TCK")
CONTENDED = 0.10  # a pair is dropped when other processes took this share of the machine's CPU time


def cpu_times():
    """(CPU seconds the machine spent busy, steal included; CPU seconds of this process and its children)"""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    t = os.times()
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK, t.user + t.system + t.children_user + t.children_system


def timed_others(fn):
    """(fn(), the share of the machine's CPU time that other processes took while it ran)"""
    b0, o0 = cpu_times()
    w0 = time.perf_counter()
    res = fn()
    b1, o1 = cpu_times()
    wall = time.perf_counter() - w0
    return res, max(0.0, (b1 - b0) - (o1 - o0)) / (wall * (os.cpu_count() or 1))


def run_interleaved(lmc, path, p, n, threads, reps, tests, depth):
    """{(kind, threads): ([lmc t/s], [llama.cpp t/s], [others' CPU share per pair])}, paired rep by rep."""
    import llama_cpp
    rng = random.Random(1234)
    res = {}
    for t in threads:
        # with a depth the context is filled once in batches of 512; each test's p tokens are still
        # one batch (n_ubatch >= p)
        nb = max(p, 512 if depth else 1)
        kv = {}
        if CACHE_TYPE:
            kv = dict(type_k=GGML_TYPES[CACHE_TYPE], type_v=GGML_TYPES[CACHE_TYPE])
        llm = llama_cpp.Llama(model_path=path, n_ctx=depth + max(p, n) + 16, n_batch=nb, n_ubatch=nb,
                              n_threads=t, n_threads_batch=t, verbose=False,
                              flash_attn=FLASH_ATTN or CACHE_TYPE == "q8_0", **kv)
        nv = llm.n_vocab()
        toks = [rng.randrange(nv) for _ in range(max(p, n))]
        if depth:
            llm.reset()
            llm.eval([rng.randrange(nv) for _ in range(depth)])  # untimed, as lmc bench -d

        def back_to_depth():
            """the cache holds the depth tokens only (their rows kept, the test's dropped)"""
            if depth:
                llm._ctx.kv_cache_seq_rm(-1, depth, -1)
                llm.n_tokens = depth
            else:
                llm.reset()

        def pp():
            back_to_depth()
            t0 = time.perf_counter()
            llm.eval(toks[:p])
            return p / (time.perf_counter() - t0)

        def tg():
            back_to_depth()
            t0 = time.perf_counter()
            for i in range(n):
                llm.eval([toks[i]])
            return n / (time.perf_counter() - t0)

        for kind, fn, cnt in (("pp", pp, p), ("tg", tg, n)):
            if cnt == 0 or kind not in tests:
                continue
            fn()  # llama.cpp's warm-up (lmc warms up inside each lmc bench process)
            a, b, o = [], [], []
            for r in range(reps):
                # alternate who goes first, so a steady drift does not favour one
                order = ("lmc", "llama.cpp") if r % 2 == 0 else ("llama.cpp", "lmc")
                shares = []
                for who in order:
                    if who == "lmc":
                        ts, sh = timed_others(lambda: lmc_one(lmc, path, kind, cnt, t, depth))
                        a.append(ts)
                    else:
                        ts, sh = timed_others(fn)
                        b.append(ts)
                    shares.append(sh)
                o.append(max(shares))
                log(f"  {kind}{cnt} t={t} rep {r + 1}/{reps}: lmc {a[-1]:.1f}  llama.cpp {b[-1]:.1f}  "
                    f"ratio {a[-1] / b[-1]:.3f}  (other processes: {100 * o[-1]:.0f}% of the CPU time"
                    f"{', dropped' if o[-1] > CONTENDED else ''})")
            res[(kind, t)] = (a, b, o)
        llm.close() if hasattr(llm, "close") else None
        del llm
    return res


def host_description():
    """'vendor family F model M (model name)' from /proc/cpuinfo, for the tables."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    info.setdefault(k.strip(), v.strip())
                if not line.strip() and info:
                    break
    except OSError:
        return "unknown host"
    return (f"{info.get('vendor_id', '?')} family {info.get('cpu family', '?')} model {info.get('model', '?')} "
            f"({info.get('model name', '?')}, {os.cpu_count()} CPUs)")


def decode_bytes(path):
    """Bytes of weights one decode step reads: every tensor but token_embd (of which it reads one row),
    unless the output is tied to it (no output.weight: then the output mat-vec reads all of it)."""
    try:
        import gguf
        r = gguf.GGUFReader(path)
        tied = not any(t.name == "output.weight" for t in r.tensors)
        return sum(int(t.n_bytes) for t in r.tensors if tied or t.name != "token_embd.weight")
    except Exception as e:  # no gguf package: the file size (a few % more)
        log(f"gguf reader unavailable ({e}); decode bytes = file size")
        return os.path.getsize(path)


def measure_bw(threads):
    """{threads: GB/s} from bench/membw.c (built into build/membw when missing or older than its source): the
    best of its variants (software prefetch 2 KB ahead, and none: on Zen 4 the hardware prefetcher alone reads
    faster), each logged."""
    src = os.path.join(ROOT, "bench", "membw.c")
    exe = os.path.join(ROOT, "build", "membw")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(exe), exist_ok=True)
        cc = os.environ.get("CC", "cc")
        subprocess.run([cc, "-O2", "-march=native", "-pthread", src, "-o", exe], check=True)
    res = {}
    for th in threads:
        for pf in ("2048", "0"):
            out = subprocess.run([exe, str(th), "1024", "5", pf], check=True, capture_output=True, text=True).stdout
            log(out.strip())
            res[th] = max(res.get(th, 0.0), float(out.split(":")[1].split()[0]))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--types", default="F16,Q8_0,Q4_0,Q4_K_M")
    ap.add_argument("--model", help="one GGUF to measure instead of the synthetic TinyLlama types")
    ap.add_argument("-p", type=int, default=64)
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("-t", default="2", help="thread counts, comma-separated (e.g. 1,2)")
    ap.add_argument("-d", type=int, default=0,
                    help="depth: both tests run after this many tokens already in the context (llama-bench -d)")
    ap.add_argument("-r", type=int, default=5, help="reps (interleaved pairs) per type, thread count and test")
    ap.add_argument("--tests", default="pp,tg", help="which tests: pp, tg or both")
    ap.add_argument("--bw-gbs", type=float, default=65.0, help="memory read bandwidth for the decode ceiling")
    ap.add_argument("--lmc", default=os.path.join(ROOT, "build", "lmc"))
    ap.add_argument("--json", help="write all numbers here")
    ap.add_argument("--no-llamacpp", action="store_true", help="lmc only (all reps in one lmc bench process)")
    ap.add_argument("--no-membw", action="store_true", help="do not measure the read bandwidth")
    ap.add_argument("--cache-type", choices=sorted(GGML_TYPES), help="the KV cache type of both engines")
    ap.add_argument("--flash-attn", action="store_true", help="llama.cpp with flash attention")
    ap.add_argument("--no-rot", action="store_true",
                    help="llama.cpp's quantized cache without its Hadamard rotation (LLAMA_ATTN_ROT_DISABLE=1)")
    a = ap.parse_args()
    global CACHE_TYPE, FLASH_ATTN
    CACHE_TYPE, FLASH_ATTN = a.cache_type, a.flash_attn
    if a.no_rot:
        os.environ["LLAMA_ATTN_ROT_DISABLE"] = "1"
    types = [os.path.basename(a.model)] if a.model else a.types.split(",")
    threads = [int(x) for x in a.t.split(",")]
    tests = a.tests.split(",")
    p, n = (a.p if "pp" in tests else 0), (a.n if "tg" in tests else 0)
    if not a.model:
        ensure_models(types)
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]
    membw = {} if a.no_membw else measure_bw(threads)
    rows = []
    for t in types:
        path = a.model or model_path(t)
        size = os.path.getsize(path)
        row = {"type": t, "file_bytes": size, "decode_bytes": decode_bytes(path), "lmc": {}, "llamacpp": {},
               "ratio": {}, "samples": {}}
        if a.no_llamacpp:
            log(f"{t}: lmc ...")
            for (k, th), xs in run_lmc(a.lmc, path, p, n, threads, a.r, a.d).items():
                row["lmc"][f"{k}{th}"] = mean_sd(xs)
                row["samples"][f"{k}{th}"] = {"lmc": xs}
        else:
            log(f"{t}: lmc and llama.cpp, interleaved ...")
            for (k, th), (xs, ys, os_) in run_interleaved(a.lmc, path, p, n, threads, a.r, tests, a.d).items():
                key = f"{k}{th}"
                clean = [i for i in range(len(xs)) if os_[i] <= CONTENDED]
                all_contended = not clean
                clean = clean or list(range(len(xs)))
                xs_c, ys_c = [xs[i] for i in clean], [ys[i] for i in clean]
                rs = [x / y for x, y in zip(xs_c, ys_c)]
                row["lmc"][key], row["llamacpp"][key] = mean_sd(xs_c), mean_sd(ys_c)
                row["ratio"][key] = {"median": statistics.median(rs), "mean": mean_sd(rs)[0], "sd": mean_sd(rs)[1],
                                     "pairs": len(rs), "dropped": len(xs) - len(rs), "all_contended": all_contended}
                row["samples"][key] = {"lmc": xs, "llamacpp": ys, "others_cpu_share": os_}
        rows.append(row)
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[:3]
    # the in-run bandwidth yardstick per thread count: the best of membw's variants and of llama.cpp's own
    # decode (its weight bytes per token x tok/s), all measured in this run
    yard, yard_src = {}, {}
    for th in threads:
        best, src = membw.get(th, 0.0), "membw"
        for r in rows:
            lc = r["llamacpp"].get(f"tg{th}")
            if lc and not a.d and r["decode_bytes"] * lc[0] * 1e-9 > best:
                best, src = r["decode_bytes"] * lc[0] * 1e-9, f"llama.cpp {r['type']} decode"
        if best > 0:
            yard[th], yard_src[th] = best, src

    at = f" after {a.d} tokens in the context (decode shares count weight bytes only)" if a.d else ""
    what = os.path.basename(a.model) if a.model else "TinyLlama-1.1B geometry"
    if CACHE_TYPE:
        what += f", KV cache {CACHE_TYPE} (llama.cpp flash attention {'on' if FLASH_ATTN or CACHE_TYPE == 'q8_0' else 'off'})"
    print(f"\n{what}, pp{a.p} / tg{a.n}{at}, {a.r} reps, lmc and llama.cpp interleaved rep by rep; "
          f"t/s as mean ± sd; load average before {' '.join(load_before)}, after {' '.join(load_after)}\n")
    print(f"host: {host_description()}\n")
    if membw:
        print("measured read bandwidth (bench/membw.c, best of prefetch 2 KB / none): " +
              ", ".join(f"{th} thread{'s' if th > 1 else ''} {g:.1f} GB/s" for th, g in membw.items()) + "\n")
    if yard:
        print("bandwidth yardstick (best of membw and llama.cpp's own decode, this run): " +
              ", ".join(f"{th} thread{'s' if th > 1 else ''} {g:.1f} GB/s ({yard_src[th]})" for th, g in yard.items())
              + "\n")
    print(f"| type | threads | test | lmc t/s | llama.cpp t/s | lmc / llama.cpp | per-pair ratio: median (mean ± sd) "
          f"| decode: share of {a.bw_gbs:g} GB/s ceiling (lmc / llama.cpp) | decode: share of measured BW (lmc / llama.cpp) "
          f"| decode GB/s lmc / llama.cpp: share of the yardstick |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        for th in threads:
            for kind, cnt in (("pp", a.p), ("tg", a.n)):
                key = f"{kind}{th}"
                if key not in r["lmc"]:
                    continue
                m, s = r["lmc"][key]
                lc = r["llamacpp"].get(key)
                ratio = f"{m / lc[0]:.2f}" if lc else "-"
                rr = r["ratio"].get(key)
                pr = "-"
                if rr:
                    pr = f"{rr['median']:.3f} ({rr['mean']:.3f} ± {rr['sd']:.3f}), {rr['pairs']} pairs"
                    pr += f" ({rr['dropped']} contended dropped)" if rr["dropped"] else ""
                    pr += " (all contended: kept, not comparable)" if rr.get("all_contended") else ""
                lcs = f"{lc[0]:.1f} ± {lc[1]:.1f}" if lc else "-"
                bw = mbw = "-"
                if kind == "tg":
                    ceil = a.bw_gbs * 1e9 / r["file_bytes"]
                    bw = f"{100 * m / ceil:.0f}% / " + (f"{100 * lc[0] / ceil:.0f}%" if lc else "-")
                    bw += f" (ceiling {ceil:.1f})"
                    if th in membw:
                        mceil = membw[th] * 1e9 / r["file_bytes"]
                        mbw = f"{100 * m / mceil:.0f}% / " + (f"{100 * lc[0] / mceil:.0f}%" if lc else "-")
                        mbw += f" (ceiling {mceil:.1f} at {membw[th]:.1f} GB/s)"
                ys = "-"
                if kind == "tg":
                    gl = r["decode_bytes"] * m * 1e-9
                    gc = r["decode_bytes"] * lc[0] * 1e-9 if lc else None
                    ys = f"{gl:.1f} / " + (f"{gc:.1f}" if gc else "-")
                    if th in yard:
                        ys += f": {100 * gl / yard[th]:.0f}% / " + (f"{100 * gc / yard[th]:.0f}%" if gc else "-")
                print(f"| {r['type']} | {th} | {kind}{cnt}{f' @ d{a.d}' if a.d else ''} | {m:.1f} ± {s:.1f} | {lcs} | {ratio} | {pr} | {bw} | {mbw} | {ys} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"p": a.p, "n": a.n, "depth": a.d, "reps": a.r, "threads": threads, "interleaved": not a.no_llamacpp,
                       "host": host_description(), "yardstick_gbs": yard, "yardstick_source": yard_src,
                       "membw_gbs": membw, "load_before": load_before, "load_after": load_after, "rows": rows},
                      f, indent=1)


if __name__ == "__main__":
    main()
