"""Issue 21, edge cases of a takeover, on one lab:
- a repository whose key lives with the client (keyfile) is refused, saying why and how to
  start a new one beside it; nothing is written;
- a repository whose passphrase is not in its old config (an `encryption_passcommand`) is
  refused until `borgkeep passphrase CLIENT` stores it (from stdin, never argv); then the
  takeover applies, keeps the archives, and the secret shows in no output;
- a config that backs up to the server and to a local repository is edited, not retired:
  only its entry for the server goes, its bare `borgmatic` job keeps backing up to the
  local one (and no longer finds Borgkeep's config, which lives in /etc/borgkeep)."""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys

import pytest
import yaml

from wizard.lab import Lab

from .helpers import (  # noqa: F401  (root_required is an autouse fixture)
    BORG_HOME,
    BORG_USER,
    REPO_ROOT,
    crontab_commands,
    crontab_text,
    inventory_text,
    make_operator,
    root_required,
    run_checked,
    run_cron_command,
)

pytestmark = pytest.mark.lab

OLD_ROOT = "/srv/old"
SECRET = "passcommand-secret-Zx81"


def prepare_server(lab: Lab, clients: dict[str, str]) -> None:
    """The borg account with a read-write line per client key (`clients`: name -> login)."""
    run_checked(
        lab,
        "nas",
        f"useradd --create-home --home-dir {BORG_HOME} --shell /bin/sh {BORG_USER}; "
        f"usermod -p '*' {BORG_USER}; install -d -o {BORG_USER} -m 700 {OLD_ROOT} "
        f"{BORG_HOME}/.ssh",
    )
    lines = []
    for client, user in clients.items():
        home = lab.hosts[client].home
        run_checked(
            lab,
            client,
            f"mkdir -p {home}/.ssh && ssh-keygen -q -t ed25519 -N '' -f {home}/.ssh/id_ed25519 "
            f"&& echo {shlex.quote(lab.host_key_line('nas'))} >> {home}/.ssh/known_hosts",
            user=user,
        )
        public = run_checked(lab, client, f"cat {home}/.ssh/id_ed25519.pub", user=user).strip()
        lines.append(f'command="borg serve --restrict-to-path {OLD_ROOT}/{client}" {public}')
    keys = f"{BORG_HOME}/.ssh/authorized_keys"
    lab.run("nas", f"cat > {keys}", input="\n".join(lines) + "\n", check=True)
    run_checked(lab, "nas", f"chown {BORG_USER}: {keys} && chmod 600 {keys}")


def inventory_for(lab: Lab, client: str) -> str:
    data = yaml.safe_load(inventory_text(lab, clients=[client]))
    data["clients"][0]["repository"] = f"{OLD_ROOT}/{client}"
    return yaml.safe_dump(data, sort_keys=False)


def test_keyfile_is_refused_and_a_passcommand_passphrase_is_given_on_stdin(lab: Lab, tmp_path):
    prepare_server(lab, {"client1": "root", "client2": "bk-client2"})
    url = f"ssh://{BORG_USER}@127.0.0.1:{lab.server.port}{OLD_ROOT}"
    # client2: a keyfile repository (borgmatic 2, flat)
    user2, home2 = "bk-client2", lab.hosts["client2"].home
    borgmatic2 = lab.hosts["client2"].borgmatic_path
    config2 = (
        f"source_directories: [{home2}]\nrepositories:\n    - path: {url}/client2\n"
        "encryption_passphrase: keyfile-secret\n"
    )
    lab.run(
        "client2",
        f"mkdir -p {home2}/.config/borgmatic.d && cat > {home2}/.config/borgmatic.d/k.yaml",
        user=user2,
        input=config2,
        check=True,
    )
    run_checked(lab, "client2", f"{borgmatic2} repo-create -e keyfile-blake2", user=user2)
    operator = make_operator(lab, tmp_path / "operator")
    operator.write_inventory(inventory_for(lab, "client2"))
    refused = operator.run("plan")
    assert refused.returncode == 1, refused.describe()
    assert f"cannot take over {OLD_ROOT}/client2: its key is not in the repository" in (
        refused.stderr
    )
    assert f"`repository: {REPO_ROOT}/client2`" in refused.stderr

    # The operator keeps client2 out of Borgkeep: its read-write line goes by hand (verify
    # fails while any key can delete archives, whoever's it is).
    run_checked(lab, "nas", f"sed -i '/bk-client2@/d' {BORG_HOME}/.ssh/authorized_keys")

    # client1: the passphrase comes from a passcommand (borgmatic 1.7, sections)
    run_checked(lab, "client1", f"echo {SECRET} > /root/.borg-pass && chmod 600 /root/.borg-pass")
    config1 = (
        "location:\n    source_directories: [/srv/data]\n"
        f"    repositories: ['{url}/client1']\n"
        "storage:\n    encryption_passcommand: cat /root/.borg-pass\n"
        "retention:\n    keep_daily: 3\n"
    )
    lab.run("client1", "mkdir -p /etc/borgmatic.d", check=True)
    lab.run("client1", "cat > /etc/borgmatic.d/old.yaml", input=config1, check=True)
    run_checked(lab, "client1", "borgmatic init --encryption repokey-blake2")
    run_checked(lab, "client1", "borgmatic create")
    lab.run("client1", "crontab -", input="15 2 * * * borgmatic\n", check=True)
    cron_d = "MAILTO=root\n0 4 * * 0 root borgmatic -c /etc/borgmatic.d/old.yaml check\n"
    lab.run("client1", "cat > /etc/cron.d/old-backup", input=cron_d, check=True)
    before = run_checked(
        lab,
        "nas",
        f"BORG_PASSPHRASE={SECRET} borg list --short {OLD_ROOT}/client1",
        user=BORG_USER,
    ).split()
    assert len(before) == 1
    operator.write_inventory(inventory_for(lab, "client1"))
    refused = operator.run("plan")
    assert refused.returncode == 1, refused.describe()
    assert "its old config holds no passphrase" in refused.stderr
    assert "`borgkeep passphrase client1`" in refused.stderr

    wrong = _store_passphrase(operator, "client1", "not-the-passphrase\n")
    assert wrong.returncode == 0, wrong.stderr
    still = operator.run("plan")
    assert still.returncode == 1 and "borgkeep passphrase client1" in still.stderr
    stored = _store_passphrase(operator, "client1", SECRET + "\n")
    assert stored.returncode == 0, stored.stderr
    assert "stored the passphrase of client1's repository" in stored.stdout
    assert _store_passphrase(operator, "nobody", "x\n").returncode == 1

    planned = operator.run("plan", "--json")
    assert planned.returncode == 2, planned.describe()
    takeover = json.loads(planned.stdout)["takeover"]["client1"]
    assert takeover["retire_configs"] == ["/etc/borgmatic.d/old.yaml"]
    assert "/etc/cron.d/old-backup, line 2" in " ".join(takeover["retire_jobs"])
    assert takeover["jobs_left_running"] == []
    assert takeover["passphrase"] is None  # not from the config: the store's
    assert takeover["archives"]["count"] == 1  # read on the server before anything is written
    assert takeover["archives"]["newest"] == before[0]
    applied = operator.run("apply", "--yes")
    assert applied.returncode == 0, applied.describe()
    assert crontab_text(lab, "client1", "root").startswith("# borgkeep took over: 15 2 * * *")
    # the root login's /etc/cron.d job that ran the old config: commented out in place
    assert (
        lab.read_file("client1", "/etc/cron.d/old-backup")
        == cron_d.replace("0 4", "# borgkeep took over: 0 4").encode()
    )
    assert run_checked(lab, "client1", "stat -c '%a %U' /etc/cron.d/old-backup") == "644 root\n"
    assert run_checked(lab, "client1", "ls -A /etc/cron.d /etc").count(".borgkeep-edit") == 0
    (command,) = crontab_commands(lab, "client1", "root")
    run_cron_command(lab, "client1", command, "root")
    after = run_checked(
        lab,
        "nas",
        f"BORG_PASSPHRASE={SECRET} borg list --short {OLD_ROOT}/client1",
        user=BORG_USER,
    ).split()
    assert set(before) < set(after)
    again = operator.run("plan")
    assert again.returncode == 0, again.describe()
    outputs = "".join(run.output for run in operator.runs) + stored.stdout + stored.stderr
    assert SECRET not in outputs
    assert operator.passphrases()["passphrase:nas/client1"] == SECRET


SECRET2 = "two-repositories-secret-Qm4"
LOCAL = "/srv/local-repo"  # the lab host's own /srv (its /var is the machine's)


def test_a_config_with_two_repositories_keeps_backing_up_to_the_other(lab: Lab, tmp_path):
    prepare_server(lab, {"client1": "root"})
    url = f"ssh://{BORG_USER}@127.0.0.1:{lab.server.port}{OLD_ROOT}/client1"
    config = (
        "location:\n    source_directories: [/srv/data]\n    repositories:\n"
        f"        - {url}\n        - {LOCAL}\n"
        f"storage:\n    encryption_passphrase: {SECRET2}\n"
        "    archive_name_format: 'client1-{now:%Y-%m-%dT%H:%M:%S.%f}'\n"
        "retention:\n    keep_daily: 3\n"
    )
    lab.run("client1", "mkdir -p /etc/borgmatic.d", check=True)
    lab.run("client1", "cat > /etc/borgmatic.d/all.yaml", input=config, check=True)
    run_checked(lab, "client1", "borgmatic init --encryption repokey-blake2")
    run_checked(lab, "client1", "borgmatic create")
    lab.run("client1", "crontab -", input="15 2 * * * borgmatic\n", check=True)

    def archives_in(host: str, repository: str, user: str = "root") -> list[str]:
        listed = f"BORG_PASSPHRASE={SECRET2} borg list --short {repository}"
        return run_checked(lab, host, listed, user=user).split()

    assert len(archives_in("client1", LOCAL)) == 1
    server_before = archives_in("nas", f"{OLD_ROOT}/client1", BORG_USER)
    assert len(server_before) == 1
    operator = make_operator(lab, tmp_path / "operator")
    operator.write_inventory(inventory_for(lab, "client1"))

    planned = operator.run("plan", "--json")
    assert planned.returncode == 2, planned.describe()
    takeover = json.loads(planned.stdout)["takeover"]["client1"]
    assert takeover["archives"]["count"] == 1
    assert takeover["retire_configs"] == [] and takeover["retire_jobs"] == []
    # the config holds its passphrase: no hash of it in a plan file (a fast guessing oracle)
    saved = operator.workdir / "takeover.plan"
    assert operator.run("plan", "--out", str(saved)).returncode == 2
    assert hashlib.sha256(config.encode()).hexdigest() not in saved.read_text()
    assert '"edit-config"' in saved.read_text()
    assert takeover["edit_configs"] == [
        {"path": "/etc/borgmatic.d/all.yaml", "lines": [4], "keeps": [LOCAL]}
    ]
    applied = operator.run("apply", "--yes")
    assert applied.returncode == 0, applied.describe()

    edited = (lab.read_file("client1", "/etc/borgmatic.d/all.yaml") or b"").decode()
    assert edited.splitlines()[3] == f"# borgkeep took over:         - {url}"
    original = lab.read_file("client1", "/etc/borgmatic.d/all.yaml.borgkeep-taken-over")
    assert original == config.encode()
    assert crontab_text(lab, "client1", "root").startswith("15 2 * * * borgmatic\n")
    assert run_checked(lab, "client1", "ls /etc/borgmatic.d").split() == [
        "all.yaml",
        "all.yaml.borgkeep-taken-over",
    ]
    # the bare job, as cron runs it: the local repository only (create, prune, compact,
    # check all succeed: Borgkeep's append-only config is not among what it loads)
    run_cron_command(lab, "client1", "borgmatic", "root")
    assert len(archives_in("client1", LOCAL)) == 2
    assert archives_in("nas", f"{OLD_ROOT}/client1", BORG_USER) == server_before
    bare, command = crontab_commands(lab, "client1", "root")  # theirs, then Borgkeep's
    assert bare == "borgmatic" and "/etc/borgkeep/borgkeep-client1.yaml" in command
    run_cron_command(lab, "client1", command, "root")
    server_after = archives_in("nas", f"{OLD_ROOT}/client1", BORG_USER)
    assert set(server_before) < set(server_after)
    again = operator.run("plan")
    assert again.returncode == 0, again.describe()
    assert "taken over earlier" in again.stdout
    assert SECRET2 not in "".join(run.output for run in operator.runs)


def _store_passphrase(operator, client: str, text: str) -> subprocess.CompletedProcess:
    """`borgkeep passphrase CLIENT` with the passphrase on stdin (never on the command line)."""
    argv = [sys.executable, "-m", "screens.launcher", "--inventory", str(operator.inventory)]
    return subprocess.run(
        [*argv, "passphrase", client],
        env=operator.env(),
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=operator.workdir,
    )
