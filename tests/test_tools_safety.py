"""Hostile arguments: whatever a model sends, a command tool gets each value as exactly the
one argv element it stands in, a shell tool gets it unchanged in its environment, and
nothing else ever runs."""

import json
import os
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmrun.tools.argv import substitute
from llmrun.tools.childenv import env_name
from llmrun.tools.runner import Toolbox
from llmrun.tools.spec import load_file

PAYLOADS = ["$(touch {canary})", "`touch {canary}`", "; touch {canary}", "| touch {canary}",
            "&& touch {canary}", "\ntouch {canary}\n", "' ; touch {canary} ; '",
            '" ; touch {canary} ; "', "${{IFS}}touch${{IFS}}{canary}", "-rf", "--help", "{b}",
            "{a}", "%s%n", "\\", "$LLMRUN_ARG_B", "*", "~", "a b\tc"]

chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
hostile = st.lists(st.sampled_from(PAYLOADS) | st.text(chars, max_size=8), max_size=4).map("".join)

DUMP = ("import json, os, sys; sys.stdout.write(json.dumps({'argv': sys.argv[1:], "
        "'a': os.environ.get('LLMRUN_ARG_A'), 'args': os.environ.get('LLMRUN_ARGS')}))")


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    canary = folder / "CANARY"
    (folder / "t.yaml").write_text(f"""
tools:
  - name: cmd
    description: prints its argv
    parameters:
      type: object
      properties: {{a: {{type: string}}, b: {{type: string}}, c: {{type: string}}}}
      required: [a, b]
    command: [{json.dumps(sys.executable)}, -I, -S, -c, {json.dumps(DUMP)},
              "{{a}}", "pre-{{a}}-post", "{{b}}", "{{a}}{{b}}", "{{c}}", literal]
  - name: sh
    description: echoes through the shell
    parameters:
      type: object
      properties: {{a: {{type: string}}, b: {{type: string}}}}
    sandbox: {{write: ["{folder}"]}}
    shell: |
      printf '%s' "$LLMRUN_ARG_A" > '{folder}/from-shell'
      {json.dumps(sys.executable)} -I -S -c {json.dumps(DUMP)} "$LLMRUN_ARG_B"
""")
    return Toolbox(load_file(str(folder / "t.yaml"))), folder, canary


def call(box, name, args):
    result = box.run_call(name, json.dumps(args))
    assert not result.is_error, result.content
    return json.loads(result.content)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(a=hostile, b=hostile)
@example(a="$(touch CANARY)", b="`touch CANARY`")
@example(a="-", b="\n\n")
def test_hostile_values_stay_one_argument_and_unchanged(box, a, b):
    toolbox, folder, canary = box
    a, b = a.replace("{canary}", str(canary)), b.replace("{canary}", str(canary))
    got = call(toolbox, "cmd", {"a": a, "b": b})
    assert got["argv"] == [a, f"pre-{a}-post", b, a + b, "literal"]  # absent {c}: left out
    assert got["a"] == a and json.loads(got["args"]) == {"a": a, "b": b}

    got = call(toolbox, "sh", {"a": a, "b": b})
    assert got["argv"] == [b] and got["a"] == a
    assert (folder / "from-shell").read_bytes() == a.encode("utf-8")
    assert not canary.exists()


def test_substitution_is_one_pass_and_only_for_declared_names():
    declared = {"a": {}, "b": {}, "c": {"default": 7}, "d": {}}
    argv = substitute(["{a}", "{b}", "x{c}", "{d}", "y{d}", "{print}", "{a} {a}"],
                      {"a": "{b}", "b": "$(x)"}, declared)
    assert argv == ["{b}", "$(x)", "x7", "y", "{print}", "{b} {b}"]


def test_non_string_values_are_json():
    assert substitute(["{n}", "{o}"], {"n": 3, "o": {"k": [1, None]}}) == \
        ["3", '{"k": [1, null]}']


def test_env_names_are_always_valid_variable_names():
    assert env_name("location") == "LLMRUN_ARG_LOCATION"
    assert env_name("a-b=c d") == "LLMRUN_ARG_A_B_C_D"
    assert env_name("PATH") == "LLMRUN_ARG_PATH"  # never a variable of the tool's own


@pytest.mark.parametrize("value, words", [("a\x00b", "NUL"), ("\ud800", "surrogate")])
def test_values_no_process_can_receive_are_error_results(box, value, words):
    toolbox, _, canary = box
    for name in ("cmd", "sh"):
        result = toolbox.run_call(name, json.dumps({"a": value, "b": "x"}))
        assert result.is_error and words in result.content
    assert not canary.exists()


def test_hostile_argument_names_cannot_set_other_variables(box):
    toolbox, _, _ = box
    got = call(toolbox, "sh", {"a": "x", "b": "y", "PATH": "/nowhere", "=odd name": 1})
    assert got["argv"] == ["y"]  # PATH was not replaced: python was still found
    assert os.environ["PATH"] != "/nowhere"
