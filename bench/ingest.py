"""Tabular ingestion benchmark: a generated 100 000-row x 20-column mixed CSV.

Prints, from one run, the time Python's ``csv`` module takes just to read the file into lists
(the baseline), the time nnserve takes to parse it, infer every column's type and encode it
(``csv`` rows -> ``Table`` -> ``TabularEncoder.fit_transform``), their ratio (target <= 2), and
the share of a 5-epoch fit that ingestion takes. The two are measured in alternating rounds;
the round with the median ratio is shown, with the spread.

    .venv/bin/python bench/ingest.py [--rows 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models import MLPClassifier  # noqa: E402
from models.encoder import TabularEncoder  # noqa: E402
from models.tabular import Table  # noqa: E402


def mixed_csv(n: int, seed: int = 0) -> tuple[bytes, list[str]]:
    """8 numeric columns (5% NA), 6 categorical (12 levels), 3 boolean (a third empty), an id,
    a constant and an integer column; and the labels."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for j in range(8):
        v = rng.normal(size=n).round(4).astype(str)
        v[rng.random(n) < 0.05] = "NA"
        cols[f"num{j}"] = v
    for j in range(6):
        cols[f"cat{j}"] = rng.choice([f"level{k}" for k in range(12)], n)
    for j in range(3):
        cols[f"flag{j}"] = rng.choice(["true", "false", ""], n)
    cols["id"] = np.array([f"id{i}" for i in range(n)])
    cols["const"] = np.full(n, "1")
    cols["count"] = rng.integers(0, 100, n).astype(str)
    labels = np.where(cols["cat0"] < "level6", "a", "b").tolist()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(cols)
    writer.writerows(zip(*cols.values(), strict=True))
    return buf.getvalue().encode(), labels


def read_lists(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def ingest(data: bytes) -> np.ndarray:
    rows = read_lists(data)
    return TabularEncoder().fit_transform(Table.from_rows(rows[1:], rows[0], text=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    data, labels = mixed_csv(args.rows)
    rounds = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        read_lists(data)
        t1 = time.perf_counter()
        X = ingest(data)
        t2 = time.perf_counter()
        rounds.append((t1 - t0, t2 - t1))
    ratios = sorted(ours / base for base, ours in rounds)
    base, ours = sorted(rounds, key=lambda r: r[1] / r[0])[len(rounds) // 2]
    print(f"{len(data) / 1e6:.1f} MB, {args.rows} rows x 20 columns -> {X.shape[1]} inputs")
    print(f"csv module, read into lists:          {base:.3f} s")
    print(f"nnserve parse + infer types + encode: {ours:.3f} s")
    print(f"ratio {ours / base:.2f} (target <= 2; rounds {', '.join(f'{r:.2f}' for r in ratios)})")

    clf = MLPClassifier(hidden_layers=(64,), epochs=5, early_stopping=False, batch_size=128)
    t0 = time.perf_counter()
    clf.fit(X, labels)  # the encoded matrix: the training alone
    train = time.perf_counter() - t0
    print(f"5 epochs of training on the encoded rows: {train:.2f} s; ingestion (parse + infer "
          f"+ encode) is {ours / (ours + train) * 100:.0f}% of ingestion + training")


if __name__ == "__main__":
    main()
