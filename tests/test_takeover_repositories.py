"""A client's repositories matched against the chosen server, and the per-client summary
(wizard/takeover/repositories.py), on the fixtures' real 1.7 and 2.x configs."""

from __future__ import annotations

import json

from tests.takeover_fixtures import (
    BACKUP,
    ROOT,
    SECRET,
    host_files,
    laptop_files,
    root_client_files,
)
from tests.test_takeover_key_lines import KEY_A, KEY_B
from wizard.artefacts.crontab import client_cron_line, render_crontab
from wizard.takeover.borgmatic_configs import discover_configs
from wizard.takeover.repositories import (
    ChosenServer,
    SshHost,
    config_paths_to_discover,
    match_repository,
    summarize_client,
)
from wizard.takeover.scheduled_jobs import find_scheduled_jobs
from wizard.takeover.server_key_lines import find_client_key_lines

NAS = ChosenServer.at("nas", "nas.lan", 2222, "borg", "/home/borg", also=["10.0.0.5"])
ALIASES = {"nas": SshHost(hostname="nas.lan", identity_files=("/root/.ssh/id_nas",))}
AUTHORIZED_KEYS = f"""\
command="borg serve --restrict-to-path /data/backups/host1",restrict {KEY_A}
command="borg serve --append-only --restrict-to-path /home/borg" {KEY_B}
"""
CLIENT_KEYS = {"host1": [KEY_A], "laptop": [KEY_B]}


def resolver(host: str) -> SshHost:
    return ALIASES.get(host, SshHost())


def host1_summary(crontab: str = "0 3 * * * borgmatic\n", version: str = "1.7.7"):
    discovery = discover_configs(host_files(root_client_files()), ROOT, version)
    jobs = find_scheduled_jobs(borgmatic_version=version, user_crontabs={"root": crontab})
    keys = find_client_key_lines(AUTHORIZED_KEYS, CLIENT_KEYS)
    return summarize_client("host1", discovery, jobs, keys, NAS, resolver)


def test_an_alias_in_the_clients_ssh_config_resolves_to_the_server() -> None:
    summary = host1_summary()
    on_server = {m.location.raw: m for m in summary.on_server}
    host1 = on_server["borg@nas:/data/backups/host1"]
    assert (host1.hostname, host1.port, host1.user) == ("nas.lan", 2222, "borg")
    assert "nas resolves to nas.lan" in host1.reason
    assert host1.server_path == "/data/backups/host1"
    # ssh_command's -i comes first, then the ssh config's IdentityFile
    assert host1.identity_files == ("/root/.ssh/id_backup", "/root/.ssh/id_nas")
    assert host1.identity_source == "ssh_command"


def test_of_two_repositories_only_the_one_on_the_server_is_taken_over() -> None:
    summary = host1_summary()
    assert sorted(m.server_path for m in summary.on_server) == [
        "/data/backups/host1",
        "/data/backups/host1-db",
    ]
    (usb,) = summary.elsewhere
    assert (usb.location.path, usb.reason) == ("/mnt/usb/host1", "on the client itself")


def test_the_summary_line_names_what_was_found() -> None:
    assert host1_summary().describe() == (
        "existing Borg setup: "
        "repository nas:/data/backups/host1-db (no passphrase in config), "
        "repository nas:/data/backups/host1 (passphrase in config), "
        "left alone: /mnt/usb/host1, read-write key line, client-side prune"
    )


def test_a_job_that_only_creates_is_no_client_side_prune() -> None:
    summary = host1_summary("0 3 * * * borgmatic -c /etc/borgmatic.d/host1.yaml create check\n")
    assert not summary.pruning_jobs
    assert "client-side prune" not in summary.describe()


def test_borgkeeps_own_job_is_never_counted_as_the_clients_prune() -> None:
    ours = client_cron_line("17 2 * * *", "/usr/bin/borgmatic", "/etc/borgmatic.d/host1.yaml")
    summary = host1_summary(render_crontab("", [ours]))
    assert len(summary.jobs) == 1 and not summary.pruning_jobs


def test_a_prune_limited_to_the_other_repository_does_not_prune_on_the_server() -> None:
    summary = host1_summary("0 3 * * * borgmatic prune --repository /mnt/usb/host1\n")
    assert not summary.pruning_jobs
    summary = host1_summary("0 3 * * * borgmatic prune --repository borg@nas:/data/backups/host1\n")
    assert len(summary.pruning_jobs) == 1


def test_a_job_of_another_login_may_prune_and_says_its_configs_were_not_read() -> None:
    discovery = discover_configs(host_files(root_client_files()), ROOT, "1.7.7")
    jobs = find_scheduled_jobs(
        borgmatic_version="1.7.7", user_crontabs={"backup": "0 3 * * * borgmatic\n"}
    )
    summary = summarize_client(
        "host1", discovery, jobs, find_client_key_lines("", {}), NAS, resolver
    )
    assert len(summary.pruning_jobs) == 1
    assert any("configs of backup, not read" in problem for problem in summary.problems)
    assert "no key line" in summary.describe()
    assert any("no key line of host1 reaches" in problem for problem in summary.problems)


def test_skip_actions_and_default_actions_keep_a_bare_run_from_pruning() -> None:
    base = "repositories:\n  - path: ssh://borg@nas.lan:2222/data/x\nsource_directories: [/etc]\n"
    for extra in ("skip_actions: [prune, compact]\n", "default_actions: false\n"):
        files = host_files({"/etc/borgmatic/config.yaml": base + extra})
        discovery = discover_configs(files, ROOT, "2.1.10")
        jobs = find_scheduled_jobs(
            borgmatic_version="2.1.10", user_crontabs={"root": "0 3 * * * borgmatic\n"}
        )
        summary = summarize_client("c", discovery, jobs, find_client_key_lines("", {}), NAS)
        assert len(summary.on_server) == 1
        assert not summary.pruning_jobs, extra


def test_the_non_root_laptop_on_borgmatic_2() -> None:
    discovery = discover_configs(host_files(laptop_files()), BACKUP, "2.1.10")
    jobs = find_scheduled_jobs(
        borgmatic_version="2.1.10",
        user_crontabs={"backup": "0 * * * * borgmatic --verbosity -1\n"},
    )
    keys = find_client_key_lines(AUTHORIZED_KEYS, CLIENT_KEYS)
    summary = summarize_client("laptop", discovery, jobs, keys, NAS, resolver)
    (nas,) = summary.on_server
    assert (nas.location.label, nas.server_path) == ("nas", "/home/borg/laptop")
    assert nas.identity_source == "default keys"
    assert nas.identity_files[0] == "/home/backup/.ssh/id_rsa"
    (offsite,) = summary.elsewhere
    assert offsite.reason == "another host: offsite.example.net"
    assert summary.describe() == (
        "existing Borg setup: repository nas:/home/borg/laptop, "
        "left alone: offsite.example.net:~/laptop, "
        "passphrase from `cat /home/backup/.borg-pass`, append-only key line, client-side prune"
    )
    assert not summary.problems


def test_the_same_host_on_another_port_or_account_is_not_the_server() -> None:
    config = discover_configs(host_files(laptop_files()), BACKUP, "2.1.10").configs[0]
    nas_location = config.options.repositories[0]
    other_port = ChosenServer.at("nas", "nas.lan", 22, "borg", "/home/borg")
    other_account = ChosenServer.at("nas", "nas.lan", 2222, "backups", "/home/backups")
    assert "port 2222, not 22" in match_repository(config, nas_location, other_port, BACKUP).reason
    match = match_repository(config, nas_location, other_account, BACKUP)
    assert not match.on_server and "account borg, not backups" in match.reason


def test_json_is_complete_and_never_holds_a_secret() -> None:
    summary = host1_summary()
    text = json.dumps(summary.to_json())
    assert SECRET not in text and "db-secret" not in text
    assert SECRET not in repr(summary)
    data = json.loads(text)
    assert data["found"] is True
    assert data["summary"] == summary.describe()
    assert [r["on_server"] for r in data["repositories"]] == [True, True, False]
    assert data["key_lines"][0]["access"] == "read-write"
    assert data["client_side_prune"] and data["jobs"][0]["can_prune"]


def test_a_passphrase_from_the_jobs_environment_is_named_never_shown() -> None:
    crontab = 'BORG_PASSPHRASE="from-cron-env"\n0 3 * * * borgmatic\n'
    summary = host1_summary(crontab)
    sources = summary.passphrase_sources
    assert sources["/etc/borgmatic.d/databases.yaml"] == (
        "passphrase from $BORG_PASSPHRASE of crontab of root"
    )
    assert sources["/etc/borgmatic.d/host1.yaml"] == "passphrase in config"
    assert "repository nas:/data/backups/host1-db (passphrase from $BORG_PASSPHRASE" in (
        summary.describe()
    )
    assert "from-cron-env" not in json.dumps(summary.to_json()) + repr(summary)


def test_a_job_running_a_config_discovery_did_not_read_may_prune_and_says_so() -> None:
    summary = host1_summary("0 3 * * * borgmatic -c /opt/backup/special.yaml prune\n")
    assert len(summary.pruning_jobs) == 1
    assert any("runs /opt/backup/special.yaml, not read" in p for p in summary.problems)
    summary = host1_summary("0 3 * * * borgmatic -c /etc/borgmatic.d prune\n")
    assert len(summary.pruning_jobs) == 1
    assert not any("not read" in problem for problem in summary.problems)


def test_a_repository_no_key_line_reaches_is_a_problem() -> None:
    # --restrict-to-path /data/backups/host1 does not reach /data/backups/host1-db
    assert host1_summary().problems == (
        "no key line of host1 reaches /data/backups/host1-db (/etc/borgmatic.d/databases.yaml)",
    )


def test_a_direct_borg_prune_counts_only_on_the_server() -> None:
    elsewhere = host1_summary("0 3 * * * borg prune --keep-daily 7 /mnt/usb/host1\n")
    assert not elsewhere.pruning_jobs
    on_server = host1_summary(
        "0 3 * * * borg prune --keep-daily 7 ssh://borg@nas:2222/data/backups/host1\n"
    )
    assert len(on_server.pruning_jobs) == 1
    unknown = host1_summary("0 3 * * * borg prune --keep-daily 7\n")
    assert len(unknown.pruning_jobs) == 1
    assert any("repository is not known" in p for p in unknown.problems)


def test_gather_is_told_every_config_path_the_logins_jobs_name() -> None:
    jobs = find_scheduled_jobs(
        borgmatic_version="1.7.7",
        user_crontabs={
            "root": "0 3 * * * borgmatic -c ~/extra.yaml -c /etc/borgmatic.d create\n",
            "backup": "0 3 * * * borgmatic -c /home/backup/mine.yaml prune\n",
        },
    )
    paths = config_paths_to_discover(ROOT, jobs)
    assert paths[:4] == (
        "/etc/borgmatic/config.yaml",
        "/etc/borgmatic.d",
        "/root/.config/borgmatic/config.yaml",
        "/root/.config/borgmatic.d",
    )
    assert paths[4:] == ("/root/extra.yaml",)
