"""test_tokenize_cli.py — 'lmc tokenize' end to end: --cases output byte-identical to the shared .out
files (the format other programs read), the default and --pieces formats, the unknown pre-tokenizer
warning printed once on stderr, and a clear error for a GGUF without a tokenizer."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, shared_dir  # noqa: E402

VOCABS = ["llama-spm", "phi-3", "llama-bpe", "qwen2", "gpt-2", "starcoder", "deepseek-llm"]


def run(*args):
    return subprocess.run([lmc_bin(), "tokenize", *args], capture_output=True)


def main():
    vocab_dir = shared_dir("models", "vocab")
    for v in VOCABS:
        g = os.path.join(vocab_dir, f"ggml-vocab-{v}.gguf")
        r = run("-m", g, "--cases", g + ".inp")
        want = open(g + ".out", "rb").read()
        check(r.returncode == 0 and r.stdout == want, f"{v}: --cases output differs from the .out file")
        check(r.stderr == b"", f"{v}: unexpected stderr {r.stderr!r}")
        print(f"{v:14s} --cases {'identical' if r.stdout == want else 'DIFFERENT'}")

    g = os.path.join(vocab_dir, "ggml-vocab-qwen2.gguf")
    r = run("-m", g, "-p", "<|im_start|>user\nHi", "--parse-special")
    check(r.returncode == 0 and r.stdout == b"151644 872 198 13048\n", f"default format: {r.stdout!r}")
    r = run("-m", g, "-p", "<|im_start|>user\n", "--parse-special", "--pieces")
    check(r.stdout == b"151644 '<|im_start|>'\n872 'user'\n198 '\\n'\n", f"--pieces format: {r.stdout!r}")
    r = run("-m", g)
    check(r.returncode == 2, "no input is a usage error")
    r = run("--help")
    check(r.returncode == 0 and b"--cases" in r.stdout, "--help")

    try:
        import gguf
        import numpy as np
    except ImportError:
        print("gguf/numpy absent: synthetic-file checks skipped")
        return finish()
    with tempfile.TemporaryDirectory() as d:
        # a byte-level vocabulary naming a pre-tokenizer lmc does not know
        p = os.path.join(d, "unknown-pre.gguf")
        w = gguf.GGUFWriter(p, "llama")
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("no-such-pre")
        b2u = {}
        n = 0
        for b in range(256):
            printable = 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255
            b2u[b] = chr(b) if printable else chr(256 + n)
            n += 0 if printable else 1
        toks = [b2u[b] for b in range(256)] + ["hi"]
        w.add_token_list(toks)
        w.add_token_types([1] * len(toks))
        w.add_token_merges(["h i"])
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        r = run("-m", p, "-p", "hi hi")
        err = r.stderr.decode()
        check(r.returncode == 0 and r.stdout == b"256 32 256\n", f"unknown pre ids: {r.stdout!r}")
        check(err.count("warning") == 1 and "no-such-pre" in err and "GPT-2" in err, f"warning once: {err!r}")

        # a GGUF without tokenizer metadata
        p = os.path.join(d, "no-tokenizer.gguf")
        w = gguf.GGUFWriter(p, "llama")
        w.add_tensor("x", np.zeros(4, dtype=np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        r = run("-m", p, "-p", "hi")
        check(r.returncode == 1 and b"no tokenizer" in r.stderr, f"no tokenizer: {r.stderr!r}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
