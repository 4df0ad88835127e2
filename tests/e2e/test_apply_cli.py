"""`borgkeep plan` / `apply` / `verify` end to end on one lab, as an operator would use them.

The tests build on each other in file order (one module lab): first plan, first apply,
backups from the installed cron lines, an idempotent rerun, server-side pruning, adding a
client, and finally a check that no passphrase leaked to the operator's side.
"""

from __future__ import annotations

import configparser
import json
from datetime import datetime
from pathlib import Path

import pytest

from wizard.lab import Lab

from .helpers import (  # noqa: F401  (root_required is an autouse fixture)
    BORG_HOME,
    BORG_USER,
    REPO_ROOT,
    Operator,
    archives,
    client_borg,
    crontab_commands,
    crontab_text,
    files_containing,
    files_not_owned_by_borg,
    fleet_stamps,
    inventory_text,
    login_of,
    make_operator,
    random_ed25519_public_key,
    repository_url,
    root_required,
    run_checked,
    run_cron_command,
)

pytestmark = pytest.mark.lab

CLIENTS = ["client1", "client2"]
RETENTION = {"keep_daily": 3}
AUTHORIZED_KEYS = f"{BORG_HOME}/.ssh/authorized_keys"
BACKDATED_DAYS = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]


def append_only_line(client: str) -> str:
    return f'command="/usr/bin/borg serve --append-only --restrict-to-repository {REPO_ROOT}/{client}",restrict'


def foreign_authorized_keys(workdir: Path) -> bytes:
    """Lines the server's owner wrote: a comment, options, CRLF, and no final newline."""
    keys = [random_ed25519_public_key(workdir) for _ in range(3)]
    return (
        b"# the admin's own keys; borgkeep must not touch these\n"
        + f'from="10.0.0.0/8",no-pty,no-port-forwarding {keys[0]} admin@laptop\n'.encode()
        + f"{keys[1]} windows-admin\r\n".encode()
        + b"\n"
        + f"{keys[2]} last-line-without-newline".encode()
    )


def strip_managed_block(text: bytes) -> bytes:
    """The bytes outside borgkeep's block (its marker lines included in the block)."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if b">>> borgkeep managed block" in line)
    end = next(i for i, line in enumerate(lines) if b"<<< borgkeep managed block" in line)
    return b"".join(lines[:start] + lines[end + 1 :])


def expected_after_keep_daily(found: list[tuple[str, datetime]], keep_daily: int) -> set[str]:
    """What `borg prune --keep-daily N` keeps: the newest archive of each of the N most
    recent days that have archives (computed here, independently of borg and borgmatic)."""
    kept: set[str] = set()
    days: set[str] = set()
    for name, time in sorted(found, key=lambda item: item[1], reverse=True):
        day = time.date().isoformat()
        if day in days:
            continue
        if len(days) == keep_daily:
            break
        days.add(day)
        kept.add(name)
    return kept


class Scenario:
    """State shared along the module: the operator and what earlier steps recorded."""

    def __init__(self, lab: Lab, operator: Operator) -> None:
        self.lab = lab
        self.operator = operator
        self.foreign_keys = b""
        self.first_plan_json: dict = {}


@pytest.fixture(scope="module")
def scenario(module_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """The lab's server already has a `borg` user whose authorized_keys holds foreign lines."""
    operator = make_operator(module_lab, tmp_path_factory.mktemp("operator-apply-cli"))
    operator.write_inventory(inventory_text(module_lab, CLIENTS, retention=RETENTION))
    state = Scenario(module_lab, operator)
    module_lab.run(
        "nas",
        f"useradd --system --create-home --home-dir {BORG_HOME} --shell /bin/sh {BORG_USER} "
        f"&& usermod -p '*' {BORG_USER}",
        check=True,
    )
    run_checked(module_lab, "nas", "mkdir -m 700 .ssh", user=BORG_USER)
    state.foreign_keys = foreign_authorized_keys(operator.workdir)
    module_lab.write_file("nas", AUTHORIZED_KEYS, state.foreign_keys, mode=0o600, user=BORG_USER)
    return state


def test_first_plan_shows_the_keys_and_configs_and_writes_nothing(scenario: Scenario) -> None:
    lab, operator = scenario.lab, scenario.operator

    result = operator.run("plan")

    assert result.returncode == 2, result.describe()
    for client in CLIENTS:
        assert append_only_line(client) in result.stdout
        assert f"prune-{client}.yaml" in result.stdout
    assert "/etc/borgkeep/borgkeep-client1.yaml" in result.stdout
    assert "/home/bk-client2/.config/borgkeep/borgkeep-client2.yaml" in result.stdout
    assert "create check" in result.stdout
    assert "keep_daily: 3" in result.stdout
    assert lab.read_file("nas", AUTHORIZED_KEYS) == scenario.foreign_keys
    for client in CLIENTS:
        stamps = fleet_stamps(lab, [client])[client]
        assert set(stamps.values()) == {"missing"}, stamps


def test_plan_json_prints_only_the_documented_object(scenario: Scenario) -> None:
    result = scenario.operator.run("plan", "--json")

    assert result.returncode == 2, result.describe()
    data = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert isinstance(data["changes"], list) and data["changes"]
    for change in data["changes"]:
        assert {"host", "path", "action", "diff"} <= set(change)
        assert change["host"] in {"nas", *CLIENTS}
        assert change["path"] is None or isinstance(change["path"], str)
        assert isinstance(change["action"], str) and change["action"]
        assert isinstance(change["diff"], str) and change["diff"]
    assert {change["host"] for change in data["changes"]} == {"nas", *CLIENTS}
    keys_change = next(c for c in data["changes"] if c["path"] == AUTHORIZED_KEYS)
    assert keys_change["diff"].startswith("---")
    for client in CLIENTS:
        assert "+" + append_only_line(client) in keys_change["diff"]
    scenario.first_plan_json = data


def test_apply_from_scratch_installs_every_file(scenario: Scenario) -> None:
    lab, operator = scenario.lab, scenario.operator

    result = operator.run("apply", "--yes")

    assert result.returncode == 0, result.describe()
    authorized_keys = (lab.read_file("nas", AUTHORIZED_KEYS) or b"").decode()
    for client in CLIENTS:
        home = lab.hosts[client].home
        public_key = run_checked(lab, client, f"cat {home}/.ssh/borgkeep_ed25519.pub").split()
        line = f"{append_only_line(client)} {public_key[0]} {public_key[1]} borgkeep:{client}"
        assert line in authorized_keys.splitlines()
        assert "missing" not in fleet_stamps(lab, [client])[client].values()
    assert "missing" not in fleet_stamps(lab, CLIENTS)["nas"].values()
    client1_config = lab.read_file("client1", "/etc/borgkeep/borgkeep-client1.yaml") or b""
    assert repository_url(lab, "client1").encode() in client1_config
    assert b"keep_daily" not in client1_config
    # the same passphrase on both sides, mode 0600, owned by whoever uses it
    for client, client_secret, owner in [
        ("client1", "/etc/borgkeep/client1.passphrase", "root"),
        ("client2", "/home/bk-client2/.config/borgkeep/client2.passphrase", "bk-client2"),
    ]:
        server_secret = f"{BORG_HOME}/.config/borgkeep/{client}.passphrase"
        assert lab.read_file(client, client_secret) == lab.read_file("nas", server_secret)
        assert run_checked(lab, client, f"stat -c '%a %U' {client_secret}").split() == [
            "600",
            owner,
        ]
        assert run_checked(lab, "nas", f"stat -c '%a %U' {server_secret}").split() == [
            "600",
            BORG_USER,
        ]
    assert run_checked(lab, "nas", f"stat -c '%a %U' {REPO_ROOT}").split() == ["700", BORG_USER]
    assert files_not_owned_by_borg(lab) == []
    assert_repository_keys_were_exported(lab, operator, result.stdout)
    # the guard recorded its baseline for every new repository, as the borg user
    for client in CLIENTS:
        state = f"{BORG_HOME}/.config/borgkeep/{client}.guard.json"
        assert run_checked(lab, "nas", f"stat -c '%a %U' {state}").split() == ["600", BORG_USER]
        assert json.loads(lab.read_file("nas", state) or b"{}")["archives"] == {}


def assert_repository_keys_were_exported(lab: Lab, operator, output: str) -> None:
    """Without key and passphrase a repository is lost: the key is exported at init, stored
    on the operator's side, and the output says where."""
    secrets = operator.secrets()
    for client in CLIENTS:
        exported = secrets[f"repokey:nas/{client}"]
        header, *body = exported.strip().splitlines()
        assert header.startswith("BORG_KEY ")
        config = configparser.ConfigParser()
        config.read_string((lab.read_file("nas", f"{REPO_ROOT}/{client}/config") or b"").decode())
        assert "".join(body) == "".join(config["repository"]["key"].split())
        assert header.split()[1] == config["repository"]["id"]
        assert f"repokey:nas/{client}" in output
    assert "secrets.json" in output


def test_foreign_authorized_keys_lines_are_kept_byte_for_byte(scenario: Scenario) -> None:
    after = scenario.lab.read_file("nas", AUTHORIZED_KEYS) or b""

    outside = strip_managed_block(after)

    # the block may only have completed the last foreign line with a newline
    assert outside in (scenario.foreign_keys, scenario.foreign_keys + b"\n")
    assert b"windows-admin\r\n" in after
    assert after.startswith(scenario.foreign_keys.split(b"\n", 1)[0])


def test_each_clients_cron_line_makes_an_archive(scenario: Scenario) -> None:
    lab = scenario.lab
    for client in CLIENTS:
        user = login_of(lab, client)
        commands = crontab_commands(lab, client, user)
        assert len(commands) == 1, crontab_text(lab, client, user)
        assert archives(lab, client) == []

        run_cron_command(lab, client, commands[0], user=user)

        made = archives(lab, client)
        assert len(made) == 1
        assert made[0][0].startswith(f"{client}-")
    listed = client_borg(lab, "client2", f"list --short {repository_url(lab, 'client2')}")
    assert listed.returncode == 0, listed.stderr.decode()
    assert listed.stdout.decode().startswith("client2-")


def test_second_plan_and_apply_rewrite_nothing(scenario: Scenario) -> None:
    lab, operator = scenario.lab, scenario.operator
    stamps_before = fleet_stamps(lab, CLIENTS)
    crontabs_before = {
        host: crontab_text(lab, host, user)
        for host, user in [("nas", BORG_USER), ("client1", "root"), ("client2", "bk-client2")]
    }

    plan = operator.run("plan")
    apply = operator.run("apply", "--yes")

    assert plan.returncode == 0, plan.describe()
    assert apply.returncode == 0, apply.describe()
    assert fleet_stamps(lab, CLIENTS) == stamps_before
    for host, user in [("nas", BORG_USER), ("client1", "root"), ("client2", "bk-client2")]:
        assert crontab_text(lab, host, user) == crontabs_before[host]


def test_server_cron_line_prunes_to_the_retention(scenario: Scenario) -> None:
    lab = scenario.lab
    url = repository_url(lab, "client1")
    for day in BACKDATED_DAYS:
        stamp = f"{day}T03:00:00"
        made = client_borg(
            lab, "client1", f"create --timestamp {stamp} {url}::client1-{stamp} /srv/data"
        )
        assert made.returncode == 0, made.stderr.decode()
    before = archives(lab, "client1")
    assert len(before) == len(BACKDATED_DAYS) + 1
    expected = expected_after_keep_daily(before, RETENTION["keep_daily"])
    commands = crontab_commands(lab, "nas", BORG_USER)
    (command,) = [command for command in commands if " prune client1 " in command]
    # Archives dated before the guard's baseline arrived after it: the guard refuses them...
    refused = lab.run_as_cron("nas", command, user=BORG_USER)
    assert refused.returncode == 3, refused.stderr
    assert b"dated before the previous guard run" in refused.stderr
    # ...until the operator records them as history that predates the guard (the
    # documented `init`, after removing the baseline), as for a repository made by hand.
    state = f"{BORG_HOME}/.config/borgkeep/client1.guard.json"
    run_checked(lab, "nas", f"rm {state}")
    run_cron_command(lab, "nas", command.replace(" prune client1 ", " init client1 "), BORG_USER)

    run_cron_command(lab, "nas", command, user=BORG_USER)

    remaining = {name for name, _ in archives(lab, "client1")}
    assert remaining == expected
    assert len(remaining) == RETENTION["keep_daily"]
    assert len(archives(lab, "client2")) == 1
    assert files_not_owned_by_borg(lab) == []


def test_verify_reports_proofs_per_host(scenario: Scenario) -> None:
    """After backups and a prune, so the prune proof sees real archives."""
    result = scenario.operator.run("verify")

    assert result.returncode == 0, result.describe()
    proof_lines = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
    for host in ["nas", *CLIENTS]:
        assert any(line.startswith(f"✓ {host}:") for line in proof_lines), result.stdout
    assert not any(line.startswith("✗") for line in proof_lines), result.stdout


def test_adding_a_client_touches_no_existing_client(scenario: Scenario) -> None:
    lab, operator = scenario.lab, scenario.operator
    old_key_lines = [
        line
        for line in (lab.read_file("nas", AUTHORIZED_KEYS) or b"").decode().splitlines()
        if line
    ]
    stamps_before = fleet_stamps(lab, CLIENTS)
    lab.add_client("client3", login="user", borgmatic="1.7")
    operator.write_inventory(inventory_text(lab, [*CLIENTS, "client3"], retention=RETENTION))

    plan = operator.run("plan", "--json")
    apply = operator.run("apply", "--yes")

    assert plan.returncode == 2, plan.describe()
    assert {change["host"] for change in json.loads(plan.stdout)["changes"]} == {"nas", "client3"}
    stamps_after = fleet_stamps(lab, CLIENTS)
    for client in CLIENTS:
        assert stamps_after[client] == stamps_before[client]
    new_key_lines = (lab.read_file("nas", AUTHORIZED_KEYS) or b"").decode().splitlines()
    assert [line for line in old_key_lines if line not in new_key_lines] == []
    assert any(line.startswith(append_only_line("client3")) for line in new_key_lines)
    user = login_of(lab, "client3")
    commands = crontab_commands(lab, "client3", user)
    assert len(commands) == 1
    run_cron_command(lab, "client3", commands[0], user=user)
    assert [name.startswith("client3-") for name, _ in archives(lab, "client3")] == [True]
    assert "missing" not in fleet_stamps(lab, ["client3"])["client3"].values()
    assert apply.returncode == 0, apply.describe()


def test_saved_plan_restores_a_deleted_passphrase_file(scenario: Scenario) -> None:
    lab, operator = scenario.lab, scenario.operator
    secret_path = "/etc/borgkeep/client1.passphrase"
    original = lab.read_file("client1", secret_path)
    run_checked(lab, "client1", f"rm {secret_path}")
    plan_file = operator.workdir / "restore.plan"

    plan = operator.run("plan", "--out", str(plan_file))
    apply = operator.run("apply", str(plan_file))

    assert plan.returncode == 2, plan.describe()
    assert secret_path in plan.stdout
    assert lab.read_file("client1", secret_path) == original
    assert run_checked(lab, "client1", f"stat -c %a {secret_path}").strip() == "600"
    assert apply.returncode == 0, apply.describe()


def test_a_config_an_earlier_borgkeep_left_in_borgmatic_d_moves_to_borgkeeps_directory(
    scenario: Scenario,
) -> None:
    """An earlier Borgkeep put each client's config in the default `borgmatic.d`, where
    any bare `borgmatic` run loads it. The next apply moves it to Borgkeep's own directory
    (the same bytes), points the cron line there and deletes the old file; the cron line
    backs up and a second plan is empty."""
    lab, operator = scenario.lab, scenario.operator
    moved = {}
    for client in CLIENTS:
        user = login_of(lab, client)
        if user == "root":
            new, old = "/etc/borgkeep", "/etc/borgmatic.d"
        else:
            home = lab.hosts[client].home
            new, old = f"{home}/.config/borgkeep", f"{home}/.config/borgmatic.d"
        new, old = f"{new}/borgkeep-{client}.yaml", f"{old}/borgkeep-{client}.yaml"
        content = lab.read_file(client, new)
        assert content is not None
        run_checked(lab, client, f"mkdir -p {old.rsplit('/', 1)[0]} && mv {new} {old}", user=user)
        cron = crontab_text(lab, client, user).replace(new, old)
        assert lab.run(client, ["crontab", "-"], user=user, input=cron.encode()).returncode == 0
        moved[client] = (old, new, content, user)

    plan = operator.run("plan")
    assert plan.returncode == 2, plan.describe()
    for old, new, _, _ in moved.values():
        assert f"] delete {old}\n" in plan.stdout, plan.describe()
        assert f"] create {new}\n" in plan.stdout, plan.describe()
    apply = operator.run("apply", "--yes")
    assert apply.returncode == 0, apply.describe()

    for client, (old, new, content, user) in moved.items():
        assert lab.read_file(client, old) is None
        assert lab.read_file(client, new) == content
        (command,) = crontab_commands(lab, client, user)
        assert f"-c {new} " in command
        before = len(archives(lab, client))
        run_cron_command(lab, client, command, user=user)
        assert len(archives(lab, client)) == before + 1
    again = operator.run("plan")
    assert again.returncode == 0, again.describe()


def test_no_passphrase_reaches_the_operators_output_or_files(scenario: Scenario) -> None:
    lab, operator = scenario.lab, scenario.operator
    passphrases = operator.passphrases()
    assert set(passphrases) == {f"passphrase:nas/{c}" for c in [*CLIENTS, "client3"]}
    assert len(operator.runs) >= 8
    secrets_file = operator.secrets_file
    for name, passphrase in passphrases.items():
        assert len(passphrase) >= 20, name
        for run in operator.runs:
            assert passphrase not in run.output, f"{name} leaked in: borgkeep {run.args}"
        assert files_containing(operator.workdir, passphrase, skip={secrets_file}) == []
        assert files_containing(lab.operator_dir, passphrase, skip=set()) == []
