"""JSON documents read without PyYAML (llmrun/base/jsonfile.py): the same values as json.loads,
the same lines as the YAML path for every value, and every document the YAML path would judge
(a key twice, NaN, a number too long, too deep, something after it) left to that path."""

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmrun.base import yamlfile
from llmrun.base.errors import ConfigError
from llmrun.base.jsonfile import MAX_DEPTH, read_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMITS = (yamlfile.MAX_EXPANDED_NODES, yamlfile.MAX_INT_DIGITS)

#: Keys and strings of any character but those YAML reads otherwise (jsonfile._NOT_PLAIN)
YAML_OWN = "".join(map(chr, range(0x7F, 0xA0))) + "\u2028\u2029"
keys = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, blacklist_categories=("Cs",),
                             blacklist_characters=YAML_OWN), max_size=12)
scalars = (st.none() | st.booleans() | st.integers(-10**30, 10**30) | keys
           | st.floats(allow_nan=False, allow_infinity=False, width=32))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(keys, inner, max_size=4), max_leaves=25)
containers = st.lists(documents, max_size=4) | st.dictionaries(keys, documents, max_size=4)


def yaml_lines(text):
    """The lines the YAML path finds, for every path it records."""
    import yaml

    node = yaml.compose(text, Loader=yaml.SafeLoader)
    table = {}
    yamlfile._walk(node, (), table)
    return table


@settings(max_examples=300, deadline=None)
@given(containers, st.sampled_from([None, 0, 1, 2, 4]), st.booleans(), st.booleans())
def test_any_json_document_reads_as_json_does_with_the_yaml_paths_lines(data, indent, ascii,
                                                                       crlf):
    text = json.dumps(data, indent=indent, ensure_ascii=ascii)
    if crlf:  # a file written on Windows
        text = text.replace("\n", "\r\n")
    got = read_json(text, *LIMITS)
    assert got is not None
    value, lines = got
    assert value == json.loads(text)
    assert lines == yaml_lines(text)


@pytest.mark.parametrize("text", [
    '{"a": 1, "a": 2}',                 # a key twice: YAML names it and its line
    '{"a": NaN}', '[Infinity]', '[-Infinity]',  # not JSON
    '[%s]' % ("9" * 401),               # longer than any setting (YAML's limit)
    "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2),  # deeper than this reader goes
    '{"a": 1} # a comment', '{"a": 1}\n---\n{}',  # something after the document
    '{"a": 1', '{"a" 1}', '{a: 1}', '[1 2]', '{"a": [1,]}', '{"a": tru}', '',
    'a: {"b": 1}', '  # just a comment', '{"a": "tab\there"}',  # raw control character
    '{"a": "\x7f"}', '["\x9b31m"]', '["\ufffe"]',  # raw, YAML refuses them
    '{"\u2028": 1}', '["\x85"]', '{"a":\r1}',  # line breaks to YAML, not to JSON
])
def test_what_the_yaml_path_judges_is_left_to_it(text):
    assert read_json(text, *LIMITS) is None


def test_a_document_of_more_values_than_the_limit_is_left_to_the_yaml_path():
    text = json.dumps(list(range(50)))
    assert read_json(text, 51, 400) is not None
    assert read_json(text, 50, 400) is None


def test_a_key_twice_is_still_named_with_its_line():
    with pytest.raises(ConfigError, match=r"f\.json:3: key 'b' appears twice"):
        yamlfile.load_yaml('{"a": 1,\n "b": 2,\n "b": 3}', "f.json")


def test_a_json_syntax_error_is_still_a_yaml_error_with_its_line():
    with pytest.raises(ConfigError, match=r"f\.json:2: invalid YAML"):
        yamlfile.load_yaml('{"a": 1,\n "b": [1, }', "f.json")


def test_an_mcp_server_file_in_json_is_read_without_pyyaml(tmp_path):
    """The run that starts MCP servers from a JSON file imports no YAML before they start."""
    spec = tmp_path / "mcp.json"
    spec.write_text('{\n  "mcpServers": {\n    "a": {"command": "x"},\n'
                    '    "b": {"command": "y", "args": ["1"]}\n  }\n}\n')
    code = ("import sys; from llmrun.tools.mcp.spec import load_file; "
            "print([s.where for s in load_file(sys.argv[1])], 'yaml' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"['{spec}:3', '{spec}:4'] False"
