"""A compromised borg account on the server attacks Borgkeep's root login, for real, on the
lab: as the borg user it swaps Borgkeep's files, `~/.ssh`, the state directory and its
repository root for links to root-only canaries, and plants links at every name a backup or
temp file could get. Borgkeep must never write, chmod, chown or read a canary: it refuses
(exit 1, naming the host and the path), or, for links at names it never uses, simply goes
on; and once the attacker's link is gone, a rerun converges.

One module lab, applied once with `repo_root` in the borg user's home (so the borg user
controls it, the case that matters); every attack cleans up and leaves the fleet converged.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import yaml

from wizard.inventory.parse import parse_inventory
from wizard.lab import Lab
from wizard.session import FleetSession

from .helpers import (  # noqa: F401  (root_required is an autouse fixture)
    BORG_HOME,
    BORG_USER,
    CliResult,
    Operator,
    inventory_text,
    make_operator,
    root_required,
    run_checked,
)

pytestmark = pytest.mark.lab

CLIENTS = ["client1"]
CANARY = "/etc/borgkeep-canary"
CANARY_DIR = "/etc/borgkeep-canary.d"
REPO_ROOT = f"{BORG_HOME}/backups"
STATE_DIR = f"{BORG_HOME}/.config/borgkeep"
PRUNE_CONFIG = f"{STATE_DIR}/prune-client1.yaml"
PASSPHRASE = f"{STATE_DIR}/client1.passphrase"
GUARD = f"{STATE_DIR}/guard.py"
SSH_DIR = f"{BORG_HOME}/.ssh"
AUTHORIZED_KEYS = f"{SSH_DIR}/authorized_keys"
LINK_REFUSAL = "is a symbolic link; Borgkeep never writes through links"


@dataclass
class Fleet:
    operator: Operator
    secret: str  # the canary's content: it must never show up anywhere
    canaries: str  # owner, mode, links and hash of both canaries, as planted
    undo: list[str] = field(default_factory=list)  # the borg user's clean-up, after an attack

    @property
    def lab(self) -> Lab:
        return self.operator.lab


def canary_state(lab: Lab) -> str:
    script = (
        f"stat -c '%n %U:%G %a %h %F' {CANARY} {CANARY_DIR} && sha256sum {CANARY} && "
        f"ls -la {CANARY_DIR} | tail -n +2 | awk '{{print $1, $3, $4, $NF}}'"
    )
    return run_checked(lab, "nas", script)


def with_retention(lab: Lab, keep_daily: int) -> str:
    data = yaml.safe_load(inventory_text(lab, CLIENTS, server_overrides={"repo_root": REPO_ROOT}))
    data["retention"] = {"keep_daily": keep_daily}
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture(scope="module")
def fleet(module_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    lab = module_lab
    operator = make_operator(lab, tmp_path_factory.mktemp("operator-borg-attacks"))
    operator.write_inventory(with_retention(lab, 7))
    secret = f"borgkeep-canary-{secrets.token_hex(16)}"
    lab.write_file("nas", CANARY, secret + "\n", mode=0o600)
    run_checked(lab, "nas", f"mkdir -m 0755 {CANARY_DIR} && echo {secret} > {CANARY_DIR}/inside")
    applied = operator.run("apply", "--yes", "--no-verify")
    assert applied.returncode == 0, applied.describe()
    assert operator.run("plan").returncode == 0
    owner = run_checked(lab, "nas", f"stat -c %U {REPO_ROOT} {STATE_DIR} {AUTHORIZED_KEYS}")
    assert owner.split() == [BORG_USER] * 3
    return Fleet(operator, secret, canary_state(lab))


@pytest.fixture
def attack(fleet: Fleet) -> Iterator[Fleet]:
    """After each attack: both canaries untouched, their content in no output, the fleet
    converged (the test removed the attacker's links)."""
    runs_before = len(fleet.operator.runs)
    yield fleet
    lab, operator = fleet.lab, fleet.operator
    for command in fleet.undo:
        as_borg(fleet, command)
    fleet.undo.clear()
    assert canary_state(lab) == fleet.canaries
    for result in operator.runs[runs_before:]:
        assert fleet.secret not in result.output, result.describe()
    operator.write_inventory(with_retention(lab, 7))
    applied = operator.run("apply", "--yes", "--no-verify")
    assert applied.returncode == 0, applied.describe()
    assert operator.run("plan").returncode == 0, operator.runs[-1].describe()
    assert canary_state(lab) == fleet.canaries


def as_borg(fleet: Fleet, command: str) -> str:
    """The attacker: a shell command run as the borg user on the server."""
    return run_checked(fleet.lab, "nas", command, user=BORG_USER)


def assert_refused(result: CliResult, path: str) -> None:
    """Exit 1 and one line naming host and path: on stderr, or as the JSON error object."""
    assert result.returncode == 1, result.describe()
    assert "Traceback" not in result.output, result.describe()
    if "--json" in result.args:
        assert json.loads(result.stdout) == {
            "error": f"nas: {path} {LINK_REFUSAL} — remove it and run again"
        }
        return
    assert f"nas: {path} {LINK_REFUSAL}" in result.stderr, result.describe()
    errors = [line for line in result.stderr.splitlines() if line.startswith("borgkeep:")]
    assert len(errors) == 1, result.describe()


def swap_prune_config(fleet: Fleet) -> None:
    as_borg(fleet, f"mv {PRUNE_CONFIG} {PRUNE_CONFIG}.moved && ln -s {CANARY} {PRUNE_CONFIG}")
    fleet.undo.append(f"rm {PRUNE_CONFIG} && mv {PRUNE_CONFIG}.moved {PRUNE_CONFIG}")


def plan_and_apply_refuse(fleet: Fleet, path: str) -> None:
    plan = fleet.operator.run("plan", "--json")
    assert_refused(plan, path)
    assert_refused(fleet.operator.run("apply", "--yes"), path)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        (PRUNE_CONFIG, CANARY),
        (PASSPHRASE, CANARY),
        (GUARD, CANARY),
        (STATE_DIR, CANARY_DIR),
    ],
    ids=["prune-config", "passphrase", "guard", "state-dir"],
)
def test_a_managed_file_swapped_for_a_link_is_refused(attack: Fleet, path: str, target: str):
    as_borg(attack, f"mv {path} {path}.moved && ln -s {target} {path}")
    attack.undo.append(f"rm {path} && mv {path}.moved {path}")

    plan_and_apply_refuse(attack, path)

    assert as_borg(attack, f"readlink {path}").strip() == target


@pytest.mark.parametrize(
    ("path", "target"), [(AUTHORIZED_KEYS, CANARY), (SSH_DIR, CANARY_DIR)], ids=["file", "dir"]
)
def test_authorized_keys_swapped_for_a_link_is_refused(attack: Fleet, path: str, target: str):
    as_borg(attack, f"mv {path} {path}.moved && ln -s {target} {path}")
    attack.undo.append(f"rm {path}")  # only the link goes; Borgkeep writes the keys anew

    plan_and_apply_refuse(attack, path)


def test_the_repo_root_swapped_for_a_link_is_refused(attack: Fleet):
    as_borg(attack, f"mv {REPO_ROOT} {REPO_ROOT}.moved && ln -s {CANARY_DIR} {REPO_ROOT}")
    attack.undo.append(f"rm {REPO_ROOT} && mv {REPO_ROOT}.moved {REPO_ROOT}")

    plan_and_apply_refuse(attack, REPO_ROOT)


def test_links_at_every_guessable_backup_and_temp_name_are_never_followed(attack: Fleet):
    lab, operator = attack.lab, attack.operator
    now = time.time()
    stamps = {time.strftime("%Y%m%dT%H%M%S", time.localtime(now + s)) for s in range(-5, 240)}
    names = [f"{path}.borgkeep-{stamp}.bak" for path in (PRUNE_CONFIG,) for stamp in stamps]
    names += [f"{STATE_DIR}/.borgkeep.{secrets.token_urlsafe(6)[:8]}" for _ in range(100)]
    names += [f"{PRUNE_CONFIG}.borgkeep-{stamp}-AAAAAA.bak" for stamp in stamps]
    plant = 'for n; do ln -s "$0" "$n"; done'
    lab.run("nas", ["sh", "-c", plant, CANARY, *names], user=BORG_USER, check=True)
    attack.undo.append(f"find {STATE_DIR} -maxdepth 1 -type l -delete")
    old = lab.read_file("nas", PRUNE_CONFIG)
    operator.write_inventory(with_retention(lab, 9))

    applied = operator.run("apply", "--yes", "--no-verify")

    assert applied.returncode == 0, applied.describe()
    assert b"keep_daily: 9" in lab.read_file("nas", PRUNE_CONFIG)
    listing = as_borg(attack, f"find {STATE_DIR} -maxdepth 1 -type l | sort").split()
    assert listing == sorted(names)
    assert as_borg(attack, f"find {STATE_DIR} -type l ! -lname {CANARY}") == ""
    backups = as_borg(
        attack, f"find {STATE_DIR} -maxdepth 1 -type f -name 'prune-client1.yaml.borgkeep-*'"
    ).split()
    assert len(backups) == 1, backups
    assert lab.read_file("nas", backups[0]) == old
    assert backups[0].endswith(".bak") and len(backups[0].rsplit("-", 1)[1]) == len("Xk3j9Q.bak")


def test_a_swap_between_plan_out_and_apply_planfile_is_refused(attack: Fleet):
    lab, operator = attack.lab, attack.operator
    operator.write_inventory(with_retention(lab, 9))
    plan_file = operator.workdir / "race.plan"
    assert operator.run("plan", "--out", str(plan_file)).returncode == 2

    swap_prune_config(attack)
    refused = operator.run("apply", str(plan_file))

    assert_refused(refused, PRUNE_CONFIG)
    assert attack.secret not in plan_file.read_text()


def test_a_swap_after_the_last_gather_fails_the_write_as_the_borg_user(
    attack: Fleet, monkeypatch: pytest.MonkeyPatch
):
    """The narrowest race: the link appears after apply's own gather, right before the
    write. The write runs as the borg user, finds the link and stops (the stale exit code)."""
    lab, operator = attack.lab, attack.operator
    for key, value in operator.env().items():
        monkeypatch.setenv(key, value)
    operator.write_inventory(with_retention(lab, 9))
    with FleetSession(parse_inventory(operator.inventory.read_text())) as session:
        plan = session.plan()
        assert PRUNE_CONFIG in [c.path for c in plan.for_host("nas")]
        swap_prune_config(attack)

        result = session.apply(plan)

    error = result.outcomes["nas"].error
    assert error is not None and error.stale, result.outcomes
    assert f"{PRUNE_CONFIG} {LINK_REFUSAL}" in str(error)
    assert attack.secret not in str(error)
    assert as_borg(attack, f"readlink {PRUNE_CONFIG}").strip() == CANARY
