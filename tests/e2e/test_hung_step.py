"""A remote step that hangs is a failed proof naming the host and the step within its
silence limit (`BORGKEEP_STEP_TIMEOUT`), and `verify` says each step as it goes."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wizard.lab import start_lab
from wizard.pipeline.verify import CLIENT_PROBES

from .helpers import Operator, make_operator, root_required  # noqa: F401

pytestmark = pytest.mark.lab

PROBES = CLIENT_PROBES


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    base = Path(tempfile.mkdtemp(prefix="borgkeep-lab-hung-step-", dir="/var/tmp"))
    lab = start_lab(base=base, clients=[("client1", "root", "1.7")])
    try:
        operator = make_operator(lab, tmp_path / "operator")
        operator.write_inventory(lab.inventory_yaml(repo_root="/srv/backups"))
        yield operator
    finally:
        lab.stop()


def test_a_hung_probe_fails_naming_host_and_step_within_its_limit(
    operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied = operator.run("apply", "--yes", "--no-verify")
    assert applied.returncode == 0, applied.describe()
    # The client's pinned known_hosts becomes a FIFO: its ssh (the Borg RPC probe, the shell probe)
    # blocks reading it, silently, for ever.
    pinned = "/root/.ssh/borgkeep_known_hosts"
    operator.lab.run("client1", f"mv {pinned} {pinned}.real && mkfifo {pinned}", check=True)
    monkeypatch.setenv("BORGKEEP_STEP_TIMEOUT", "5")
    started = time.monotonic()
    verified = operator.run("verify")
    assert time.monotonic() - started < 60, verified.describe()
    assert verified.returncode == 1, verified.describe()
    assert (
        f"✗ client1: verification could run — verify: {PROBES}: no answer for 5 s "
        "(BORGKEEP_STEP_TIMEOUT sets the limit in seconds)"
    ) in verified.stdout, verified.describe()
    progress = verified.stderr.splitlines()
    assert f"  · client1: {PROBES}" in progress, verified.describe()
    assert f"  ✗ client1: {PROBES}: 1 of 1 proof(s) failed" in progress, verified.describe()
    assert "· client1" not in verified.stdout  # progress stays off stdout
