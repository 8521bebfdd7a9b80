#!/usr/bin/env python3
"""Goldens for tests/test_jinja.c: small templates rendered by Jinja2 in the environment Hugging Face
transformers uses for chat templates (the same one ../shared/tools/render_templates.py sets up).

  tests/data/jinja_cases.json          language features on inline templates
  tests/data/template_tool_cases.json  the shared chat templates over tool-calling conversations
                                        (templates are read from $LMC_SHARED/templates at test time)

usage: scripts/gen_jinja_cases.py [SHARED_DIR]     (default ../shared)
"""
import datetime, json, os, sys
import jinja2, jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared")


def raise_exception(msg):
    raise jinja2.exceptions.TemplateError(msg)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda fmt: datetime.datetime(2026, 11, 21).strftime(fmt)


def render(src, ctx):
    try:
        return {"expected": env.from_string(src).render(**ctx)}
    except jinja2.exceptions.TemplateSyntaxError as e:
        return {"error": str(e), "error_type": "syntax"}
    except jinja2.exceptions.UndefinedError as e:
        return {"error": str(e), "error_type": "undefined"}
    except jinja2.exceptions.TemplateError as e:
        return {"error": str(e), "error_type": "raised"}
    except Exception as e:
        return {"error": str(e), "error_type": type(e).__name__}


D = {"d": {"b": 2, "a": 1, "C": 3}, "l": [3, 1, 2], "s": "Hello World", "n": None, "t": True, "f": 1.5,
     "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "bye"}],
     "people": [{"name": "bob", "age": 30}, {"name": "Alice", "age": 25}, {"name": "carl"}]}

CASES = [
    # whitespace control, trim_blocks, lstrip_blocks
    ("ws_trim_blocks", "{% if true %}\nyes\n{% endif %}\nend", {}),
    ("ws_lstrip", "a\n    {% if true %}\n    b\n    {% endif %}\nc", {}),
    ("ws_minus", "a   {{- 'b' -}}   c\n  {%- if 1 %} d {% endif -%}  \n e", {}),
    ("ws_plus", "a\n  {%+ if 1 %}x{% endif %}\n", {}),
    ("ws_comment", "a\n  {# c #}\nb {#- c -#} c\n{# x #}\nd", {}),
    ("ws_var_no_trim", "{{ 1 }}\n{{ 2 }}\n", {}),
    ("ws_crlf", "a\r\n{% if 1 %}\r\nb\r\n{% endif %}\r\n", {}),
    ("ws_trailing_newlines", "x\n\n", {}),
    ("ws_raw", "{% raw %}{{ not }}{% if %}{% endraw %}!", {}),
    ("ws_lstrip_after_var", "{{ 1 }}  {% if 1 %}x{% endif %}", {}),
    ("ws_minus_on_comment_start", "a  \n{#- c #}b", {}),
    # literals and printing
    ("lit_numbers", "{{ 1 }} {{ 1.0 }} {{ 1.5e3 }} {{ 1e-7 }} {{ 0.1 + 0.2 }} {{ 10 / 4 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1_000 }}", {}),
    ("lit_floats_repr", "{{ 1e16 }} {{ 1.5e300 }} {{ 123456789.125 }} {{ 1/3 }} {{ 2.0 ** 60 }} {{ -0.0 }} {{ 100.0 }}", {}),
    ("lit_strings", "{{ 'a\\'b' }} {{ \"c\\\"d\" }} {{ 'tab\\there' }} {{ '\\u00e9\\x41' }} {{ 'x' 'y' }} {{ '\\d' }}", {}),
    ("lit_containers", "{{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1]} }} {{ (1,) }} {{ (1, 2) }} {{ () }}", {}),
    ("lit_repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n', '\u3000', 'é'] }}", {}),
    ("print_values", "{{ n }}|{{ t }}|{{ f }}|{{ d }}|{{ undefined_thing }}|{{ l }}", D),
    ("print_tuple_expr", "{{ 1, 2 }}", {}),
    # operators
    ("op_concat", "{{ 'a' ~ 1 ~ none ~ [1] ~ nope }}", {}),
    ("op_plus_str", "{{ 'a' + 'b' }} {{ [1] + [2] }} {{ 1 + 2.5 }} {{ true + 1 }}", {}),
    ("op_str_mul", "{{ 'ab' * 3 }} {{ 2 * 'x' }} {{ [0] * 3 }}", {}),
    ("op_cmp", "{{ 1 < 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ [1,2] == [1,2] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 5 }} {{ none == none }} {{ true == 1 }}", {}),
    ("op_in", "{{ 'a' in 'cat' }} {{ 2 in [1,2] }} {{ 'a' in {'a':1} }} {{ 'z' not in 'cat' }} {{ 'x' in nope }}", {}),
    ("op_logic", "{{ 1 and 'x' }}|{{ 0 or 'y' }}|{{ none or [] }}|{{ not 0 }}|{{ not none and 1 }}", {}),
    ("op_cond", "{{ 'y' if 1 else 'n' }}|{{ 'y' if 0 }}|{{ 'a' if 0 else 'b' if 1 else 'c' }}", {}),
    ("op_precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 'a' ~ 1 + 2 }} {{ not 1 == 2 }} {{ -l|length }}", D),
    ("op_unary", "{{ -1 }} {{ +1 }} {{ -1.5 }} {{ - -3 }}", {}),
    ("op_str_percent", "{{ '%s and %d' % ('x', 3) }} {{ '%05.2f|%-4s|%x' % (3.14159, 'ab', 255) }} {{ '%s' % none }}", {}),
    # access
    ("access_attr_item", "{{ d.a }} {{ d['b'] }} {{ l[0] }} {{ l[-1] }} {{ s[0] }} {{ msgs[1].role }} {{ msgs[1]['content'] }}", D),
    ("access_missing", "[{{ d.zzz }}][{{ l[10] }}][{{ d['q'] }}][{{ d.zzz is defined }}][{{ l[10] is defined }}]", D),
    ("access_slices", "{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ s[::2] }} {{ s[-5:] }} {{ l[5:] }} {{ 'héllo'[1:3] }} {{ l[::-2] }}", D),
    ("access_dict_method_shadow", "{{ dd['items'] }} {{ dd.get('items') }}", {"dd": {"items": 5}}),
    ("access_undefined_attr_error", "{{ nope.x }}", {}),
    ("access_missing_attr_error", "{{ d.zzz.y }}", D),
    ("access_none_attr", "[{{ n.x }}]", D),
    ("access_dotted_int", "{{ l.0 }} {{ msgs.2.content }}", D),
    ("undefined_arith_error", "{{ nope + 1 }}", {}),
    ("undefined_concat_plus_error", "{{ 'a' + nope }}", {}),
    ("undefined_iter_len", "{% for x in nope %}x{% else %}empty{% endfor %} {{ nope|length }} {{ nope|default('dflt') }}", {}),
    ("undefined_call_error", "{{ nope() }}", {}),
    ("type_error_concat", "{{ 'a' + 1 }}", {}),
    # statements
    ("if_elif_else", "{% for i in [1,2,3,4] %}{% if i == 1 %}one{% elif i == 2 %}two{% elif i == 3 %}three{% else %}other{% endif %} {% endfor %}", {}),
    ("for_loop_vars", "{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", D),
    ("for_prev_next", "{% for x in l %}[{{ loop.previtem }}|{{ loop.nextitem }}|{{ loop.previtem is defined }}]{% endfor %}", D),
    ("for_else", "{% for x in [] %}x{% else %}none{% endfor %}{% for x in [1] %}x{% else %}none{% endfor %}", {}),
    ("for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}{% for a, b in [(1, 2), [3, 4]] %}{{ a + b }}{% endfor %}", D),
    ("for_dict_iter", "{% for k in d %}{{ k }}{% endfor %}{% for ch in 'abc' %}{{ ch }}-{% endfor %}", D),
    ("for_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ loop.index }},{% endfor %}", {}),
    ("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("for_nested_loop", "{% for a in [1,2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("for_cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b', 'c') }}{% endfor %}", {}),
    ("for_scope", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = i * 10 %}{{ x }} {% endfor %}{{ x }}", {}),
    ("for_scope_fresh_iteration", "{% for i in [1, 2] %}[{{ y }}]{% set y = i %}{% endfor %}", {}),
    ("for_none_error", "{% for x in n %}{% endfor %}", D),
    ("set_basic", "{% set a = 1 %}{% set b, c = 2, 3 %}{{ a }}{{ b }}{{ c }}{% set t = 1, 2 %}{{ t }}", {}),
    ("set_in_if_leaks", "{% if 1 %}{% set a = 'in' %}{% endif %}{{ a }}", {}),
    ("set_namespace", "{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }} {{ ns.missing is defined }}", {}),
    ("set_namespace_later_attr", "{% set ns = namespace() %}{% set ns.x = 5 %}{{ ns.x }}", {}),
    ("set_attr_non_namespace_error", "{% set d2 = {} %}{% set d2.x = 1 %}", {}),
    ("set_block", "{% set x %}\n  Hello {{ 'you' }}\n{% endset %}[{{ x }}]{% set y | upper %}abc{% endset %}{{ y }}", {}),
    ("filter_block", "{% filter upper %}abc {{ 'def' }}{% endfilter %}|{%- filter trim -%}\n  spaced  \n{%- endfilter -%}|", {}),
    ("macro_basic", "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Bob') }} {{ greet('Al', greeting='Hi') }} {{ greet(name='Z') }}", {}),
    ("macro_missing_param", "{% macro m(a, b) %}[{{ a }}|{{ b }}|{{ b is defined }}]{% endmacro %}{{ m(1) }}", {}),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}", {}),
    ("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(6) }}", {}),
    ("macro_sees_later_globals", "{% macro m() %}{{ g }}{% endmacro %}{% set g = 'late' %}{{ m() }}", {}),
    ("macro_namespace_side_effect", "{% set ns = namespace(c=0) %}{% macro bump() %}{% set ns.c = ns.c + 1 %}{% endmacro %}{{ bump() }}{{ bump() }}{{ ns.c }}", {}),
    ("macro_default_uses_param", "{% macro m(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ m(3) }}", {}),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}", {}),
    ("call_block_args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}<{{ x }}>{% endcall %}", {}),
    ("raise_exception", "{% if 1 %}{{ raise_exception('Bad role: ' + 'x') }}{% endif %}", {}),
    ("strftime_now", "{{ strftime_now('%d %B %Y') }}|{{ strftime_now('%Y-%m-%d %A %b %j') }}", {}),
    # filters
    ("filter_trim_case", "[{{ '  x y  '|trim }}][{{ 'xxhixx'|trim('x') }}][{{ 'aBc dEf'|upper }}][{{ 'aBc'|lower }}][{{ 'hello wORLD-foo(bar'|title }}][{{ 'hELLO world'|capitalize }}]", {}),
    ("filter_length", "{{ l|length }} {{ s|count }} {{ d|length }} {{ 'héllo'|length }} {{ '量子'|length }}", D),
    ("filter_join", "{{ l|join(', ') }}|{{ l|join }}|{{ people|join(',', attribute='name') }}|{{ ['a', 1, none]|join('-') }}", D),
    ("filter_first_last", "{{ l|first }} {{ l|last }} {{ s|first }} {{ s|last }} [{{ []|first }}]", D),
    ("filter_default", "{{ nope|default('x') }} {{ ''|default('e') }} {{ ''|default('e', true) }} {{ none|d('n') }} {{ none|d('n', boolean=true) }} {{ 0|default(5) }}", {}),
    ("filter_string_int_float", "{{ 5|string + 'x' }} {{ '42'|int + 1 }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '3.5'|float }} {{ 2|float }} {{ 'q'|float }} {{ ' 12 '|int }} {{ true|int }}", {}),
    ("filter_list_reverse", "{{ 'abc'|list }} {{ d|list }} {{ l|reverse|list }} {{ 'abc'|reverse }} {{ (1, 2)|list }}", D),
    ("filter_items_dictsort", "{{ d|items|list }} {{ d|dictsort }} {{ d|dictsort(true) }} {{ d|dictsort(by='value', reverse=true) }}", D),
    ("filter_sort", "{{ l|sort }} {{ l|sort(reverse=true) }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ people|sort(attribute='name')|map(attribute='name')|list }}", D),
    ("filter_unique", "{{ [1, 2, 1, 3, 2]|unique|list }} {{ ['a', 'A', 'b']|unique|list }} {{ ['a', 'A']|unique(case_sensitive=true)|list }} {{ people|unique(attribute='age')|map(attribute='name')|list }}", D),
    ("filter_min_max_sum", "{{ l|min }} {{ l|max }} {{ l|sum }} {{ people|selectattr('age', 'defined')|sum(attribute='age') }} {{ ['b', 'A']|max }}", D),
    ("filter_select", "{{ range(10)|select('odd')|list }} {{ range(10)|reject('even')|list }} {{ [0, 1, '', 'a', none]|select|list }} {{ l|select('gt', 1)|list }} {{ l|select('in', [1, 3])|list }}", D),
    ("filter_selectattr", "{{ msgs|selectattr('role', 'equalto', 'user')|list|length }} {{ people|selectattr('age')|map(attribute='name')|join(',') }} {{ people|rejectattr('age', 'defined')|list }} {{ people|selectattr('age', 'gt', 26)|list }} {{ msgs|selectattr('role', '==', 'user')|list|length }}", D),
    ("filter_map", "{{ people|map(attribute='name')|list }} {{ people|map(attribute='age', default=0)|list }} {{ l|map('string')|join('+') }} {{ ['a', 'b']|map('upper')|list }} {{ none|map('upper')|list }}", D),
    ("filter_replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }} {{ \"it's\"|replace(\"'\", '\"') }}", {}),
    ("filter_indent", "[{{ 'a\\nb\\n\\nc'|indent }}][{{ 'a\\nb'|indent(2, true) }}][{{ 'a\\n\\nb'|indent(2, blank=true) }}][{{ 'x\\n'|indent(first=true) }}][{{ 'a\\nb'|indent('> ') }}]", {}),
    ("filter_round_abs", "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 1.5|round(0, 'floor') }} {{ 1.2|round(method='ceil') }} {{ -3|abs }} {{ -2.5|abs }} {{ 7|round }}", {}),
    ("filter_wordcount_center", "{{ 'one two  three'|wordcount }} [{{ 'ab'|center(6) }}]", {}),
    ("filter_format", "{{ '%s-%s'|format('a', 1) }} {{ '%.2f'|format(3.14159) }}", {}),
    ("filter_safe_escape", "{{ '<b>'|safe }} {{ '<b>'|e }} {{ '<b>'|escape|safe }} {{ 'x'|safe + '<y>' }} {{ '<a>' + 'z'|safe }} {{ ('a' ~ 'b'|safe) }}", {}),
    ("filter_batch", "{{ range(7)|batch(3)|list }} {{ range(5)|batch(2, 'x')|list }}", {}),
    ("filter_attr", "{{ msgs[0]|attr('role') }}", D),
    ("filter_tojson", "{{ d|tojson }}|{{ msgs|tojson }}|{{ 'héllo \"q\" \\n <>&'|tojson }}|{{ [1.0, 2, none, true]|tojson }}|{{ {}|tojson }}|{{ []|tojson }}", D),
    ("filter_tojson_indent", "{{ {'a': [1, {'b': none}], 'c': {}, 'e': []}|tojson(indent=2) }}|{{ d|tojson(indent=4) }}|{{ d|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ 'é'|tojson(ensure_ascii=true) }}", D),
    ("filter_tojson_nested_unicode", "{{ {'k': '量子化 👍', 'n': -1.5e-7, 'big': 12345678901234}|tojson }}", {}),
    ("filter_chain_precedence", "{{ 'a' ~ 'B'|lower }} {{ msgs|length - 1 }} {{ -3|abs }} {{ [1,2]|length > 1 }}", D),
    ("unknown_filter_error", "{{ 1|nosuchfilter }}", {}),
    ("unknown_test_error", "{{ 1 is nosuchtest }}", {}),
    # tests
    ("tests_types", "{{ n is none }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ true is boolean }} {{ true is integer }} {{ 's' is string }} {{ d is mapping }} {{ l is sequence }} {{ 's' is iterable }} {{ 1 is iterable }} {{ d is iterable }} {{ nope is iterable }} {{ range is callable }}", D),
    ("tests_values", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 'a' is eq 'a' }} {{ 2 is gt 1 }} {{ 2 is in [1, 2] }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ none is sameas none }}", {}),
    ("tests_defined", "{{ nope is defined }} {{ nope is undefined }} {{ d is defined }} {{ d.a is defined }} {{ d.q is not defined }} {{ not nope is defined }}", D),
    ("tests_filter_test", "{{ 'upper' is filter }} {{ 'nofilter' is filter }} {{ 'odd' is test }}", {}),
    # methods
    ("str_methods", "{{ s.startswith('Hell') }} {{ s.endswith(('x', 'ld')) }} {{ '  x  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '\\n\\nx\\n'.lstrip('\\n') }}|{{ 'x\\n\\n'.rstrip() }}|{{ s.upper() }} {{ s.lower() }} {{ 'hello world'.title() }} {{ 'aBC'.capitalize() }} {{ s.replace('l', 'L') }} {{ s.replace('l', 'L', 1) }}", D),
    ("str_split", "{{ 'a,b,,c'.split(',') }} {{ '  a  b c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a<think>b</think>c'.split('</think>')[-1] }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'x'.split('x') }} {{ ''.split() }}", {}),
    ("str_find_count_join", "{{ s.find('o') }} {{ s.find('z') }} {{ s.rfind('o') }} {{ s.count('l') }} {{ '-'.join(['a', 'b']) }} {{ 'héllo'.find('l') }}", D),
    ("str_format_method", "{{ '{} and {}'.format('a', 'b') }} {{ '{1}{0}'.format('x', 'y') }} {{ '{name}!'.format(name='Z') }} {{ '{{literal}}'.format() }}", {}),
    ("str_misc_methods", "{{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '5'.zfill(3) }} {{ 'ab'.ljust(4) }}| {{ 'xtest'.removeprefix('x') }} {{ 'a=b=c'.partition('=') }}", {}),
    ("dict_methods", "{{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }}", D),
    ("list_methods", "{{ l.index(2) }} {{ l.count(3) }}", D),
    ("list_append_unsafe", "{% set x = [] %}{{ x.append(1) }}", {}),
    ("globals_range_dict", "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1, b='x') }} {{ namespace(a=1).a }}", {}),
    ("range_too_big", "{% for i in range(1000000) %}{% endfor %}", {}),
    ("none_coalesce_style", "{{ (n or 'fallback') }} {{ n if n is not none else 'x' }}", D),
    # syntax errors
    ("syntax_unclosed_if", "{% if true %}x", {}),
    ("syntax_bad_end", "{% for x in l %}x{% endif %}", D),
    ("syntax_unknown_tag", "{% frobnicate %}", {}),
    ("syntax_unclosed_var", "{{ 1 + }}", {}),
    ("syntax_unclosed_string", "{{ 'abc }}", {}),
    ("syntax_unclosed_comment", "{# abc", {}),
    ("syntax_break_outside", "{% break %}", {}),
    ("syntax_bad_bracket", "{{ (1, 2] }}", {}),
]

out = []
for name, src, ctx in CASES:
    case = {"name": name, "template": src, "context": ctx}
    case.update(render(src, ctx))
    out.append(case)
with open(os.path.join(root, "tests", "data", "jinja_cases.json"), "w") as fp:
    json.dump(out, fp, ensure_ascii=False, indent=1)
print("jinja_cases.json:", len(out), "cases,", sum("error" in c for c in out), "errors")

# ---- the shared chat templates over tool-calling conversations -------------------------------------
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather in a city",
           "parameters": {"type": "object", "properties": {
               "city": {"type": "string", "description": "The city name"},
               "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"},
               "days": {"type": "integer", "description": "Days ahead", "default": 0, "minimum": 0, "maximum": 7},
               "tags": {"type": "array", "items": {"type": "string"}, "description": "Optional tags"}},
               "required": ["city"]}}}
CALC = {"type": "function", "function": {"name": "calc", "description": "Evaluate an arithmetic expression",
        "parameters": {"type": "object", "properties": {"expr": {"type": "string", "description": "expression"}},
                       "required": ["expr"]}}}
CALL = {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}
CALL_STR = {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}
CONVS = [
    {"name": "tools-user", "tools": [WEATHER, CALC],
     "messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Weather in Paris?"}],
     "add_generation_prompt": True},
    {"name": "tools-call-result", "tools": [WEATHER],
     "messages": [{"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "content": None, "tool_calls": [CALL]},
                  {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temp\": 21}"},
                  {"role": "assistant", "content": "It is 21 degrees."}],
     "add_generation_prompt": False},
    {"name": "tools-call-string-args", "tools": [WEATHER],
     "messages": [{"role": "user", "content": "Weather?"},
                  {"role": "assistant", "content": "", "tool_calls": [CALL_STR]},
                  {"role": "tool", "tool_call_id": "call12345", "content": "sunny"}],
     "add_generation_prompt": True},
    {"name": "thinking", "messages": [{"role": "user", "content": "2+2?"},
                                      {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
                                      {"role": "user", "content": "3+3?"}],
     "add_generation_prompt": True, "enable_thinking": False},
    {"name": "empty-messages", "messages": [], "add_generation_prompt": True},
]
tdir = os.path.join(shared, "templates")
tout = []
if os.path.isdir(tdir):
    for f in sorted(os.listdir(tdir)):
        if not f.endswith(".jinja"):
            continue
        src = open(os.path.join(tdir, f)).read()
        for conv in CONVS:
            ctx = dict(conv, bos_token="<s>", eos_token="</s>")
            del ctx["name"]
            case = {"template_file": f, "name": conv["name"], "context": ctx}
            case.update(render(src, ctx))
            tout.append(case)
    with open(os.path.join(root, "tests", "data", "template_tool_cases.json"), "w") as fp:
        json.dump(tout, fp, ensure_ascii=False, indent=1)
    print("template_tool_cases.json:", len(tout), "cases,", sum("error" in c for c in tout), "errors")
else:
    print("no", tdir, "- template_tool_cases.json not written")
