"""Issue 21, discovery: a client that already backs up with borgmatic (a config in
/etc/borgmatic.d with its own retention, a bare `borgmatic` in root's crontab) is shown by
`borgkeep plan`, read-only, when the inventory starts a new repository beside it
(`repository:` at Borgkeep's default): `plan --json` under `existing`, the text with its
section. Borgkeep's own config goes to /etc/borgkeep, where the bare job does not load it,
so that job gets no warning. Nothing is written. (Without `repository:` the plan refuses and names the choice: test_takeover.)"""

from __future__ import annotations

import json

import pytest
import yaml

from wizard.lab import Lab

from .helpers import (  # noqa: F401  (root_required is an autouse fixture)
    BORG_USER,
    REPO_ROOT,
    inventory_text,
    make_operator,
    root_required,
    run_checked,
)

pytestmark = pytest.mark.lab

SECTIONED = """\
location:
    source_directories: [/etc]
    repositories:
        - {url}
storage:
    encryption_passphrase: SECRETVALUE
retention:
    keep_daily: 5
    keep_weekly: 2
"""
FLAT = """\
source_directories: [/etc]
repositories:
    - path: {url}
      label: old
encryption_passphrase: SECRETVALUE
keep_daily: 5
keep_weekly: 2
"""


def test_plan_shows_an_existing_borgmatic_setup_and_keeps_borgkeeps_config_from_its_bare_job(
    lab: Lab, tmp_path
):
    client = lab.hosts["client1"]
    assert client.login_user == "root"
    url = f"ssh://{BORG_USER}@127.0.0.1:{lab.server.port}{REPO_ROOT}/old-client1"
    config = (FLAT if client.borgmatic_version == "2" else SECTIONED).format(url=url)
    lab.run("client1", "mkdir -p /etc/borgmatic.d", check=True)
    lab.run("client1", "cat > /etc/borgmatic.d/home.yaml", input=config, check=True)
    lab.run("client1", "crontab -", input="0 3 * * * borgmatic\n", check=True)
    operator = make_operator(lab, tmp_path / "operator")
    data = yaml.safe_load(inventory_text(lab, clients=["client1"]))
    data["clients"][0]["repository"] = f"{REPO_ROOT}/client1"  # a new one beside it
    operator.write_inventory(yaml.safe_dump(data, sort_keys=False))

    planned = operator.run("plan", "--json")
    assert planned.returncode == 2, planned.describe()
    data = json.loads(planned.stdout)
    found = data["existing"]["client1"]
    assert found["found"] is True
    assert found["summary"].startswith(
        f"existing Borg setup: repository nas:{REPO_ROOT}/old-client1, passphrase in config"
    )
    assert "client-side prune" in found["summary"]
    (home,) = found["configs"]["configs"]
    assert home["path"] == "/etc/borgmatic.d/home.yaml"
    assert home["retention"] == {"keep_daily": 5, "keep_weekly": 2}
    assert [job["source"] for job in found["jobs"]] == ["crontab of root"]
    assert not [w for w in data["warnings"] if "runs `borgmatic`" in w]
    configs = [
        c for c in data["changes"] if (c.get("path") or "").endswith("/borgkeep-client1.yaml")
    ]
    assert [c["path"] for c in configs] == ["/etc/borgkeep/borgkeep-client1.yaml"]

    text = operator.run("plan")
    assert text.returncode == 2, text.describe()
    assert "existing Borg setup found (read-only: this plan changes none of it):" in text.stdout
    assert "config /etc/borgmatic.d/home.yaml (retention: keep_daily 5, keep_weekly 2)" in (
        text.stdout
    )
    assert "runs `borgmatic`" not in text.stdout
    for output in (planned.output, text.output):
        assert "SECRETVALUE" not in output
    assert run_checked(lab, "client1", "ls /etc/borgmatic.d").split() == ["home.yaml"]
