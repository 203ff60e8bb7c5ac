"""The tabular encoder: column types, missing values, vocabularies, and its stored form."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.encoder import TabularEncoder
from models.tabular import MISSING_TOKENS, CellError, Table

CELLS = {
    "numeric": st.one_of(st.none(), st.integers(-10**6, 10**6),
                         st.floats(-1e9, 1e9, allow_nan=False)),
    "boolean": st.one_of(st.none(), st.booleans()),
    "categorical": st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e"]),
                             st.text(max_size=6)),
    "mixed": st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3)),
}


@st.composite
def tables(draw):
    n = draw(st.integers(1, 40))
    kinds = draw(st.lists(st.sampled_from(sorted(CELLS)), min_size=1, max_size=6))
    columns = [draw(st.lists(CELLS[k], min_size=n, max_size=n)) for k in kinds]
    return Table([f"c{j}" for j in range(len(kinds))], columns)


@settings(max_examples=150, deadline=None)
@given(tables(), st.integers(1, 5), st.integers(1, 3), tables())
def test_encoding_is_finite_and_bounded_by_max_categories(table, max_categories, min_frequency,
                                                          other):
    encoder = TabularEncoder(max_categories=max_categories, min_frequency=min_frequency)
    try:
        encoder.fit(table)
    except CellError as exc:  # only when nothing at all is left to learn from
        assert "nothing to learn" in str(exc)
        return
    X, warnings = encoder.transform(table)
    assert X.shape == (table.n_rows, encoder.n_features_out_)
    assert np.isfinite(X).all()
    assert X.shape[1] <= len(table.names) * (max_categories + 2)
    assert not [w for w in warnings if w["kind"] == "unseen_category"]
    # other data with the same column names: unseen categories, other types of cells
    other = Table(list(table.names[:len(other.names)]), other.columns[:len(table.names)])
    try:
        Y, _ = encoder.transform(other)
    except CellError:
        pass  # e.g. text in a numeric column: refused, never encoded as garbage
    else:
        assert np.isfinite(Y).all() and Y.shape[1] == X.shape[1]


@settings(max_examples=60, deadline=None)
@given(tables())
def test_stored_arrays_give_the_same_encoding(table):
    try:
        encoder = TabularEncoder(max_categories=3).fit(table)
    except CellError:
        return
    buf = io.BytesIO()
    np.savez(buf, **encoder.to_arrays())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        restored = TabularEncoder.from_arrays({k: npz[k] for k in npz.files})
    assert restored.input_schema() == encoder.input_schema()
    assert np.array_equal(restored.transform(table)[0], encoder.transform(table)[0])


def test_types_are_inferred_and_overridden():
    table = Table(["n", "b", "c", "zip"], [[1, 2.5, None, 4], [True, False, None, True],
                                           ["x", 3, "y", "x"], [2134, 2134, 9999, 9999]])
    kinds = [s.kind for s in TabularEncoder().fit(table).columns_]
    assert kinds == ["numeric", "boolean", "categorical", "numeric"]
    enc = TabularEncoder(feature_types={"zip": "categorical"}).fit(table)
    assert enc.columns_[3].kind == "categorical" and enc.columns_[3].categories == ["2134",
                                                                                    "9999"]
    assert enc.columns_[2].categories == ["x"] and enc.columns_[2].rare == ["3", "y"]


def test_csv_text_reads_numbers_booleans_and_every_na_token():
    tokens = sorted(MISSING_TOKENS)
    n = len(tokens)
    table = Table.from_rows([[str(i), ["yes", "No", "TRUE", "false"][i % 4], tok]
                             for i, tok in enumerate(tokens)] + [["1.5", "yes", "7"]] * 2,
                            ["x", "flag", "gappy"], text=True)
    enc = TabularEncoder().fit(table)
    x, flag, gappy = enc.columns_
    assert (x.kind, flag.kind, gappy.kind) == ("numeric", "boolean", "numeric")
    assert gappy.missing_rate == pytest.approx(n / (n + 2)) and gappy.indicator
    X, warnings = enc.transform(table)
    assert [w["row"] for w in warnings if w["feature"] == "gappy"] == list(range(n))
    assert (X[:n, enc.feature_names_out().index("gappy")] == 7).all()


def test_missing_unseen_and_rare_categories_at_predict_time():
    train = Table.from_records([{"k": c} for c in "aaabbbc"] + [{"k": None}] * 2)
    enc = TabularEncoder(min_frequency=2).fit(train)
    assert enc.feature_names_out() == ["k=a", "k=b", "k__other", "k__missing"]
    X, warnings = enc.transform(Table.from_records([{"k": "a"}, {"k": "c"}, {"k": "zz"}, {}],
                                                   enc.names_))
    assert X.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert warnings == [{"row": 2, "feature": "k", "kind": "unseen_category", "value": "zz"},
                        {"row": 3, "feature": "k", "kind": "imputed"}]


def test_a_high_cardinality_column_stays_narrow():
    rng = np.random.default_rng(0)
    ids = [f"user-{i}" for i in range(10_000)]
    codes = rng.choice(["p", "q", "r"], 10_000).tolist()
    enc = TabularEncoder(max_categories=32).fit(Table(["id", "code"], [ids, codes]))
    assert enc.columns_[0].dropped == "constant"  # every id seen once: all "other"
    assert enc.n_features_out_ == 4
    many = [f"v{i % 500}" for i in range(10_000)]  # 500 categories, each seen 20 times
    enc = TabularEncoder(max_categories=32).fit(Table(["many"], [many]))
    assert enc.n_features_out_ == 33


def test_constant_and_empty_columns_are_dropped_and_said_so():
    table = Table(["const", "empty", "x"], [[5] * 4, [None] * 4, [1, 2, 3, 4]])
    enc = TabularEncoder().fit(table)
    schema = enc.input_schema()
    assert [(c["name"], c["dropped"], c.get("dropped_reason")) for c in schema] == [
        ("const", True, "constant"), ("empty", True, "all_missing"), ("x", False, None)]
    assert schema[2] == {"name": "x", "type": "numeric", "missing_rate": 0.0, "dropped": False,
                         "median": 2.5, "mean": 2.5, "std": pytest.approx(1.118, abs=1e-3)}
    # what a dropped column holds at predict time does not matter
    X, _ = enc.transform(Table(["const", "x"], [["anything"], [3]]))
    assert X.tolist() == [[3.0]]


def test_cells_that_do_not_fit_their_column_are_named():
    enc = TabularEncoder().fit(Table(["n", "s"], [[1, 2, 3, 4], ["a", "b", "a", "b"]]))
    bad = [
        (Table(["n"], [[1, "two"]]), "numeric column 'n'", 1, "n"),
        (Table(["n"], [[True]]), "numeric column 'n'", 0, "n"),
        (Table(["n"], [[float("inf")]]), "not a finite number", 0, "n"),
        (Table(["s"], [["a", {"x": 1}]]), "a cell holds one value", 1, "s"),
        (Table(["n"], [["x"]], text=True), "'x' in numeric column 'n'", 0, "n"),
        (Table(["zz"], [[1]]), "not a feature", None, "zz"),
    ]
    for other, message, row, column in bad:
        with pytest.raises(CellError, match=message) as caught:
            enc.transform(other)
        assert (caught.value.row, caught.value.column) == (row, column)


def test_bad_feature_types_and_bad_records_are_named():
    table = Table(["a"], [[1, 2]])
    with pytest.raises(CellError, match="'b', which is not a column"):
        TabularEncoder(feature_types={"b": "numeric"}).fit(table)
    with pytest.raises(CellError, match="'text' is not.*|expected one of"):
        TabularEncoder(feature_types={"a": "text"}).fit(table)
    with pytest.raises(CellError, match="record 1 is an array"):
        Table.from_records([{"a": 1}, [1]])
    with pytest.raises(CellError, match="row 0 is an object"):
        Table.from_rows([{"a": 1}], ["a"])
    with pytest.raises(CellError, match="row 1 has 1 cells, expected 2"):
        Table.from_rows([[1, 2], [1]], ["a", "b"])
