"""Each lifecycle command interrupted once mid-way, then run again: the rerun finishes the job.

One lab for the module (tests run in file order, each on its own client): client1 restores a
file, is rolled back after a guard refusal, then has a deletion acknowledged after another;
client2 is retired; client3 is retired with its repository purged. Each command runs as a
subprocess, watched as in `test_interrupted_apply.py` (whose helpers it uses): SIGINT right
after the progress line saying a step starts (so the step finishes and every later one is
skipped), SIGKILL for the purge right after the line saying `borg delete` is done. Then the
same command again must exit 0 (or say there is nothing to do) and leave the right end state
on disk, and `borgkeep plan` must have nothing to change.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import (  # noqa: F401  (root_required is an autouse fixture)
    BORG_HOME,
    BORG_USER,
    REPO_ROOT,
    CliResult,
    Operator,
    client_borg,
    crontab_commands,
    inventory_text,
    make_operator,
    repository_url,
    root_required,
    run_cron_command,
)
from tests.e2e.test_interrupted_apply import Interrupted, run_and_interrupt, watch
from wizard.artefacts.authorized_keys import parse_authorized_keys_block
from wizard.lab import Lab, start_lab

pytestmark = pytest.mark.lab

SERVER = "nas"
RESTORED, RETIRED, PURGED = "client1", "client2", "client3"
AUTHORIZED_KEYS = f"{BORG_HOME}/.ssh/authorized_keys"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    """Three root clients, applied, each with one backup from its cron line."""
    base = Path(tempfile.mkdtemp(prefix="borgkeep-lab-interrupted-lifecycle-", dir="/var/tmp"))
    clients = [RESTORED, RETIRED, PURGED]
    lab = start_lab(base=base, clients=[(name, "root", "1.7") for name in clients])
    try:
        operator = make_operator(lab, tmp_path_factory.mktemp("interrupted-lifecycle"))
        operator.write_inventory(inventory_text(lab))
        applied = operator.run("apply", "--yes", "--no-verify")
        assert applied.returncode == 0, applied.describe()
        for name in clients:
            backup(lab, name)
        yield operator
    finally:
        lab.stop()


def backup(lab: Lab, client: str) -> None:
    (command,) = [c for c in crontab_commands(lab, client, "root") if "borgmatic" in c]
    run_cron_command(lab, client, command, "root")


def guard(lab: Lab, client: str) -> int:
    """The guard's scheduled prune of `client`, run as cron would; its exit code."""
    (command,) = [c for c in crontab_commands(lab, SERVER, BORG_USER) if f" prune {client} " in c]
    return lab.run_as_cron(SERVER, command, user=BORG_USER).returncode


def key_lines(lab: Lab) -> dict[str, str]:
    return parse_authorized_keys_block((lab.read_file(SERVER, AUTHORIZED_KEYS) or b"").decode())


def ctrl_c_as_it_starts(operator: Operator, args: list[str], host: str, title: str) -> Interrupted:
    """`borgkeep ARGS` and SIGINT right after the line saying `host` starts `title`: the
    step takes a remote round trip or more, so the interrupt lands while it runs and every
    later step is skipped (after its done line, the next phase may already have started)."""
    return watch(
        operator,
        args,
        lambda line: line.strip() == f"· {host}: {title}",
        lambda process: process.send_signal(signal.SIGINT),
    )


def assert_interrupted(run: Interrupted, skipped: str) -> None:
    """SIGINT: exit 1, the report, and `skipped` among what was skipped."""
    assert run.returncode == 1, run.describe()
    assert "Interrupted: the step in progress was finished, the rest skipped." in run.stdout
    assert skipped in run.stdout, run.describe()
    assert "its plan picks up where this one stopped" in run.stdout, run.describe()
    assert "Traceback" not in run.stderr, run.describe()


def assert_plan_empty(operator: Operator) -> None:
    planned = operator.run("plan")
    assert planned.returncode == 0, planned.describe()


def restored_to(result: CliResult | Interrupted, client: str) -> str:
    """Where a restore says the path landed."""
    (line,) = [ln for ln in result.stdout.splitlines() if f"{client}: restored: " in ln]
    return line.split("restored: ", 1)[1].split(" (", 1)[0]


def test_restore_interrupted_during_its_extract_then_run_again(fleet: Operator) -> None:
    """Ctrl-C while the restore's one step runs: it finishes (the report says so, and the
    file is where it says); the same command again restores into a new directory."""
    lab = fleet.lab
    content = os.urandom(70_001)
    path = f"{lab.hosts[RESTORED].source_directories[0]}/interrupted.bin"
    lab.write_file(RESTORED, path, content, mode=0o640, user="root")
    backup(lab, RESTORED)
    args = ["restore", RESTORED, path, "--yes"]
    run = ctrl_c_as_it_starts(fleet, args, RESTORED, "run restore")
    assert run.returncode == 1, run.describe()
    assert f"  ✓ {RESTORED}: done: run restore" in run.stdout, run.describe()
    assert lab.read_file(RESTORED, restored_to(run, RESTORED)) == content
    rerun = fleet.run(*args)
    assert rerun.returncode == 0, rerun.describe()
    landed = restored_to(rerun, RESTORED)
    assert landed != restored_to(run, RESTORED) and landed.endswith(path)
    assert lab.read_file(RESTORED, landed) == content
    assert_plan_empty(fleet)


def test_rollback_interrupted_before_the_client_forgets_its_cache(fleet: Operator) -> None:
    """Ctrl-C during the server's rollback: the client's `forget-cache` is skipped. The
    same command again finishes it: the client backs up again, the guard prunes clean, and
    a third run has nothing to do."""
    lab = fleet.lab
    url = repository_url(lab, RESTORED)
    assert guard(lab, RESTORED) == 0
    made = client_borg(lab, RESTORED, f"create {url}::{RESTORED}-second /srv/data")
    assert made.returncode == 0, made.stderr
    assert guard(lab, RESTORED) == 0
    deleted = client_borg(lab, RESTORED, f"delete {url}::{RESTORED}-second")
    assert deleted.returncode == 0, deleted.stderr
    assert guard(lab, RESTORED) == 3  # refused: a recorded archive vanished
    args = ["recover", RESTORED, "--rollback", "--yes"]
    run = ctrl_c_as_it_starts(fleet, args, SERVER, "run guard-rollback")
    assert f"  ✓ {SERVER}: done: run guard-rollback" in run.stdout, run.describe()
    assert_interrupted(run, f"  - {RESTORED}: skipped: run forget-cache")
    refused = client_borg(lab, RESTORED, f"list {url}")  # what the skipped step was for
    assert refused.returncode != 0 and b"newer than repository" in refused.stderr
    rerun = fleet.run(*args)
    assert rerun.returncode == 0, rerun.describe()
    assert "run forget-cache" in rerun.stdout, rerun.describe()
    backup(lab, RESTORED)
    assert guard(lab, RESTORED) == 0
    again = fleet.run(*args)
    assert again.returncode == 0, again.describe()
    assert f"nothing to recover for {RESTORED}" in again.stdout, again.describe()
    assert_plan_empty(fleet)


def test_acknowledge_interrupted_then_run_again(fleet: Operator) -> None:
    """Ctrl-C as the guard's acknowledge starts (its one step): it finishes and says so; the
    same command again exits 0, and the guard prunes clean."""
    lab = fleet.lab
    url = repository_url(lab, RESTORED)
    listed = client_borg(lab, RESTORED, f"list --short {url}")
    assert listed.returncode == 0, listed.stderr
    newest = listed.stdout.decode().split()[-1]
    deleted = client_borg(lab, RESTORED, f"delete {url}::{newest}")
    assert deleted.returncode == 0, deleted.stderr
    assert guard(lab, RESTORED) == 3
    args = ["recover", RESTORED, "--acknowledge", "--yes"]
    run = ctrl_c_as_it_starts(fleet, args, SERVER, "run guard-acknowledge")
    assert run.returncode == 1, run.describe()
    assert f"  ✓ {SERVER}: done: run guard-acknowledge" in run.stdout, run.describe()
    rerun = fleet.run(*args)
    assert rerun.returncode == 0, rerun.describe()
    assert guard(lab, RESTORED) == 0
    assert_plan_empty(fleet)


def test_remove_interrupted_as_the_key_line_leaves(fleet: Operator) -> None:
    """Ctrl-C while the server drops the client's key line: the client's files and
    the server's prune files are skipped, the client stays in the inventory; the same
    command again removes the rest and the client leaves the inventory."""
    lab = fleet.lab
    args = ["remove", RETIRED, "--yes"]
    run = ctrl_c_as_it_starts(fleet, args, SERVER, f"update {AUTHORIZED_KEYS}")
    # what is skipped depends on how far the client's own steps (run beside the server's)
    # got when the signal came: on a loaded machine they may all be done; the server's
    # later steps (its prune files and crontab) always come after the key line
    assert_interrupted(run, f"  - {SERVER}: skipped: ")
    assert RETIRED not in key_lines(lab)
    assert RETIRED in fleet.inventory.read_text()
    rerun = fleet.run(*args)
    assert rerun.returncode == 0, rerun.describe()
    assert f"{RETIRED} left the inventory" in rerun.stdout, rerun.describe()
    assert RETIRED not in key_lines(lab) and f"borgkeep:{RETIRED}" not in key_lines(lab).values()
    assert not [c for c in crontab_commands(lab, SERVER, BORG_USER) if RETIRED in c]
    assert crontab_commands(lab, RETIRED, "root") == []
    assert RETIRED not in fleet.inventory.read_text()
    assert_plan_empty(fleet)


def test_remove_with_purge_killed_after_the_repository_went(fleet: Operator) -> None:
    """SIGKILL right after `borg delete` of the repository: the guard's state, the server's
    prune files, the secrets and the inventory entry are left; the same command again
    removes them (nothing left to purge), and the repository directory is gone."""
    lab = fleet.lab
    assert lab.run(SERVER, ["test", "-d", f"{REPO_ROOT}/{PURGED}"]).returncode == 0
    args = ["remove", PURGED, "--purge-repository", PURGED, "--yes"]
    run = run_and_interrupt(fleet, args, (SERVER, "run delete-repository"), signal.SIGKILL)
    assert run.returncode == -signal.SIGKILL, run.describe()
    assert PURGED in fleet.inventory.read_text()
    rerun = fleet.run(*args)
    assert rerun.returncode == 0, rerun.describe()
    assert "nothing to purge" in rerun.stdout, rerun.describe()
    assert f"{PURGED} left the inventory" in rerun.stdout, rerun.describe()
    assert lab.run(SERVER, ["test", "-e", f"{REPO_ROOT}/{PURGED}"]).returncode != 0
    state_dir = f"{BORG_HOME}/.config/borgkeep"
    for leftover in (f"{PURGED}.guard.json", f"prune-{PURGED}.yaml", f"{PURGED}.passphrase"):
        assert lab.read_file(SERVER, f"{state_dir}/{leftover}") is None, leftover
    assert PURGED not in key_lines(lab)
    assert not [name for name in fleet.secrets() if name.endswith(f"/{PURGED}")]
    assert PURGED not in fleet.inventory.read_text()
    assert_plan_empty(fleet)
