"""Options of the agent's unit tests: ``--update-goldens`` rewrites the parsers' golden files for review.

The golden helper (:mod:`tests.unit.agent.golden`) reads ``NETDOWN_UPDATE_GOLDEN`` when it is first
imported, which is at collection, after ``pytest_configure``: the flag only sets that variable, so
the flag and the variable are one mechanism. pytest reads options only from conftest files it loads
before parsing the command line, so name this folder: ``pytest tests/unit/agent --update-goldens``.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare ``--update-goldens``."""
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite tests/fixtures/*/<case>.expected.json from the code (then review the diff)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Turn ``--update-goldens`` into the variable the golden helper reads."""
    if config.getoption("--update-goldens", default=False):
        os.environ["NETDOWN_UPDATE_GOLDEN"] = "1"
