"""Tabular ingestion benchmark: a generated 100 000-row x 20-column mixed CSV.

Prints, from one run, the time Python's ``csv`` module takes just to read the file into lists
(the baseline) and the time nnserve takes to parse it, infer every column's type and encode it
(``models.csv_table.read_csv`` -> ``TabularEncoder.fit_transform``, the path a CSV body takes),
measured in alternating rounds. Their ratio (target <= 2) is printed per round in wall time and
in CPU time: on a shared machine the CPU-time ratio is the steadier of the two. The same file
with every cell quoted (read by the csv module itself) follows, then the share of a 5-epoch fit
that ingestion takes.

    .venv/bin/python bench/ingest.py [--rows 100000] [--rounds 7]
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
from models.csv_table import read_csv  # noqa: E402
from models.encoder import TabularEncoder  # noqa: E402


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


def quote_all(data: bytes) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL).writerows(read_lists(data))
    return buf.getvalue().encode()


def read_lists(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def ingest(data: bytes) -> np.ndarray:
    return TabularEncoder().fit_transform(read_csv(data.decode("utf-8")))


def timed(data: bytes, rounds: int) -> list[tuple[float, float, float, float]]:
    """Per round, alternating: (csv wall, ours wall, csv CPU, ours CPU) in seconds."""
    out = []
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        read_lists(data)
        w1, c1 = time.perf_counter(), time.process_time()
        ingest(data)
        w2, c2 = time.perf_counter(), time.process_time()
        out.append((w1 - w0, w2 - w1, c1 - c0, c2 - c1))
    return out


def report(label: str, rounds: list[tuple[float, float, float, float]]) -> None:
    wall = sorted(r[1] / r[0] for r in rounds)
    cpu = sorted(r[3] / r[2] for r in rounds)
    base, ours = sorted((r[0], r[1]) for r in rounds)[len(rounds) // 2]
    print(f"{label}: csv module {base:.3f} s, nnserve {ours:.3f} s (median round)")
    print(f"  ratio wall {wall[len(wall) // 2]:.2f} (rounds {', '.join(f'{r:.2f}' for r in wall)})")
    print(f"  ratio CPU  {cpu[len(cpu) // 2]:.2f} (rounds {', '.join(f'{r:.2f}' for r in cpu)})"
          "   target <= 2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    data, labels = mixed_csv(args.rows)
    X = ingest(data)
    print(f"{len(data) / 1e6:.1f} MB, {args.rows} rows x 20 columns -> {X.shape[1]} inputs")
    rounds = timed(data, args.rounds)
    report("unquoted CSV (as most programs write)", rounds)
    quoted = quote_all(data)  # read by the csv module itself: no fast path
    report("every cell quoted", timed(quoted, max(3, args.rounds // 2)))
    ours = sorted(r[1] for r in rounds)[len(rounds) // 2]

    clf = MLPClassifier(hidden_layers=(64,), epochs=5, early_stopping=False, batch_size=128)
    t0 = time.perf_counter()
    clf.fit(X, labels)  # the encoded matrix: the training alone
    train = time.perf_counter() - t0
    print(f"5 epochs of training on the encoded rows: {train:.2f} s; ingestion (parse + infer "
          f"+ encode) is {ours / (ours + train) * 100:.0f}% of ingestion + training")


if __name__ == "__main__":
    main()
