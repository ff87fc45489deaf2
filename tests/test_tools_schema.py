"""The fast schema subset judges exactly as jsonschema does, and schema problems in tool
files are found (with the line) before a model ever sees the tool."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.validators import Draft202012Validator

from llmrun.tools import schema as fast
from llmrun.tools.validate import ArgumentError, parse_arguments, schema_problem

TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from([0.0, 1.0, 2.5, -1.5])
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
    max_leaves=8)

type_kw = st.sampled_from(TYPES) | st.lists(st.sampled_from(TYPES), min_size=1, max_size=3,
                                            unique=True)


def schemas(depth: int = 2):
    sub = schemas(depth - 1) if depth else st.booleans()
    fields = {
        "type": type_kw, "enum": st.lists(json_values, max_size=3), "const": json_values,
        "minimum": st.integers(-3, 3), "maximum": st.sampled_from([-1, 0, 2, 3.5]),
        "exclusiveMinimum": st.integers(-3, 3), "exclusiveMaximum": st.integers(-3, 3),
        "minLength": st.integers(0, 3), "maxLength": st.integers(0, 3),
        "minItems": st.integers(0, 2), "maxItems": st.integers(0, 2),
        "minProperties": st.integers(0, 2), "maxProperties": st.integers(0, 2),
        "required": st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=2),
        "properties": st.dictionaries(st.sampled_from(["a", "b", "c"]), sub, max_size=2),
        "additionalProperties": sub, "items": sub, "description": st.text(max_size=3),
        "default": json_values,
    }
    picked = st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=4)
    return st.booleans() | picked.flatmap(
        lambda keys: st.fixed_dictionaries({k: fields[k] for k in keys}))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(schemas(), json_values)
def test_fast_subset_agrees_with_jsonschema(schema, value):
    assert fast.is_simple(schema)
    Draft202012Validator.check_schema(schema)
    assert (not fast.errors(schema, value)) == Draft202012Validator(schema).is_valid(value)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}},
    {"type": "object", "anyOf": [{"required": ["a"]}]},
    {"type": "object", "properties": {"a": {"type": "strin"}}},
    {"type": "object", "required": ["a", "a"]},
    {"type": "object", "properties": {"a": {"minLength": 2.0}}},
    {"type": "object", "examples": "not a list"},
])
def test_anything_outside_the_subset_goes_to_jsonschema(schema):
    assert not fast.is_simple(schema)


@pytest.mark.parametrize("schema, path, words", [
    ([], (), "mapping with type: object"),
    ({"properties": {}}, ("type",), "type: object"),
    ({"type": "string"}, ("type",), "type: object"),
    ({"type": "object", "properties": {"a": {"type": "strin"}}}, ("properties", "a", "type"),
     "not valid"),
    ({"type": "object", "required": "a"}, ("required",), "not of type 'array'"),
])
def test_schema_problems_name_the_place(schema, path, words):
    where, message = schema_problem(schema)
    assert where == path and words in message


def test_a_valid_schema_outside_the_subset_passes():
    assert schema_problem({"type": "object", "properties": {"a": {"pattern": "^x"}},
                           "anyOf": [{"required": ["a"]}]}) is None


@pytest.mark.parametrize("text, words", [
    ("{", "not valid JSON"), ('{"a": NaN}', "not valid JSON"), ("[1]", "must be a JSON object"),
    ('"x"', "must be a JSON object"), ("[" * 100000, "nested more than 64 levels"),
    ("{\"a\": " + "[" * 70 + "]" * 70 + "}", "nested more than 64 levels"),
])
def test_bad_arguments_are_explained(text, words):
    with pytest.raises(ArgumentError, match=words):
        parse_arguments("t", text)


def test_empty_arguments_mean_no_arguments():
    assert parse_arguments("t", "") == {} and parse_arguments("t", "  ") == {}
    assert parse_arguments("t", json.dumps({"a": [1]})) == {"a": [1]}
