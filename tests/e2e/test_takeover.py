"""Issue 21: taking over a fleet that already backs up with Borg, built by hand the way
the manual procedure starts.

- client1 (root, borgmatic 1.7): `/etc/borgmatic.d/home.yaml` in sections, with an
  `<<: !include` of a shared file that holds the retention, a before_backup hook;
- client2 (a user login, borgmatic 2): `~/.config/borgmatic.d/main.yaml`, flat, with a
  labelled repository;
- each client's default key may run `borg serve --restrict-to-path` (read-write) on the
  server; the repositories lie under /srv/old, outside Borgkeep's repo_root, and already
  hold archives; each login's crontab runs bare `borgmatic`.

Then plan -> apply -> each client's cron lines as cron runs them -> the server's guard job:
every archive from before is still there, the new backups land in the same repository, no
read-write line is left and the old key cannot delete (proven on disk), the guard exits 0,
verify passes, a second plan is empty, and no passphrase shows anywhere but the store.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from wizard.lab import Lab, start_lab

from .helpers import (  # noqa: F401  (root_required is an autouse fixture)
    BORG_HOME,
    BORG_USER,
    REPO_ROOT,
    Operator,
    crontab_commands,
    crontab_text,
    files_containing,
    inventory_text,
    make_operator,
    root_required,
    run_checked,
    run_cron_command,
)

pytestmark = pytest.mark.lab

OLD_ROOT = "/srv/old"
SECRETS = {"client1": "old-secret-of-client1-Vq8z", "client2": "old-secret-of-client2-Lm3k"}
LOGINS = {"client1": "root", "client2": "bk-client2"}
HOMES = {"client1": "/root", "client2": "/home/bk-client2"}
RETENTION = {"keep_within": "30d", "keep_daily": 7}

COMMON_17 = """\
retention:
    keep_daily: 3
    keep_weekly: 2
consistency:
    checks:
        - repository
"""
HOME_17 = """\
<<: !include /etc/borgmatic/common.yaml
location:
    source_directories:
        - /srv/data
    repositories:
        - {url}
    exclude_caches: true
storage:
    encryption_passphrase: {secret}
    archive_name_format: 'client1-{{now:%Y-%m-%dT%H:%M:%S.%f}}'
    compression: lz4
hooks:
    before_backup:
        - echo carried >> /var/tmp/old-hook-ran
"""
MAIN_2 = """\
source_directories:
    - {home}/data
repositories:
    - path: {url}
      label: nas
encryption_passphrase: {secret}
archive_name_format: 'client2-{{now:%Y-%m-%dT%H:%M:%S.%f}}'
keep_daily: 5
compression: zstd
"""


def old_url(lab: Lab, client: str) -> str:
    return f"ssh://{BORG_USER}@127.0.0.1:{lab.server.port}{OLD_ROOT}/{client}"


def old_borg(lab: Lab, client: str, args: str) -> str:
    """borg on the client with its OLD default key and passphrase (what the user ran)."""
    env = f"BORG_PASSPHRASE={shlex.quote(SECRETS[client])} BORG_RSH='ssh -o BatchMode=yes'"
    result = lab.run(client, f"{env} borg {args}", user=LOGINS[client])
    return result


def server_archives(lab: Lab, client: str) -> list[str]:
    """Archive names as the borg user sees them on disk, with the old passphrase."""
    command = (
        f"BORG_PASSPHRASE={shlex.quote(SECRETS[client])} borg list --short {OLD_ROOT}/{client}"
    )
    return run_checked(lab, lab.server.name, command, user=BORG_USER).split()


def build_old_fleet(lab: Lab) -> None:
    """The fleet as a user who followed the manual procedure has it."""
    run_checked(
        lab,
        "nas",
        f"id {BORG_USER} >/dev/null 2>&1 || useradd --create-home --home-dir {BORG_HOME} "
        f"--shell /bin/sh {BORG_USER}; usermod -p '*' {BORG_USER}; install -d -o {BORG_USER} -m 700 {OLD_ROOT} "
        f"{BORG_HOME}/.ssh; touch {BORG_HOME}/.ssh/authorized_keys; "
        f"chown {BORG_USER}: {BORG_HOME}/.ssh/authorized_keys; "
        f"chmod 600 {BORG_HOME}/.ssh/authorized_keys",
    )
    lines = ["# the backup clients (set up by hand)"]
    for client, user in LOGINS.items():
        home = HOMES[client]
        run_checked(
            lab,
            client,
            f"mkdir -p {home}/.ssh && chmod 700 {home}/.ssh && "
            f"ssh-keygen -q -t ed25519 -N '' -C {user}@{client} -f {home}/.ssh/id_ed25519 && "
            f"echo {shlex.quote(lab.host_key_line('nas'))} >> {home}/.ssh/known_hosts",
            user=user,
        )
        public = run_checked(lab, client, f"cat {home}/.ssh/id_ed25519.pub", user=user).strip()
        lines.append(
            f'command="borg serve --restrict-to-path {OLD_ROOT}/{client}",restrict {public}'
        )
    lab.run(
        "nas",
        f"cat >> {BORG_HOME}/.ssh/authorized_keys",
        input="\n".join(lines) + "\n",
        check=True,
    )
    # client1: borgmatic 1.7, sections and an include
    lab.run("client1", "mkdir -p /etc/borgmatic /etc/borgmatic.d", check=True)
    lab.run("client1", "cat > /etc/borgmatic/common.yaml", input=COMMON_17, check=True)
    config = HOME_17.format(url=old_url(lab, "client1"), secret=SECRETS["client1"])
    lab.run("client1", "cat > /etc/borgmatic.d/home.yaml", input=config, check=True)
    run_checked(lab, "client1", "validate-borgmatic-config -c /etc/borgmatic.d/home.yaml")
    # client2: borgmatic 2, flat, a labelled repository
    user2, home2 = LOGINS["client2"], HOMES["client2"]
    config = MAIN_2.format(url=old_url(lab, "client2"), secret=SECRETS["client2"], home=home2)
    lab.run(
        "client2",
        f"mkdir -p {home2}/.config/borgmatic.d {home2}/data && echo hello > {home2}/data/a && "
        f"cat > {home2}/.config/borgmatic.d/main.yaml",
        user=user2,
        input=config,
        check=True,
    )
    borgmatic2 = lab.hosts["client2"].borgmatic_path
    run_checked(lab, "client2", f"{borgmatic2} config validate", user=user2)
    # The repositories, and archives made before the takeover
    run_checked(lab, "client1", "borgmatic init --encryption repokey-blake2")
    run_checked(lab, "client2", f"{borgmatic2} repo-create -e repokey-blake2", user=user2)
    for _ in range(2):
        run_checked(lab, "client1", "borgmatic create")
        run_checked(lab, "client2", f"{borgmatic2} create", user=user2)
    lab.run("client1", "crontab -", input="0 3 * * * borgmatic\n", check=True)
    lab.run(
        "client2",
        f"crontab -u {user2} -",
        input=f"MAILTO=''\n30 3 * * * {borgmatic2} --verbosity 0\n",
        check=True,
    )


@dataclass
class Scenario:
    lab: Lab
    operator: Operator
    before: dict[str, list[str]]
    planned_json: dict
    planned_text: str
    applied: str


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    lab = start_lab()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in lab.env().items():
                patch.setenv(key, value)
            build_old_fleet(lab)
            before = {client: server_archives(lab, client) for client in LOGINS}
            operator = make_operator(lab, tmp_path_factory.mktemp("takeover") / "operator")
            data = yaml.safe_load(inventory_text(lab, retention=RETENTION))
            refused = make_refusal_check(operator, data)
            for client in data["clients"]:
                client["repository"] = f"{OLD_ROOT}/{client['name']}"
            operator.write_inventory(yaml.safe_dump(data, sort_keys=False))
            planned = operator.run("plan", "--json")
            assert planned.returncode == 2, planned.describe()
            text = operator.run("plan")
            assert text.returncode == 2, text.describe()
            applied = operator.run("apply", "--yes")
            assert applied.returncode == 0, applied.describe()
            yield Scenario(
                lab,
                operator,
                before,
                json.loads(planned.stdout),
                text.stdout,
                applied.output + refused,
            )
    finally:
        lab.stop()


def make_refusal_check(operator: Operator, data: dict) -> str:
    """Without `repository:`, the plan refuses and names the choice; nothing is written."""
    operator.write_inventory(yaml.safe_dump(data, sort_keys=False))
    refused = operator.run("plan")
    assert refused.returncode == 1, refused.describe()
    assert f"client1: already backs up to nas:{OLD_ROOT}/client1" in refused.output
    assert f"`repository: {OLD_ROOT}/client1` takes it over" in refused.output
    assert f"`repository: {REPO_ROOT}/client1` starts a new repository" in refused.output
    return refused.output


def test_the_plan_shows_the_takeover_and_its_diffs(scenario: Scenario) -> None:
    takeover = scenario.planned_json["takeover"]
    assert set(takeover) == {"client1", "client2"}
    one = takeover["client1"]
    assert one["repository"] == f"{OLD_ROOT}/client1"
    assert one["retire_configs"] == ["/etc/borgmatic.d/home.yaml"]
    assert one["archive_prefix"] == "client1-"
    assert one["passphrase"] == "taken over from client1's /etc/borgmatic.d/home.yaml"
    assert [line["access"] for line in one["remove_key_lines"]] == ["read-write"]
    assert len(one["retire_jobs"]) == 1 and "crontab of root, line 1" in one["retire_jobs"][0]
    two = takeover["client2"]
    assert two["retire_configs"] == [f"{HOMES['client2']}/.config/borgmatic.d/main.yaml"]
    keys = [
        c
        for c in scenario.planned_json["changes"]
        if (c["path"] or "").endswith("/authorized_keys")
    ]
    (diff,) = [c["diff"] for c in keys]
    assert f'-command="borg serve --restrict-to-path {OLD_ROOT}/client1",restrict' in diff
    assert f"--restrict-to-repository {OLD_ROOT}/client1" in diff
    assert "--append-only" in diff
    text = scenario.planned_text
    assert "takeover of client1's existing setup:" in text
    assert f"take over the repository {OLD_ROOT}/client1 with every archive in it" in text
    assert "retire /etc/borgmatic.d/home.yaml" in text
    assert "-0 3 * * * borgmatic" in text and "+# borgkeep took over: 0 3 * * * borgmatic" in text


def test_no_read_write_line_is_left_and_the_old_key_cannot_delete(scenario: Scenario) -> None:
    lab = scenario.lab
    keys = run_checked(lab, "nas", f"cat {BORG_HOME}/.ssh/authorized_keys")
    lines = [line for line in keys.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 2 and all("borg serve --append-only" in line for line in lines), keys
    assert "restrict-to-path" not in "\n".join(lines)
    assert keys.count("# borgkeep took over, removed: read-write borg serve line") == 2
    for client in LOGINS:  # nothing of the user's goes without a copy
        copy = run_checked(
            lab, "nas", f"cat {BORG_HOME}/.ssh/authorized_keys.borgkeep-taken-over-{client}"
        )
        assert f'command="borg serve --restrict-to-path {OLD_ROOT}/{client}",restrict' in copy
    for client in LOGINS:
        victim = scenario.before[client][0]
        attempt = old_borg(lab, client, f"delete {old_url(lab, client)}::{victim}")
        assert attempt.returncode != 0
        assert victim in server_archives(lab, client)  # on disk, read by the borg user


def test_old_configs_and_jobs_are_retired_not_deleted(scenario: Scenario) -> None:
    lab = scenario.lab
    listing = run_checked(lab, "client1", "ls /etc/borgmatic.d").split()
    assert "home.yaml" not in listing and "home.yaml.borgkeep-taken-over" in listing
    assert "SECRET" not in listing
    assert crontab_text(lab, "client1", "root").startswith(
        "# borgkeep took over: 0 3 * * * borgmatic\n"
    )
    user2 = LOGINS["client2"]
    assert "# borgkeep took over: 30 3 * * *" in crontab_text(lab, "client2", user2)
    # The include shared by the old config stays where it was.
    assert run_checked(lab, "client1", "cat /etc/borgmatic/common.yaml") == COMMON_17


def test_cron_backups_land_in_the_same_repository_with_everything_kept(
    scenario: Scenario,
) -> None:
    lab = scenario.lab
    hooks_before = run_checked(lab, "client1", "cat /var/tmp/old-hook-ran").split()
    for client, user in LOGINS.items():
        (command,) = crontab_commands(lab, client, user)
        assert "borgkeep" in command
        run_cron_command(lab, client, command, user)
        now = server_archives(lab, client)
        assert set(scenario.before[client]) < set(now), (client, now)
        assert all(name.startswith(f"{client}-") for name in now)
    # The old config's hook was carried into Borgkeep's config, and ran once more.
    hooks = run_checked(lab, "client1", "cat /var/tmp/old-hook-ran").split()
    assert hooks == [*hooks_before, "carried"]


def test_the_guard_job_prunes_the_history_with_the_server_retention(scenario: Scenario) -> None:
    lab = scenario.lab
    commands = crontab_commands(lab, "nas", BORG_USER)
    for client in LOGINS:
        (command,) = [c for c in commands if f" prune {client} " in c]
        run_cron_command(lab, "nas", command, BORG_USER)
        kept = server_archives(lab, client)
        assert set(scenario.before[client]) <= set(kept)  # keep_within 30d keeps them all


def test_verify_passes_and_a_second_plan_is_empty(scenario: Scenario) -> None:
    operator = scenario.operator
    verified = operator.run("verify")
    assert verified.returncode == 0, verified.describe()
    again = operator.run("plan")
    assert again.returncode == 0, again.describe()
    assert "Nothing to change" in again.stdout


def test_no_passphrase_outside_the_secrets_store(scenario: Scenario) -> None:
    operator = scenario.operator
    outputs = "".join(run.output for run in operator.runs) + scenario.applied
    for secret in SECRETS.values():
        assert secret not in outputs
        leaks = files_containing(operator.workdir, secret, skip={operator.secrets_file})
        assert leaks == []
    stored = operator.passphrases()
    assert stored == {f"passphrase:nas/{c}": SECRETS[c] for c in LOGINS}
    assert Path(operator.secrets_file).stat().st_mode & 0o077 == 0
