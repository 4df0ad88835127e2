"""A non-root server login with passwordless sudo manages a separate borg account through
`sudo -n`; without sudo the same inventory is refused with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from wizard.lab import start_lab

pytestmark = pytest.mark.lab


@pytest.fixture
def sudo_lab():
    if os.geteuid() != 0:
        pytest.skip("the local lab needs root")
    base = Path(tempfile.mkdtemp(prefix="borgkeep-lab-sudo-", dir="/var/tmp"))
    lab = start_lab(base=base, clients=[("client1", "root", "1.7")], server_login="user")
    try:
        yield lab
    finally:
        lab.stop()


def _cli(env, inventory, *args):
    return subprocess.run(
        [sys.executable, "-m", "wizard.cli", "--inventory", str(inventory), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_sudo_login_sets_up_the_borg_account(sudo_lab, tmp_path):
    lab = sudo_lab
    assert lab.server.login_user == "bk-nas"
    env = {
        **os.environ,
        **lab.env(),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "BORGKEEP_SECRETS": "file",
    }
    data = yaml.safe_load(lab.inventory_yaml())
    data["server"]["borg_user"] = "borg"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))

    applied = _cli(env, inventory, "apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "all proofs passed" in applied.stdout
    owner = lab.run(
        "nas", "stat -c '%U %a' /home/borg/.ssh/authorized_keys /srv/backups", check=True
    )
    assert owner.stdout.decode().split("\n")[:2] == ["borg 600", "borg 700"]
    crontab = lab.run("nas", ["crontab", "-l", "-u", "borg"], check=True).stdout.decode()
    assert "prune-guard client1" in crontab
    assert lab.run("nas", ["crontab", "-l"], user="bk-nas").returncode != 0  # not the login's
    assert _cli(env, inventory, "plan").returncode == 0

    lab.run("nas", "rm /etc/sudoers.d/borgkeep-lab", check=True)
    data["server"]["borg_user"] = "borg2"
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    refused = _cli(env, inventory, "plan")
    assert refused.returncode == 1
    assert "passwordless sudo" in refused.stderr and "borg2" in refused.stderr
