#!/usr/bin/env python3
"""test_json_schema.py — the JSON-Schema → GBNF converter without a model: for each schema, random
strings of the grammar's language (a random walk of the matcher, tests/tool_grammar.c) must parse
with json and validate with jsonschema; hand-written valid instances must be accepted and invalid
ones refused; unsupported or malformed schemas must fail naming the keyword and path."""
import json
import os
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    print("jsonschema is not installed (scripts/setup.sh installs it): skipped")
    sys.exit(77)

TOOL = os.environ.get("LMC_GRAMMAR_TOOL")
if not TOOL or not os.path.exists(TOOL):
    print("LMC_GRAMMAR_TOOL not set: skipped")
    sys.exit(77)

failed = passed = 0
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER  # the formats it has checkers for


def check(cond, msg):
    global failed, passed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", msg)


def tool(*args, schema, stdin=None):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(schema if isinstance(schema, str) else json.dumps(schema))
        path = f.name
    try:
        return subprocess.run([TOOL, args[0], path, *args[1:]], input=stdin, capture_output=True,
                              timeout=120)
    finally:
        os.unlink(path)


# (schema, valid instances, instances the grammar refuses: invalid ones, and valid ones marked '~'
# that the grammar leaves out by design, or that jsonschema's format checks may not catch: properties in the order given, no undeclared properties
# unless additionalProperties says so)
CASES = [
    ({"type": "string"}, ['"x"', '""', '"a\\nb"'], ['x', '1']),
    ({"type": "integer"}, ['0', '-12', '99'], ['1.5', '01', '"1"']),
    ({"type": "number"}, ['0', '-1.25', '3e5', '2.5E-3'], ['.5', '1.', '+1']),
    ({"type": "boolean"}, ['true', 'false'], ['1', 'True']),
    ({"type": "null"}, ['null'], ['0']),
    ({"type": ["integer", "null"]}, ['3', 'null'], ['"3"']),
    ({"enum": ["red", "green", 3, None, {"a": 1}]}, ['"red"', '3', 'null', '{"a":1}'],
     ['"blue"', '4']),
    ({"const": {"k": [1, "two"]}}, ['{"k":[1,"two"]}'], ['{"k":[1]}']),
    ({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                       "nick": {"type": "string"}},
      "required": ["name", "age"]},
     ['{"name": "a", "age": 3}', '{"name":"a","age":3,"nick":"b"}'],
     ['{"name": "a"}', '~{"age": 3, "name": "a"}', '~{"name":"a","age":3,"x":1}']),
    ({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
     ['{}', '{"a": 1}', '{"b": 2}', '{"a":1,"b":2}'], ['~{"b":2,"a":1}', '{,"b":2}']),
    ({"type": "object", "additionalProperties": {"type": "integer"}},
     ['{}', '{"x": 1, "y": -2}'], ['{"x": "1"}']),
    ({"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"],
      "additionalProperties": True},
     ['{"id": 1}', '{"id": 1, "z": [null]}'], ['{"z": 1}']),
    ({"type": "object"}, ['{}', '{"a": [1, {"b": null}]}'], ['[]']),
    ({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 4},
     ['[1, 2]', '[1,2,3,4]'], ['[1]', '[1,2,3,4,5]', '[1, "2"]']),
    ({"type": "array", "items": {"type": "string"}, "minItems": 1}, ['["a"]', '["a","b","c"]'],
     ['[]']),
    ({"type": "array", "maxItems": 0}, ['[]'], ['[1]']),
    ({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
     ['[1, "a"]'], ['~[1]', '["a", 1]']),
    ({"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "boolean"}}]},
     ['1', '[true]'], ['"a"']),
    ({"oneOf": [{"type": "string", "maxLength": 2}, {"type": "null"}]}, ['"ab"', 'null'],
     ['"abc"']),
    ({"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]},
     ['{"a": 1, "b": true}'], ['{"a": 1}']),
    ({"$defs": {"node": {"type": "object", "properties": {
        "v": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
        "required": ["v", "next"]}}, "$ref": "#/$defs/node"},
     ['{"v": 1, "next": {"v": 2, "next": null}}'], ['{"v": 1}']),
    ({"type": "object", "properties": {"p": {"$ref": "#/definitions/pt"}}, "required": ["p"],
      "definitions": {"pt": {"type": "array", "items": {"type": "number"}}}},
     ['{"p": [1.5, 2]}'], ['{"p": 1}']),
    ({"type": "string", "minLength": 2, "maxLength": 5}, ['"ab"', '"abcde"', '"\\u00e9x"'],
     ['"a"', '"abcdef"']),
    ({"type": "string", "pattern": "^[A-Z]{2}-\\d{3,4}(x|yz)?$"}, ['"AB-123"', '"QQ-1234yz"'],
     ['"AB-12"', '"ab-123"', '"AB-123y"']),
    ({"type": "string", "pattern": "^(\\w+\\.)*\\w+@example\\.(com|org)$"},
     ['"a.b@example.com"', '"x@example.org"'], ['"@example.com"', '"a@example.net"']),
    ({"type": "string", "pattern": "^[^\\s\"]+ \\S+$"}, ['"ab cd"'], ['"a b c"', '"a\\"b c"']),
    ({"type": "string", "pattern": "^[\"\\\\a]+$"}, ['"\\"\\\\a"'], ['"b"']),
    ({"type": "string", "format": "date"}, ['"2024-02-28"', '"1999-12-31"'],
     ['~"2024-13-01"', '~"24-01-01"', '~"2023-02-30"', '~"2023-04-31"']),
    ({"type": "string", "format": "date-time"}, ['"2024-02-28T12:30:00Z"',
                                                  '"2024-01-31T12:30:00.123+02:00"'],
     ['~"2024-02-29 12:30:00Z"']),
    ({"type": "string", "format": "time"}, ['"23:59:59Z"'], ['~"24:00:00Z"']),
    ({"type": "string", "format": "uuid"}, ['"123e4567-e89b-12d3-a456-426614174000"'],
     ['~"123e4567e89b12d3a456426614174000"']),
    ({"type": "integer", "minimum": -15, "maximum": 123},
     ['-15', '-9', '0', '7', '99', '100', '123'], ['-16', '124', '200', '-100']),
    ({"type": "integer", "exclusiveMinimum": 9, "exclusiveMaximum": 1000},
     ['10', '999'], ['9', '1000']),
    ({"type": "integer", "minimum": 42}, ['42', '43', '100', '123456'], ['41', '0', '-1']),
    ({"type": "integer", "maximum": -3}, ['-3', '-100'], ['-2', '0', '5']),
    ({"type": "number", "minimum": 0, "maximum": 10}, ['0', '3.75', '10', '10.0'],
     ['10.5', '-1', '11']),
    ({"type": "number", "minimum": -2, "maximum": -1}, ['-1', '-1.5', '-2', '-2.00'],
     ['-2.5', '0', '-0.5']),
]

# (schema, text the error must contain)
ERRORS = [
    ({"type": "string", "format": "email"}, "'format': 'email' is not supported"),
    ({"type": "object", "properties": {"a": {"not": {"type": "string"}}}},
     "at /properties/a: unsupported keyword 'not'"),
    ({"type": "array", "items": {"type": "integer", "multipleOf": 3}},
     "at /items: unsupported keyword 'multipleOf'"),
    ({"type": "object", "minProperties": 1}, "unsupported keyword 'minProperties'"),
    ({"type": "array", "uniqueItems": True}, "unsupported keyword 'uniqueItems'"),
    ({"type": "string", "pattern": "^(a)\\1$"}, "backreferences"),
    ({"type": "string", "pattern": "^(?=a)b$"}, "lookaround"),
    ({"type": "string", "pattern": "\\bword"}, "\\b is not supported"),
    ({"$ref": "other.json#/x"}, "is not local"),
    ({"$ref": "#/$defs/missing"}, "points nowhere"),
    ({"type": "strin"}, "unknown 'type': 'strin'"),
    ({"type": "number", "minimum": 0.5}, "must be an integer value"),
    ({"type": "string", "maxLength": 100000}, "lengths above"),
    ({"type": "object", "properties": {"a": {"type": "string", "format": "date",
                                             "pattern": "x"}}}, "at /properties/a: combining"),
    ({"if": {"type": "string"}}, "unsupported keyword 'if'"),
    ('{"type": ', "not valid JSON"),
]


def random_schema(rng, depth=0):
    """A random, often invalid or unsupported, schema: the converter must answer with a grammar or
    an error, never crash or hang."""
    kinds = ["string", "integer", "number", "boolean", "null", "object", "array", "junk"]
    s = {}
    for _ in range(rng.randint(0, 4)):
        k = rng.choice(["type", "properties", "required", "items", "enum", "const", "anyOf", "allOf",
                        "$ref", "pattern", "minLength", "maxLength", "minimum", "maximum",
                        "minItems", "maxItems", "additionalProperties", "prefixItems", "format",
                        "exclusiveMinimum", "$defs", "not", "oneOf"])
        sub = (lambda: random_schema(rng, depth + 1)) if depth < 4 else (lambda: {})
        v = {"type": lambda: rng.choice(kinds + [[rng.choice(kinds), "null"]]),
             "properties": lambda: {f"p{i}\"{i}": sub() for i in range(rng.randint(0, 3))},
             "required": lambda: rng.choice([["p0\"0"], ["zz"], [], [1], "x"]),
             "items": sub, "additionalProperties": lambda: rng.choice([True, False, sub()]),
             "enum": lambda: rng.choice([[1, "a", None], [], "x", [{"k": [1, 2]}]]),
             "const": lambda: rng.choice([1, "é\u0001", None, [1], {"a": {}}]),
             "anyOf": lambda: [sub() for _ in range(rng.randint(0, 3))],
             "oneOf": lambda: [sub() for _ in range(rng.randint(0, 3))],
             "allOf": lambda: [sub() for _ in range(rng.randint(0, 3))],
             "prefixItems": lambda: [sub() for _ in range(rng.randint(0, 3))],
             "$defs": lambda: {"d": sub()},
             "$ref": lambda: rng.choice(["#", "#/$defs/d", "#/properties/x", "#/nope", "http://x"]),
             "pattern": lambda: rng.choice(["^a+$", "(", "[z-a]", "a{2,1}", "\\", "(?:x|y)*",
                                            "[^\"\\\\]{1,3}", ".*?", "a**", "[]", "\\u00e9+"]),
             "format": lambda: rng.choice(["date", "uuid", "email", 3]),
             }.get(k, lambda: rng.choice([0, 1, 3, -7, 2.5, 1e300, "x", None, True, 5000]))
        s[k] = v()
    return s


def fuzz(n):
    import random
    rng = random.Random(1234)
    for i in range(n):
        schema = random_schema(rng)
        r = tool("gbnf", schema=schema)
        msg = r.stderr.decode()
        check(r.returncode == 0 or (r.returncode == 1 and msg.startswith("json schema: ")),
              f"fuzz {i}: rc {r.returncode} '{msg.strip()}' for {json.dumps(schema)}")
        if r.returncode == 0:  # what converts must also compile and match
            r = tool("sample", "2", str(i), schema=schema)
            check(r.returncode in (0, 1), f"fuzz {i}: sample rc {r.returncode}")


def main():
    for i, (schema, good, bad) in enumerate(CASES):
        r = tool("gbnf", schema=schema)
        check(r.returncode == 0, f"case {i}: {schema}: {r.stderr.decode()}")
        if r.returncode:
            continue
        r = tool("sample", "25", str(i + 1), schema=schema)
        outs = [s for s in r.stdout.split(b"\0") if s]
        check(r.returncode == 0 and len(outs) >= 10, f"case {i}: {len(outs)} samples")
        for s in outs:
            try:
                v = json.loads(s.decode())
                jsonschema.validate(v, schema, format_checker=FORMATS)
                ok = True
            except Exception as e:  # noqa: BLE001 -- any failure is the test's
                ok = False
                err = e
            check(ok, f"case {i}: sample {s!r} does not validate: {err if not ok else ''}")
        for s in good:
            jsonschema.validate(json.loads(s), schema)  # the test's own instances are right
        for s in bad:
            if s.startswith("~"):
                continue
            try:
                jsonschema.validate(json.loads(s), schema)
                raise SystemExit(f"case {i}: the invalid instance {s} validates")
            except (json.JSONDecodeError, jsonschema.ValidationError):
                pass
        r = tool("accept", schema=schema, stdin=b"\0".join(x.encode() for x in good + bad) + b"\0")
        got = r.stdout.decode().split()
        want = ["1"] * len(good) + ["0"] * len(bad)
        check(got == want, f"case {i}: accept {got}, want {want} for {good + bad}")
    for schema, want in ERRORS:
        r = tool("gbnf", schema=schema)
        msg = r.stderr.decode()
        check(r.returncode == 1 and want in msg, f"{schema}: want an error with '{want}', got "
              f"rc {r.returncode} '{msg.strip()}'")
    fuzz(300)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
