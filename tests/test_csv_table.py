"""``models.csv_table.read_csv`` against the csv module, and text columns read by level."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.columns import read_column
from models.csv_table import CsvError, read_csv
from models.encoder import TabularEncoder
from models.tabular import CellError, Table

CELL = st.text(alphabet="ab1.-, \"\r\nNAé€", max_size=5)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


def by_csv_module(text: str) -> tuple[list[str], list[tuple[str, ...]]] | type[Exception]:
    """What ``read_csv`` must give: the csv module's rows, blank lines left out, as columns;
    or the exception it must raise."""
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except csv.Error:
        return CsvError
    if len(rows) < 2:
        return CsvError
    if len(set(map(len, rows))) > 1:
        return CellError
    return [name.strip() for name in rows[0]], list(zip(*rows[1:], strict=True))


def check(text: str) -> None:
    expected = by_csv_module(text)
    if isinstance(expected, type):
        with pytest.raises(expected):
            read_csv(text)
        return
    table = read_csv(text)
    assert table.text
    assert (table.names, [tuple(c) for c in table.columns]) == expected


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4).flatmap(lambda w: st.lists(st.lists(CELL, min_size=w, max_size=w),
                                                    min_size=2, max_size=6)),
       ENDINGS, st.booleans(), st.booleans())
def test_same_cells_as_the_csv_module(rows: list[list[str]], ending: str, quote_all: bool,
                                      blank_line: bool) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=ending,
               quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(rows)
    check(buf.getvalue() + (ending if blank_line else ""))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(alphabet="ab1.- NA\v\x1d\x85\u2028", max_size=4),
                         min_size=3, max_size=3),
                min_size=2, max_size=8), ENDINGS, st.integers(0, 7))
def test_unquoted_text_with_blank_lines(rows: list[list[str]], ending: str, blank_at: int
                                        ) -> None:
    """Also with the characters str.splitlines would wrongly end a line at."""
    lines = [",".join(row) for row in rows]
    lines.insert(min(blank_at, len(lines)), "")
    check(ending.join(lines))


@pytest.mark.parametrize("text", ["a,b\n1,2\n3\n4,5\n", 'a,b\n1,2\n"3"\n4,5\n'])
def test_a_short_row_names_its_data_row(text: str) -> None:
    with pytest.raises(CellError) as info:
        read_csv(text)
    assert info.value.row == 1 and "has 1 cells; the header has 2" in str(info.value)


@pytest.mark.parametrize("text", ["a,b\n", "", "\n\n", 'a,b\n"1,2\n'])
def test_no_data_or_an_open_quote_is_refused(text: str) -> None:
    with pytest.raises(CsvError):
        read_csv(text)


def test_numbers_with_missing_tokens_read_as_numeric() -> None:
    column = read_column(["1.5", "NA", "", "-2", "nan", "#N/A"], "x", text=True)
    assert column.kind == "numeric"
    np.testing.assert_array_equal(column.missing, [0, 1, 1, 0, 1, 1])
    np.testing.assert_array_equal(column.values[~column.missing], [1.5, -2.0])


@pytest.mark.parametrize("odd", ["NAN", "+nan", "inf", "1e999"])
def test_a_nan_or_infinity_that_is_not_a_missing_token_is_not_a_number(odd: str) -> None:
    assert read_column(["1", odd, "NA"], "x", text=True).kind == "categorical"
    with pytest.raises(CellError) as info:
        read_column(["1", odd, "NA"], "x", text=True, kind="numeric")
    assert info.value.row == 1


def test_text_categories_are_levels_with_codes_and_missing_is_minus_one() -> None:
    column = read_column(["b", "NA", "a", "b", "", "c"], "x", text=True)
    assert column.kind == "categorical"
    assert column.levels == ["b", "a", "c"]
    np.testing.assert_array_equal(column.codes, [0, -1, 1, 0, -1, 2])
    booleans = read_column(["Yes", "no", "", "TRUE"], "f", text=True)
    assert booleans.kind == "boolean"
    np.testing.assert_array_equal(booleans.values, [1.0, 0.0, np.nan, 1.0])


def test_a_nul_suffix_merges_two_levels_as_the_artifact_would() -> None:
    column = read_column(["a", "a\x00", "b"], "x", text=True)
    assert column.levels == ["a", "b"]
    np.testing.assert_array_equal(column.codes, [0, 0, 1])


def test_a_categorical_column_all_missing_at_predict_lands_in_missing() -> None:
    enc = TabularEncoder(min_frequency=1)
    enc.fit_transform(Table(["c", "n"], [["a", "b", "NA", "a"], ["1", "2", "3", "4"]], text=True))
    X, warnings = enc.transform(Table(["c", "n"], [["NA", ""], ["1", "2"]], text=True))
    names = enc.feature_names_out()
    np.testing.assert_array_equal(X[:, names.index("c__missing")], [1.0, 1.0])
    assert X[:, [names.index("c=a"), names.index("c=b"), names.index("c__other")]].sum() == 0
    assert [w["kind"] for w in warnings] == ["imputed", "imputed"]
