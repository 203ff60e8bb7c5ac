"""Predictions with console pages open: 1-row ``POST /predict`` under wrk against a real
``nnserve serve`` (2 sync workers), with no page open and with two jobs pages polling the jobs
API, in alternating rounds of one run. The jobs page polls rather than streams, so no request
holds a worker while a page is open; this measures what the polling costs.

Needs wrk (Debian ``wrk``) and Debian's chromium with Playwright (the dev extras). Every
request goes to 127.0.0.1; the browser runs on the same machine, so its own CPU counts too.

    .venv/bin/python bench/console.py [--seconds 5] [--connections 4] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from launch import start_server, wait_job  # bench/ is the script's directory, on sys.path
from playwright.sync_api import sync_playwright
from serve import wrk
from sklearn.datasets import load_iris


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=5, help="per wrk run")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/console.py needs wrk: apt-get install wrk")
    X, y = load_iris(return_X_y=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        server = start_server(Path(tmp) / "store", log_dir=Path(tmp))
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            job = requests.post(server.url + "/train", timeout=30, json={
                "model": "iris", "data": {"features": X.tolist(), "labels": y.tolist()}}).json()
            assert wait_job(server.url, job["job_id"], timeout=300)["status"] == "succeeded"
            one = json.dumps({"model": "iris", "instances": X[:1].tolist()}).encode()
            for _ in range(8):  # warm every worker's model cache
                requests.post(server.url + "/predict", data=one, timeout=30,
                              headers={"Content-Type": "application/json"}).raise_for_status()
            rounds, polls = [], []  # polls: the jobs API requests the open pages made
            for r in range(args.rounds):
                # Alternate which side goes first, so drift in the shared machine's load hits both.
                order = ("none", "pages") if r % 2 == 0 else ("pages", "none")
                result = {}
                for side in order:
                    pages = []
                    if side == "pages":
                        for _ in range(2):
                            page = browser.new_page()
                            page.on("request", lambda req: polls.append(req.url)
                                    if "/jobs?" in req.url else None)
                            page.goto(server.url + "/ui/jobs")
                            page.wait_for_selector("body[data-ready=true]")
                            pages.append(page)
                    polls.clear()
                    started = time.monotonic()
                    result[side] = wrk(server.url + "/predict", args.seconds, args.connections, one)
                    for page in pages:  # the sync API delivers the pages' request events now
                        page.evaluate("1")
                    result[side]["polls_per_s"] = len(polls) / (time.monotonic() - started)
                    for page in pages:
                        page.close()
                rounds.append(result)
        finally:
            browser.close()
            server.stop()
    print(f"{'round':<7}{'none req/s':>12}{'2 pages req/s':>15}{'ratio':>8}"
          f"{'p99 none':>10}{'p99 pages':>11}{'page polls/s':>14}")
    for i, r in enumerate(rounds, 1):
        print(f"{i:<7}{r['none']['rps']:>12.0f}{r['pages']['rps']:>15.0f}"
              f"{r['pages']['rps'] / r['none']['rps']:>8.2f}{r['none']['p99_ms']:>10.2f}"
              f"{r['pages']['p99_ms']:>11.2f}{r['pages']['polls_per_s']:>14.1f}")
    ratios = [r["pages"]["rps"] / r["none"]["rps"] for r in rounds]
    print(f"2 pages / none: median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")


if __name__ == "__main__":
    main()
