"""The order test files are handed out in. CI runs the suite with pytest-xdist's
`--dist loadfile`: each file runs whole on one worker, and files go to workers in collection
order. A slow file collected late starts when the others are nearly done and runs alone;
so the slowest files (measured on CI, longest first) are collected first and the many quick
ones fill the workers in at the end. A file not listed keeps its place after them; the
tests of one file keep their own order.

Every test that runs the real tools — the lab's tests under `tests/e2e/`, the files that
start a lab or real borg or borgmatic through `tests.real_tools` or `tests.guard_lab`, and
the few that start borg themselves — is marked `real` here, so `pytest -m "not real"` is the quick pure suite (a few seconds a file)."""

from __future__ import annotations

import types

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
    "tests/test_guard_status_cache_real.py",
)
REAL_TOOL_MODULES = ("tests.real_tools", "tests.guard_lab", "wizard.lab", "wizard.lab.lab")
STARTS_BORG_ITSELF = (
    "tests/test_borg_rpc.py",
    "tests/test_init_repo_rerun.py",
    "tests/test_repository_identity.py",
    "tests/test_takeover_probe.py",
)
"""Files that start borg by its path, without the helpers above."""


def runs_real_tools(item: pytest.Item) -> bool:
    """A lab test, or one whose file uses the helpers that start real borg or borgmatic."""
    if item.nodeid.startswith("tests/e2e/") or item.nodeid.split("::")[0] in STARTS_BORG_ITSELF:
        return True
    module = getattr(item, "module", None)
    for value in vars(module).values() if module is not None else ():
        if isinstance(value, types.ModuleType):
            origin = value.__name__
        else:
            origin = getattr(value, "__module__", None)
        if origin in REAL_TOOL_MODULES:
            return True
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if runs_real_tools(item):
            item.add_marker(pytest.mark.real)
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
