"""The slowest-first list that orders the suite for CI's workers (tests/conftest.py) names
only files that exist: a renamed or removed file must leave it, or it orders nothing."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SLOWEST_FIRST

ROOT = Path(__file__).resolve().parent.parent


def test_every_listed_file_exists_once():
    assert len(set(SLOWEST_FIRST)) == len(SLOWEST_FIRST)
    missing = [path for path in SLOWEST_FIRST if not (ROOT / path).is_file()]
    assert missing == []
