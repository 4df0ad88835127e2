"""The order test files are handed out in. CI runs the suite with pytest-xdist's
`--dist loadfile`: each file runs whole on one worker, and files go to workers in collection
order. A slow file collected late starts when the others are nearly done and runs alone;
so the slowest files (measured on CI, longest first) are collected first and the many quick
ones fill the workers in at the end. A file not listed keeps its place after them; the
tests of one file keep their own order."""

from __future__ import annotations

import pytest

SLOWEST_FIRST = (
    "tests/e2e/test_guard_e2e.py",
    "tests/e2e/test_repository_key.py",
    "tests/e2e/test_interrupted_apply.py",
    "tests/e2e/test_interrupted_apply_late.py",
    "tests/e2e/test_killed_apply.py",
    "tests/e2e/test_killed_apply_late.py",
    "tests/test_borgmatic_validate_real.py",
    "tests/test_guard_program_real.py",
    "tests/e2e/test_lifecycle_e2e.py",
    "tests/e2e/test_apply_cli.py",
    "tests/test_version_matrix.py",
    "tests/e2e/test_borg14.py",
    "tests/e2e/test_takeover.py",
    "tests/e2e/test_rpc_surface.py",
    "tests/e2e/test_interrupted_lifecycle.py",
    "tests/e2e/test_demo_keep_resume.py",
    "tests/e2e/test_borg_account_attacks.py",
    "tests/e2e/test_status_alerts.py",
    "tests/e2e/test_takeover_edges.py",
    "tests/test_guard_recover_real.py",
    "tests/test_guard_adopted_real.py",
    "tests/e2e/test_client_attacks.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
