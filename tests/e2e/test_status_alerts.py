"""Day two on the lab: `borgkeep status` from the server alone, the health job and the
guard alerting a local receiver, and a verify that fails when something is wrong.

client1 (root, borgmatic 1.7) and client2 (user, borgmatic 2) back up; client3 never does.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from tests.e2e.helpers import (
    BORG_HOME,
    BORG_USER,
    client_borg,
    crontab_commands,
    file_stamps,
    inventory_text,
    login_of,
    make_operator,
    repository_url,
    run_cron_command,
)
from wizard.lab.receiver import NotificationReceiver

pytestmark = pytest.mark.lab


def _inventory(lab, receiver: NotificationReceiver, **alerts: str) -> str:
    data = yaml.safe_load(inventory_text(lab))
    data["alerts"] = {
        "ntfy": receiver.url("/ntfy/backups"),
        "webhook": receiver.url("/hook"),
        "healthchecks": receiver.url("/hc/0c6a1e2f"),
        **alerts,
    }
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture(scope="module")
def day_two(tmp_path_factory):
    from wizard.lab import start_lab

    base = tmp_path_factory.mktemp("lab")
    lab = start_lab(
        base=base,
        clients=[("client1", "root", "1.7"), ("client2", "user", "2"), ("client3", "root", "1.7")],
    )
    receiver = NotificationReceiver().start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in lab.env().items():
                patch.setenv(key, value)
            operator = make_operator(lab, tmp_path_factory.mktemp("operator"))
            operator.write_inventory(_inventory(lab, receiver))
            applied = operator.run("apply", "--yes", "--no-verify")
            assert applied.returncode == 0, applied.describe()
            old = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S")
            made = client_borg(
                lab,
                "client1",
                f"create --timestamp {old} {repository_url(lab, 'client1')}::client1-{old} /srv/data",
            )
            assert made.returncode == 0, made.stderr
            _backup(lab, "client2")
            yield lab, operator, receiver
    finally:
        receiver.stop()
        lab.stop()


def _backup(lab, client: str) -> None:
    user = login_of(lab, client)
    (command,) = [c for c in crontab_commands(lab, client, user) if "borgmatic" in c]
    run_cron_command(lab, client, command, user)


def _accepted_logins(lab) -> dict[str, int]:
    return {
        name: (host.root_dir / "sshd.log").read_text(errors="replace").count("Accepted publickey")
        for name, host in lab.hosts.items()
    }


def _server_job(lab, words: str) -> str:
    (command,) = [c for c in crontab_commands(lab, "nas", BORG_USER) if words in c]
    return command


def test_status_reads_the_server_alone_and_names_each_clients_state(day_two):
    lab, operator, _ = day_two
    before = _accepted_logins(lab)
    result = operator.run("status", "--json")
    after = _accepted_logins(lab)
    assert {name: after[name] - before[name] for name in after} == {
        "nas": 1, "client1": 0, "client2": 0, "client3": 0
    }  # fmt: skip
    assert result.returncode == 2, result.describe()  # client3 needs attention
    report = json.loads(result.stdout)
    states = {c["name"]: c for c in report["clients"]}
    assert states["client1"]["state"] == "ok" and states["client2"]["state"] == "ok"
    assert states["client3"]["state"] == "never" and states["client3"]["archives"] == 0
    newest = states["client2"]["newest_archive"]
    assert newest["name"].startswith("client2-") and newest["time"]
    assert states["client2"]["size"] > 0 and states["client2"]["quota"]["used"] > 0
    assert states["client2"]["guard"]["last_run"]
    assert report["server"]["free"] > 0 and report["server"]["total"] >= report["server"]["free"]
    text = operator.run("status")
    assert re.search(r"\?\s+client3\s+never\s+never", text.stdout), text.stdout
    assert text.stdout.splitlines()[1].split()[1] == "client3"  # problems first


def test_a_second_status_answers_unchanged_repositories_from_the_guards_record(day_two):
    """What status read is recorded per client; with no new commit the next status gives
    the same answer without reading again (a Borg read would write the record again)."""
    lab, operator, _ = day_two
    first = json.loads(operator.run("status", "--json").stdout)
    records = [f"{BORG_HOME}/.config/borgkeep/client{n}.status.json" for n in (1, 2, 3)]
    stamps = file_stamps(lab, "nas", records)
    assert "missing" not in stamps.values(), stamps
    second = json.loads(operator.run("status", "--json").stdout)
    assert second["clients"] == first["clients"]
    assert file_stamps(lab, "nas", records) == stamps


def test_a_client_older_than_stale_after_is_stale(day_two):
    lab, operator, receiver = day_two
    operator.write_inventory(_inventory(lab, receiver, stale_after="1m"))
    assert operator.run("apply", "--yes", "--no-verify").returncode == 0
    _backup(lab, "client2")
    result = operator.run("status", "--json")
    states = {c["name"]: c["state"] for c in json.loads(result.stdout)["clients"]}
    assert states == {"client1": "stale", "client2": "ok", "client3": "never"}
    assert result.returncode == 2


def test_the_health_job_alerts_on_problems_and_exits_non_zero(day_two):
    lab, _, receiver = day_two
    receiver.take()
    health = lab.run_as_cron("nas", _server_job(lab, " health"), user=BORG_USER)
    assert health.returncode != 0
    stderr = health.stderr.decode()
    assert "client1: stale" in stderr and "client3: never" in stderr
    received = receiver.take()
    ntfy = [n.body for n in received if n.path == "/ntfy/backups"]
    assert any("client1" in body and "stale" in body for body in ntfy)
    hooks = [n.json for n in received if n.path == "/hook"]
    assert {(h["client"], h["state"]) for h in hooks} >= {
        ("client1", "stale"),
        ("client3", "never"),
    }
    assert all(h["server"] == "nas" and h["time"] for h in hooks)
    assert any(n.path == "/hc/0c6a1e2f/fail" for n in received)
    assert not any("0c6a1e2f" in line for line in stderr.splitlines()), "a URL was printed"


def test_a_guard_refusal_alerts_and_shows_as_refused(day_two):
    lab, operator, receiver = day_two
    recorded = lab.run_as_cron("nas", _server_job(lab, " prune client2 "), user=BORG_USER)
    assert recorded.returncode == 0, recorded.stderr  # the guard now knows client2's archives
    receiver.take()
    names = client_borg(lab, "client2", f"list --short {repository_url(lab, 'client2')}")
    victim = names.stdout.decode().split()[0]
    deleted = client_borg(lab, "client2", f"delete {repository_url(lab, 'client2')}::{victim}")
    assert deleted.returncode == 0, deleted.stderr
    guard = lab.run_as_cron("nas", _server_job(lab, " prune client2 "), user=BORG_USER)
    assert guard.returncode == 3, guard.stderr
    hooks = [n.json for n in receiver.take() if n.path == "/hook"]
    assert [(h["client"], h["state"]) for h in hooks] == [("client2", "refused")]
    assert victim in hooks[0]["message"]
    status = json.loads(operator.run("status", "--json").stdout)
    client2 = next(c for c in status["clients"] if c["name"] == "client2")
    assert client2["state"] == "refused"
    assert victim in client2["guard"]["last_result"]["archives"]
    verified = operator.run("verify")
    assert verified.returncode == 1
    assert "✗ nas: the guard's check for client2" in verified.stdout


def test_verify_names_a_file_edited_on_a_host_and_counts_an_unreachable_client(day_two):
    lab, operator, receiver = day_two
    config = "/etc/borgkeep/borgkeep-client1.yaml"
    original = lab.read_file("client1", config) or b""
    lab.write_file("client1", config, original + b"# edited by hand\n", mode=0o600)
    data = yaml.safe_load(_inventory(lab, receiver, stale_after="1m"))
    data["clients"].append(
        {"name": "ghost", "ssh": "root@127.0.0.1:9", "source_directories": ["/srv"]}
    )
    ghost_inventory = operator.workdir / "with-ghost.yaml"
    ghost_inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        # One verify proves both: client2's guard still refuses (the test above), so a
        # verify without the ghost could not show that the drift alone fails it either.
        with_ghost = operator.run("verify", inventory=ghost_inventory)
        assert with_ghost.returncode == 1
        assert f"✗ client1: no drift from the plan — drift: update {config}" in with_ghost.stdout
        assert "✗ ghost: reachable over SSH" in with_ghost.stdout
        assert re.search(r"SOME PROOFS FAILED: \d+ of \d+ passed", with_ghost.stdout)
    finally:
        lab.write_file("client1", config, original, mode=0o600)


def test_once_everything_is_fixed_the_health_job_is_quiet(day_two):
    lab, operator, receiver = day_two
    operator.write_inventory(_inventory(lab, receiver))
    assert operator.run("apply", "--yes", "--no-verify").returncode == 0
    assert (
        lab.run_as_cron(
            "nas",
            _server_job(lab, " prune client2 ").replace(" prune ", " acknowledge "),
            user=BORG_USER,
        ).returncode
        == 0
    )
    for client in ("client1", "client2", "client3"):
        _backup(lab, client)
    time.sleep(1)
    receiver.take()
    health = lab.run_as_cron("nas", _server_job(lab, " health"), user=BORG_USER)
    assert health.returncode == 0, health.stderr
    received = receiver.take()
    assert [n.path for n in received] == ["/hc/0c6a1e2f"]  # only Healthchecks' all-clear
    assert operator.run("status").returncode == 0
    assert operator.run("verify").returncode == 0
