#!/usr/bin/env python3
"""test_front_door.py — the tools go through the front door: every quoted #include in tools/ names
include/lmc.h or a header of the tools themselves (cli.h, cli_gen.h, server.h, ...), never a src/
header, and CMake keeps src/ private to the library. It reads sources only; it runs nothing."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, source_dir  # noqa: E402

root = source_dir()
tools = os.path.join(root, "tools")
tool_headers = set()
sources = []
for folder, _, files in os.walk(tools):
    for f in files:
        if f.endswith(".h"):
            tool_headers.add(f)
        if f.endswith((".c", ".h")):
            sources.append(os.path.join(folder, f))
check(len(sources) > 10, f"tools/ sources found: {len(sources)}")

include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
for path in sorted(sources):
    with open(path, encoding="utf-8") as fp:
        for name in include.findall(fp.read()):
            ok = name == "lmc.h" or name in tool_headers
            check(ok, f"{os.path.relpath(path, root)} includes \"{name}\" (only lmc.h and the tools' own headers)")

with open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8") as fp:
    cmake = fp.read()
check(re.search(r"target_include_directories\(lmccore PUBLIC include PRIVATE src\)", cmake) is not None,
      "CMake: src/ is private to lmccore")
check(re.search(r"target_include_directories\(lmc PRIVATE[^)]*\bsrc\b", cmake) is None,
      "CMake: the lmc executable has no src/ on its include path")
sys.exit(finish())
