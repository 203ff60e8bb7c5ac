"""The README stays true: its settings table, its two newcomer commands, and CI running them."""

from __future__ import annotations

from pathlib import Path

from service.config import SETTINGS, settings_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

SERVE = "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/nnserve serve"
TEST = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && .venv/bin/pytest"


def test_readme_settings_table_is_the_code_table():
    assert settings_table() in README
    for var, *_ in SETTINGS:
        assert f"`{var}`" in README


def test_readme_has_the_two_newcomer_commands_and_ci_runs_the_test_one():
    assert SERVE in README and TEST in README
    assert TEST in (ROOT / ".ci" / "run").read_text()


def test_cli_commands_in_readme_exist():
    from service.cli import _parser

    commands = set(_parser()._subparsers._group_actions[0].choices)
    for name in ("serve", "worker", "train", "predict", "models", "jobs", "settings"):
        assert f"nnserve {name}" in README and name in commands


def test_every_test_the_threat_table_cites_exists():
    import re

    table = README[README.index("## Security and reliability"):README.index("## Settings")]
    cited = 0
    for row in table.splitlines():
        current = None
        for file, name in re.findall(r"`(?:(test_\w+\.py))?::(test_\w+)", row):
            current = file or current
            assert current, row
            source = (ROOT / "tests" / current).read_text()
            assert f"def {name}(" in source, f"{current}::{name}"
            cited += 1
    assert cited >= 30
