"""Fixtures for end-to-end tests against the local lab (real sshd, borg, borgmatic, crontab).

There is no session-wide lab on purpose: tests change hosts (users, keys, crontabs,
repositories), so each test gets a fresh lab (`lab`) or shares one per module
(`module_lab`) when it only reads. While a lab fixture is active, BORGKEEP_SSH_CONFIG
and BORGKEEP_KNOWN_HOSTS point at its operator files. Set BORGKEEP_LAB_KEEP=1 to keep
the lab's directory under /var/tmp for a post-mortem (its processes are stopped anyway).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wizard.lab import Lab, start_lab

NEEDS_ROOT_REASON = (
    "the local lab needs root (one sshd per host in its own mount namespace); "
    "run the lab tests as root in a throwaway VM or container"
)


def _lab_for(test_name: str) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip(NEEDS_ROOT_REASON)
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name)[:40]
    base = Path(tempfile.mkdtemp(prefix=f"borgkeep-lab-{safe_name}-", dir="/var/tmp"))
    keep = os.environ.get("BORGKEEP_LAB_KEEP") == "1"
    lab = start_lab(base=base, keep=keep)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in lab.env().items():
                patch.setenv(key, value)
            yield lab
    finally:
        lab.stop()


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A fresh default lab (nas, client1, client2) for one test, stopped afterwards."""
    yield from _lab_for(request.node.name)


@pytest.fixture(scope="module")
def module_lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A default lab shared by the tests of one module, stopped after the module."""
    yield from _lab_for(request.module.__name__.rsplit(".", 1)[-1])
