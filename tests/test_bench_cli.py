#!/usr/bin/env python3
"""test_bench_cli.py — `lmc bench` as a command: the JSON array has llama-bench's fields with sane
values (one entry per test and thread count, samples consistent with the mean), the markdown table
has its rows, and bad options fail with a usage error. It asserts no speed."""
import json
import os
import subprocess
import sys

passed = failed = 0


def check(cond, msg):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", msg)


def bench(*args):
    return subprocess.run([os.environ["LMC_BIN"], "bench", *args], capture_output=True, text=True, timeout=300)


def main():
    shared = os.environ.get("LMC_SHARED", "")
    model = os.path.join(shared, "models", "stories260K.gguf")
    if not os.environ.get("LMC_BIN") or not os.path.exists(model):
        print("SKIP: LMC_BIN or the shared stories260K model is missing")
        return 77
    r = bench("-m", model, "-p", "8,16", "-n", "4", "-t", "1,2", "-r", "3", "--json")
    check(r.returncode == 0, f"--json exit {r.returncode}: {r.stderr.strip()}")
    arr = json.loads(r.stdout) if r.returncode == 0 else []
    check(len(arr) == 6, f"{len(arr)} entries, 6 expected (2 pp + 1 tg, 2 thread counts)")
    keys = ("n_prompt", "n_gen", "n_threads", "avg_ts", "stddev_ts", "model_type", "model_size", "samples_ns")
    for e in arr:
        check(all(k in e for k in keys), f"missing fields in {sorted(e)}")
        n_tok = e["n_prompt"] or e["n_gen"]
        check(len(e["samples_ns"]) == 3 and all(s > 0 for s in e["samples_ns"]), "3 positive samples")
        mean = sum(n_tok * 1e9 / s for s in e["samples_ns"]) / 3
        check(abs(mean - e["avg_ts"]) <= 1e-6 * mean, f"avg_ts {e['avg_ts']} is the mean of the samples ({mean})")
        check(e["stddev_ts"] >= 0 and e["model_size"] > 0 and "F32" in e["model_type"], "sd, size, type")
    check(sorted((e["n_threads"], e["n_prompt"], e["n_gen"]) for e in arr) ==
          [(1, 0, 4), (1, 8, 0), (1, 16, 0), (2, 0, 4), (2, 8, 0), (2, 16, 0)], "the tests run")

    r = bench("-m", model, "-p", "8", "-n", "4", "-t", "2", "-r", "2")
    check(r.returncode == 0, f"table exit {r.returncode}")
    rows = [l for l in r.stdout.splitlines() if l.startswith("| llama")]
    check(len(rows) == 2 and "pp8" in rows[0] and "tg4" in rows[1] and "±" in rows[0], f"table rows: {rows}")
    check("t/s" in r.stdout and "threads" in r.stdout, "table header")

    # The table's closing line names the CPU kernels the JSON reports.
    kernels = {e["cpu_kernels"] for e in arr}
    check(len(kernels) == 1 and f"CPU kernels: {kernels.pop() if kernels else '?'}" in r.stdout,
          "one CPU kernel set, the same in the JSON and the table")

    # --device cuda goes through lmc_context like the CPU: on a GPU the JSON adds the GPU's figures;
    # without one (or without the CUDA backend) it fails with one line on stderr.
    r = bench("-m", model, "--device", "cuda", "-p", "8", "-n", "4", "-r", "2", "--json")
    if r.returncode == 0:
        arr = json.loads(r.stdout)
        check(len(arr) == 2 and all(e["backends"] == "CUDA" and e["gpu_name"] and e["gpu_weight_bytes"] > 0
                                    and "copy_gbps" in e for e in arr), f"--device cuda JSON: {arr}")
        check(all(("bw_share" in e) == (e["n_gen"] > 0) for e in arr), "bw_share on the tg test only")
    else:
        check(r.returncode == 1 and r.stderr.strip() and not r.stdout.strip(),
              f"--device cuda without a usable GPU: exit {r.returncode}, {r.stderr.strip()}")

    # --parallel N (-npl N): N sequences at once, pp then tg after it, aggregate and per sequence.
    r = bench("-m", model, "--parallel", "1,3", "-p", "8", "-n", "4", "-t", "2", "-r", "2", "--json")
    check(r.returncode == 0, f"--parallel exit {r.returncode}: {r.stderr.strip()}")
    arr = json.loads(r.stdout) if r.returncode == 0 else []
    check(sorted((e["n_parallel"], e["test"], e["n_prompt"], e["n_gen"]) for e in arr) ==
          [(1, "pp", 8, 0), (1, "tg", 8, 4), (3, "pp", 8, 0), (3, "tg", 8, 4)], f"--parallel tests: {arr}")
    for e in arr:
        n_tok = e["n_parallel"] * (e["n_gen"] if e["test"] == "tg" else e["n_prompt"])
        mean = sum(n_tok * 1e9 / s for s in e["samples_ns"]) / len(e["samples_ns"])
        check(len(e["samples_ns"]) == 2 and abs(mean - e["avg_ts"]) <= 1e-6 * mean,
              f"--parallel avg_ts {e['avg_ts']} is the aggregate mean ({mean})")
        check(abs(e["per_seq_ts"] * e["n_parallel"] - e["avg_ts"]) <= 1e-6 * e["avg_ts"], "per_seq_ts")
    r = bench("-m", model, "-npl", "2", "-p", "8", "-n", "4", "-t", "2", "-r", "1")
    rows = [l for l in r.stdout.splitlines() if l.startswith("| llama")]
    check(r.returncode == 0 and len(rows) == 2 and "pp8 x2" in rows[0] and "tg4 x2" in rows[1],
          f"-npl table rows: {rows}")

    for bad in (["-p", "x"], ["-r", "0"], ["-t", "-1"], ["--device", "tpu"], ["--nope"], ["--parallel", "0"]):
        r = bench("-m", model, *bad)
        check(r.returncode == 2 and "Try 'lmc bench --help'" in r.stderr, f"{bad}: exit {r.returncode}, {r.stderr.strip()}")
    r = bench("-m", os.path.join(shared, "does-not-exist.gguf"))
    check(r.returncode == 1, f"missing model: exit {r.returncode}")
    r = bench("--help")
    check(r.returncode == 0 and "--json" in r.stdout, "--help")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
