"""test_grammar_cli.py — constrained output from 'lmc run' with the default model: --grammar and
--grammar-file outputs match the grammar's language, --json-schema / --json-schema-file outputs
validate at temperature 0.8 over several seeds, a bad grammar or schema fails before the model loads
with the line/column or the schema path, and --help lists the flags. Skips without the model."""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, lmc_bin, require_default_model, skip  # noqa: E402

PROMPT = "Is the sky blue? Answer:"


def run(*args, prompt=PROMPT):
    r = subprocess.run([lmc_bin(), "run", "-p", prompt, "-t", "2", "-c", "512", *args],
                       capture_output=True, timeout=300)
    out = r.stdout.decode("utf-8", "replace")
    if r.returncode == 0 and out.endswith("\n"):
        out = out[:-1]  # the newline lmc run prints after the text
    return r.returncode, out[len(prompt):] if out.startswith(prompt) else out, r.stderr.decode()


def main():
    require_default_model()
    r = subprocess.run([lmc_bin(), "run", "--help"], capture_output=True)
    for flag in ("--grammar ", "--grammar-file", "--json-schema ", "--json-schema-file"):
        check(flag.encode() in r.stdout, f"run --help lists {flag}")
    r = subprocess.run([lmc_bin(), "chat", "--help"], capture_output=True)
    check(b"--json-schema" in r.stdout, "chat --help lists --json-schema")

    gbnf = 'root ::= " " ("yes" | "no") ", " [a-z ]{1,30} "."\n'
    for seed in (1, 2, 3):
        rc, out, err = run("--grammar", gbnf, "--temp", "0.8", "-s", str(seed), "-n", "60")
        check(rc == 0 and re.fullmatch(r" (yes|no), [a-z ]{1,30}\.", out),
              f"--grammar seed {seed}: {rc} {out!r} {err[-300:]}")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "list.gbnf")
        with open(path, "w") as f:  # llama.cpp's grammars/list.gbnf
            f.write('root ::= item+\n\n# Excludes various line break characters\n'
                    'item ::= "- " [^\\r\\n\\x0b\\x0c\\x85\\u2028\\u2029]+ "\\n"\n')
        rc, out, err = run("--grammar-file", path, "--temp", "0.8", "-s", "4", "-n", "40",
                           prompt="Three fruits:\n")
        check(rc == 0 and re.fullmatch(r"(- [^\r\n]+\n)*(- [^\r\n]*)?", out, re.S),
              f"--grammar-file: {rc} {out!r} {err[-300:]}")

        schema = {"type": "object", "properties": {
            "answer": {"enum": ["yes", "no"]},
            "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
            "reasons": {"type": "array", "items": {"type": "string", "maxLength": 24},
                        "minItems": 1, "maxItems": 2}},
            "required": ["answer", "confidence", "reasons"], "additionalProperties": False}
        spath = os.path.join(d, "s.json")
        with open(spath, "w") as f:
            json.dump(schema, f)
        try:
            import jsonschema
        except ImportError:
            skip("jsonschema is not installed (scripts/setup.sh installs it)")
        for seed in (1, 2, 3):
            args = ("--json-schema", json.dumps(schema)) if seed % 2 else ("--json-schema-file", spath)
            rc, out, err = run(*args, "--temp", "0.8", "-s", str(seed), "-n", "200")
            ok = False
            try:
                jsonschema.validate(json.loads(out), schema)
                ok = True
            except (ValueError, jsonschema.ValidationError) as e:
                print("invalid:", repr(out), e)
            check(rc == 0 and ok, f"{args[0]} seed {seed}: output validates")

        rc, out, err = run("--grammar", 'root ::= "a" | bad')
        check(rc == 1 and "--grammar: grammar: undefined rule 'bad'" in err and "loading" not in err,
              f"bad grammar: {rc} {err!r}")
        rc, out, err = run("--grammar", 'root ::= "a"\nx ::= [b')
        check(rc == 1 and "line 2, column 9: unexpected end of input" in err, f"bad grammar position: {err!r}")
        rc, out, err = run("--json-schema", '{"type": "object", "patternProperties": {}}')
        check(rc == 1 and "unsupported keyword 'patternProperties'" in err, f"bad schema: {err!r}")
        rc, out, err = run("--grammar", 'root ::= "a"', "--json-schema", "{}")
        check(rc == 1 and "only one of" in err, f"two constraints: {err!r}")
        rc, out, err = run("--grammar-file", os.path.join(d, "missing.gbnf"))
        check(rc == 1 and "cannot open" in err, f"missing file: {err!r}")
    finish()


if __name__ == "__main__":
    main()
