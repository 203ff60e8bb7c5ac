"""service.api.body.parse_json: orjson's answer, except for booleans in arrays."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from service.api.body import JsonBoolean, _booleans_in_arrays, _structure, parse_json

# Strings with the characters the fast scans split on: quotes, backslashes, colons, t and f.
_TEXT = st.text(alphabet='ab"\\:tf,[]{} é', max_size=8)
_NUMBER = st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
_VALUE = st.recursive(
    st.none() | st.booleans() | _NUMBER | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20)


def _boolean_in_an_array(node) -> bool:
    if isinstance(node, dict):
        return any(_boolean_in_an_array(v) for v in node.values())
    if isinstance(node, list):
        return any(isinstance(v, bool) or _boolean_in_an_array(v) for v in node)
    return False


@given(_VALUE)
def test_documents_without_booleans_in_arrays_decode_as_orjson_does(doc):
    if _boolean_in_an_array(doc):
        return
    assert parse_json(orjson.dumps(doc)) == doc


@given(st.lists(st.lists(_NUMBER | st.booleans(), min_size=1, max_size=4), min_size=1,
                max_size=4),
       st.booleans(), _TEXT)
def test_booleans_in_arrays_become_json_booleans_in_place(rows, flag, text):
    doc = {"name": text, "flag": flag, "rows": rows, "objects": [{"flag": flag}]}
    parsed = parse_json(orjson.dumps(doc))
    assert parsed["flag"] is flag and parsed["objects"][0]["flag"] is flag  # members stay
    assert parsed["name"] == text
    for row, got_row in zip(rows, parsed["rows"], strict=True):
        for cell, got in zip(row, got_row, strict=True):
            if isinstance(cell, bool):
                assert isinstance(got, JsonBoolean) and got.value is cell
                assert repr(got) == ("true" if cell else "false")
            else:
                assert got == cell and type(got) is type(cell)


@given(_VALUE)
def test_the_structure_tells_whether_a_boolean_is_an_array_element(doc):
    """Booleans that are object members only (records) spare the walk; a bare ``true`` as the
    whole document is walked, harmlessly."""
    body = orjson.dumps(doc)
    if isinstance(doc, dict | list):
        assert _booleans_in_arrays(_structure(body)) == _boolean_in_an_array(doc)
    assert _marked_everywhere(parse_json(body))


def _marked_everywhere(node) -> bool:
    if isinstance(node, dict):
        return all(_marked_everywhere(v) for v in node.values())
    if isinstance(node, list):
        return all(isinstance(v, JsonBoolean) if isinstance(v, bool) else _marked_everywhere(v)
                   for v in node)
    return True
