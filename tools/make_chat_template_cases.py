"""Expected renderings for Tests/ChatTemplatesTests, made by transformers' own Jinja2 environment
(the one apply_chat_template compiles templates with: ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loopcontrols, its tojson / raise_exception / namespace). Writes
Tests/Fixtures/chat-templates/cases.json: small templates, one feature each, and the real chat
templates in that folder over seeded conversations, with and without add_generation_prompt.

    python3 tools/make_chat_template_cases.py
"""
import json
import os
import sys

from transformers.utils.chat_template_utils import _cached_compile_jinja_template

sys.path.insert(0, os.path.dirname(__file__))
from chat_conversations import conversations  # noqa: E402

HERE = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "chat-templates")

MESSAGES = [{"role": "system", "content": "  Sys  "}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello\n"}]
SNIPPETS = [
    # Whitespace control and trim_blocks / lstrip_blocks.
    ("{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("  {% if true %}\n  indented\n  {% endif %}\n", {}),
    ("a  {%- if true -%}  b  {%- endif -%}  c", {}),
    ("a {{- 'x' -}} b\n{{ 'y' }}\n", {}),
    ("{# comment #}\nx {#- c -#} y\n  {# c #}\nz", {}),
    ("{%+ if true %}kept{% endif %}", {}),
    ("text\n\n", {}),
    # Loops.
    ("{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }};{% endfor %}", {"messages": MESSAGES}),
    ("{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.role }} {% else %}none{% endfor %}", {"messages": MESSAGES}),
    ("{% for m in [] %}x{% else %}empty{% endfor %}", {}),
    ("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}", {"d": {"b": 1, "a": [1, 2], "c": None}}),
    ("{% for x in 'héllo' %}[{{ x }}]{% endfor %}", {}),
    ("{% for m in messages %}{{ loop.previtem is defined }}{{ loop.nextitem.role if loop.nextitem is defined else '-' }} {% endfor %}", {"messages": MESSAGES}),
    ("{% for m in messages %}{{ loop.cycle('odd', 'even') }} {% endfor %}", {"messages": MESSAGES}),
    ("{% for m in messages[::-1] %}{{ m.role }} {% endfor %}|{{ messages[1:] | length }}|{{ messages[-1].role }}|{{ 'abcdef'[1:4] }}|{{ 'abcdef'[::2] }}|{{ [1,2,3,4][-2:] }}", {"messages": MESSAGES}),
    # Conditions and scoping.
    ("{% if x == 1 %}one{% elif x == 2 %}two{% else %}other{% endif %}", {"x": 2}),
    ("{% if x == 1 %}one{% elif x == 2 %}two{% else %}other{% endif %}", {"x": 3}),
    ("{% set x = 1 %}{% for i in range(3) %}{% set x = x + i %}{% endfor %}{{ x }}", {}),
    ("{% set ns = namespace(n=0, found=false) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.n }} {{ ns.found }}", {}),
    ("{% set a, b = 1, 'two' %}{{ a }} {{ b }}", {}),
    ("{% set block %}inside {{ 1 + 1 }}{% endset %}[{{ block }}]", {}),
    # Expressions.
    ("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ 7 / 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1.5 + 1 }} {{ 0.1 + 0.2 }}", {}),
    ("{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] + [2] }}", {}),
    ("{{ none }} {{ true }} {{ 1.0 }} {{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [none]} }} {{ \"it's\" | list }}", {}),
    ("{{ x if x else 'fallback' }} {{ 'yes' if 1 < 2 < 3 else 'no' }} {{ 'b' in 'abc' }} {{ 'z' not in ['a'] }} {{ 'k' in {'k': 1} }}", {"x": ""}),
    ("{{ a and b }} {{ a or b }} {{ not a }} {{ b and 'x' }} {{ undefined_thing or 'dflt' }}", {"a": 0, "b": "bee"}),
    ("{{ 'a' < 'b' }} {{ 2 >= 2.0 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'x' != 'y' }} {{ [1, 2] == [1, 2] }}", {}),
    ("{{ messages[0]['content'] }}|{{ messages[0].content }}|{{ messages[5] is defined }}|{{ messages[0].nothing is defined }}", {"messages": MESSAGES}),
    ("{{ 'adjacent' ' strings' }} {{ \"esc\\tapes\\n\\u00e9\\x41\" }}", {}),
    # Tests.
    ("{{ x is defined }} {{ y is undefined }} {{ n is none }} {{ 's' is string }} {{ 1 is number }} {{ 1.5 is float }} {{ 2 is integer }} {{ d is mapping }} {{ l is iterable }} {{ 's' is iterable }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 1 is not string }} {{ 'a' is eq 'a' }} {{ true is boolean }} {{ false is false }}", {"x": 1, "n": None, "d": {}, "l": []}),
    # Filters.
    ("[{{ '  x y  ' | trim }}] [{{ 'xxhixx' | trim('x') }}] {{ 'Ab' | upper }} {{ 'Ab' | lower }} {{ 'hello world' | title }} {{ 'hELLO' | capitalize }}", {}),
    ("{{ l | length }} {{ 'héllo' | length }} {{ d | count }} {{ l | first }} {{ l | last }} {{ l | join(', ') }} {{ l | reverse | list }} {{ l | unique | list }} {{ l | min }} {{ l | max }} {{ l | sum }}", {"l": [3, 1, 2, 1], "d": {"a": 1}}),
    ("{{ x | default('d') }} {{ '' | default('d', true) }} {{ none | default('d') }} {{ 'a-b-c' | replace('-', '+') }} {{ 3.7 | int }} {{ '12' | int }} {{ 2 | float }} {{ -3 | abs }} {{ 42 | string }} {{ 2.567 | round(1) }}", {}),
    ("{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | join(',') }} {{ messages | map(attribute='role') | list }} {{ [0, 1, '', 'a'] | select | list }}", {"messages": MESSAGES}),
    ("{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é\"\\n' | tojson }}|{{ [1.0, 2.5, none, true] | tojson }}|{{ d | tojson(sort_keys=true) }}", {"d": {"z": "ünï", "a": [1, {"b": None}], "e": {}}}),
    ("{% for k, v in d | items %}{{ k }}{{ v }}{% endfor %} {% for k, v in d | dictsort %}{{ k }}{{ v }}{% endfor %} {{ 'one two  three' | wordcount }} {{ 'a\nb' | indent(2) }} {{ 'a\nb' | indent(2, true) }} {{ [3, 1, 2] | sort }} {{ '<b>' | e }}", {"d": {"b": 2, "a": 1}}),
    # String methods.
    ("[{{ ' x '.strip() }}][{{ 'xax'.strip('x') }}][{{ ' x '.lstrip() }}][{{ ' x '.rstrip() }}][{{ '\\n\\nx\\n'.rstrip('\\n') }}]", {}),
    ("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'l1\\nl2\\n'.splitlines() }}", {}),
    ("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'hello'.upper() }} {{ 'HeLLo'.lower() }} {{ 'hello'.replace('l', 'L') }} {{ 'hello'.find('l') }} {{ 'hello'.count('l') }} {{ '-'.join(['a', 'b']) }} {{ 'hi there'.title() }} {{ '123'.isdigit() }}", {}),
    ("{{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }} {{ d.keys() | list }} {{ d.values() | list }} {{ d['a'] }}", {"d": {"a": 1, "b": 2}}),
    # Globals.
    ("{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ namespace(a=1).a }} {{ dict(x=1) }}", {}),
    ("{{ bos_token }}{% for m in messages %}{{ m.role }}{% endfor %}{{ eos_token }}", {"messages": MESSAGES, "bos_token": "<s>", "eos_token": "</s>"}),
    ("{{ tools is none }} {{ tools is defined }} {% if not tools %}no tools{% endif %}", {"tools": None}),
]


def render(template, variables):
    try:
        return {"expected": _cached_compile_jinja_template(template).render(**variables)}
    except Exception as e:  # noqa: BLE001 - the test only needs to know it failed
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    cases = []
    for template, variables in SNIPPETS:
        cases.append({"template": template, "variables": variables, **render(template, variables)})
    special = {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"}
    for name in sorted(os.listdir(HERE)):
        if not name.endswith(".jinja"):
            continue
        template = open(os.path.join(HERE, name)).read()
        for i, messages in enumerate(conversations(25, seed=len(name))):
            for generation in (False, True):
                shown = messages[:-1] if generation else messages
                variables = {"messages": shown, "tools": None, "documents": None,
                             "add_generation_prompt": generation, **special}
                cases.append({"file": name, "template": None, "variables": variables, **render(template, variables)})
    # One conversation Gemma refuses (roles must alternate): raise_exception.
    variables = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
                 "add_generation_prompt": False, **special}
    cases.append({"file": "gemma3-it.jinja", "template": None, "variables": variables,
                  **render(open(os.path.join(HERE, "gemma3-it.jinja")).read(), variables)})
    path = os.path.join(HERE, "cases.json")
    with open(path, "w") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
    print(f"{len(cases)} cases ({sum('error' in c for c in cases)} errors) -> {path}")


if __name__ == "__main__":
    main()
