"""A non-root server login with passwordless sudo manages a separate borg account through
`sudo -n`; without sudo the same inventory is refused with a clear message."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.e2e.helpers import make_operator
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


def test_sudo_login_sets_up_the_borg_account(sudo_lab, tmp_path):
    lab = sudo_lab
    assert lab.server.login_user == "bk-nas"
    operator = make_operator(lab, tmp_path)
    data = yaml.safe_load(lab.inventory_yaml())
    data["server"]["borg_user"] = "borg"
    operator.write_inventory(yaml.safe_dump(data, sort_keys=False))

    applied = operator.run("apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "all proofs passed" in applied.stdout
    owner = lab.run(
        "nas", "stat -c '%U %a' /home/borg/.ssh/authorized_keys /srv/backups", check=True
    )
    assert owner.stdout.decode().split("\n")[:2] == ["borg 600", "borg 700"]
    crontab = lab.run("nas", ["crontab", "-l", "-u", "borg"], check=True).stdout.decode()
    assert "guard.py prune client1" in crontab
    assert lab.run("nas", ["crontab", "-l"], user="bk-nas").returncode != 0  # not the login's
    assert operator.run("plan").returncode == 0

    lab.run("nas", "rm /etc/sudoers.d/borgkeep-lab", check=True)
    data["server"]["borg_user"] = "borg2"
    operator.write_inventory(yaml.safe_dump(data, sort_keys=False))
    refused = operator.run("plan")
    assert refused.returncode == 1
    assert "passwordless sudo" in refused.stderr and "borg2" in refused.stderr
