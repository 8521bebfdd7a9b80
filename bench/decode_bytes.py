#!/usr/bin/env python3
"""decode_bytes.py — the weight bytes one decode step of a GGUF model reads: every tensor's data,
less token_embd's when the file has its own output.weight (a decode step then reads one embedding
row, not the table; with tied embeddings the table is the output matrix and is read whole). The
file size is not that measure: an untied file carries a vocabulary-sized matrix the step never
reads, so tok/s x file size flatters untied models against tied ones (bench/synth_family.py's
gemma files are tied, its other families untied).

usage: decode_bytes.py MODEL.gguf   (prints the byte count; needs the gguf package)
"""
import sys

from gguf import GGUFReader


def decode_bytes(path):
    tensors = {t.name: int(t.n_bytes) for t in GGUFReader(path).tensors}
    total = sum(tensors.values())
    if "output.weight" in tensors:
        total -= tensors.get("token_embd.weight", 0)
    return total


if __name__ == "__main__":
    print(decode_bytes(sys.argv[1]))
