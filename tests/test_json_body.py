"""service.api.body.parse_json: orjson's answer, except for booleans among numbers."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from service.api.body import JsonBoolean, parse_json

# Strings with the characters the fast scans split on: quotes, backslashes, colons, t and f.
_TEXT = st.text(alphabet='ab"\\:tf,[]{} é', max_size=8)
_NUMBER = st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
_VALUE = st.recursive(
    st.none() | st.booleans() | _NUMBER | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20)


def _mixes(node) -> bool:
    """Whether some array of numbers in ``node`` holds both booleans and other numbers."""
    def leaves(lst):
        kinds = set()
        for item in lst:
            if isinstance(item, list):
                inner = leaves(item)
                if inner is None:
                    return None
                kinds |= inner
            elif isinstance(item, bool | int | float):
                kinds.add(bool if isinstance(item, bool) else float)
            else:
                return None
        return kinds
    if isinstance(node, dict):
        return any(_mixes(v) for v in node.values())
    if isinstance(node, list):
        kinds = leaves(node)
        return kinds == {bool, float} if kinds is not None else any(_mixes(v) for v in node)
    return False


@given(_VALUE)
def test_documents_without_booleans_among_numbers_decode_as_orjson_does(doc):
    if _mixes(doc):
        return
    assert parse_json(orjson.dumps(doc)) == doc


@given(st.lists(st.lists(_NUMBER | st.booleans(), min_size=1, max_size=4), min_size=1,
                max_size=4),
       st.booleans(), _TEXT)
def test_booleans_among_numbers_become_json_booleans_in_place(rows, flag, text):
    doc = {"name": text, "flag": flag, "rows": rows}
    parsed = parse_json(orjson.dumps(doc))
    assert parsed["flag"] is flag and parsed["name"] == text
    cells = [cell for row in rows for cell in row]
    mixed = any(isinstance(c, bool) for c in cells) and not all(isinstance(c, bool) for c in cells)
    for row, got_row in zip(rows, parsed["rows"], strict=True):
        for cell, got in zip(row, got_row, strict=True):
            if isinstance(cell, bool) and mixed:
                assert isinstance(got, JsonBoolean) and got.value is cell
                assert repr(got) == ("true" if cell else "false")
            else:
                assert got == cell and type(got) is type(cell)
