"""Scheduled jobs that run borgmatic or borg (wizard/takeover/scheduled_jobs.py): user
crontabs, /etc/crontab and cron.d files, systemd services and timers, and the command
lines inside them."""

from __future__ import annotations

import json

import pytest

from wizard.artefacts.crontab import client_cron_line, render_crontab
from wizard.takeover.command_lines import find_invocations, split_command_line
from wizard.takeover.scheduled_jobs import find_scheduled_jobs

CRON_SECRET = "cron-secret-passphrase"

ROOT_CRONTAB = f"""\
# m h dom mon dow command
MAILTO=admin@example.com
BORG_PASSPHRASE="{CRON_SECRET}"
PATH=/usr/local/bin:/usr/bin:/bin
0 3 * * * borgmatic
30 4 * * 0 /usr/bin/borgmatic -c /etc/borgmatic.d/host1.yaml create --stats >/dev/null 2>&1
@daily flock -n /run/borg.lock sh -c 'borgmatic -c /etc/borgmatic.d/databases.yaml create && borgmatic -c /etc/borgmatic.d/databases.yaml prune'
15 2 * * * nice -n 19 ionice -c3 chronic borg prune --keep-daily 7 borg@nas:/data/backups/host1 >/dev/null
# 0 1 * * * borgmatic
0 5 * * * echo borgmatic is great > /tmp/x
0 6 * * * /usr/local/bin/other-job
"""

DEBIAN_SERVICE = """\
[Unit]
Description=borgmatic backup
Wants=network-online.target
After=network-online.target
ConditionACPower=true
ConditionFileNotEmpty=/etc/borgmatic/config.yaml
Documentation=https://torsion.org/borgmatic/

[Service]
Type=oneshot
Nice=19
ExecStartPre=sleep 1m
ExecStart=systemd-inhibit --who="borgmatic" --what="sleep:shutdown" --why="Prevent interrupting scheduled backup" /usr/bin/borgmatic --verbosity -1 --syslog-verbosity 1
"""
DEBIAN_TIMER = """\
[Unit]
Description=Run borgmatic backup

[Timer]
OnCalendar=daily
Persistent=true
RandomizedDelaySec=3h

[Install]
WantedBy=timers.target
"""
DEBIAN_UNITS = {
    "/lib/systemd/system/borgmatic.service": DEBIAN_SERVICE,
    "/lib/systemd/system/borgmatic.timer": DEBIAN_TIMER,
}


def root_jobs(version: str = "1.7.7", crontab: str = ROOT_CRONTAB):
    return find_scheduled_jobs(borgmatic_version=version, user_crontabs={"root": crontab})


def test_bare_borgmatic_runs_the_versions_default_actions() -> None:
    old = root_jobs("1.7.7")[0]
    new = root_jobs("2.1.10")[0]
    assert (old.line, old.schedule, old.user) == (5, "0 3 * * *", "root")
    assert old.invocations[0].bare
    assert old.invocations[0].actions == ("prune", "compact", "create", "check")
    assert new.invocations[0].actions == ("create", "prune", "compact", "check")
    assert old.invocations[0].config_paths == ()
    assert old.can_prune and old.can_compact


def test_an_explicit_create_with_a_config_cannot_prune() -> None:
    job = root_jobs()[1]
    (run,) = job.invocations
    assert (run.path, run.actions, run.config_paths) == (
        "/usr/bin/borgmatic",
        ("create",),
        ("/etc/borgmatic.d/host1.yaml",),
    )
    assert not job.can_prune and not job.can_compact


def test_a_chain_inside_flock_and_sh_c_is_read_run_by_run() -> None:
    job = root_jobs()[2]
    assert job.schedule == "@daily"
    assert [run.actions for run in job.invocations] == [("create",), ("prune",)]
    assert job.can_prune and not job.can_compact


def test_a_direct_borg_prune_behind_nice_ionice_and_chronic() -> None:
    job = root_jobs()[3]
    (run,) = job.invocations
    assert (run.program, run.actions, run.repository) == (
        "borg",
        ("prune",),
        "borg@nas:/data/backups/host1",
    )
    assert job.can_prune


def test_comments_and_other_programs_are_not_jobs() -> None:
    assert [job.line for job in root_jobs()] == [5, 6, 7, 8]


def test_the_environment_applies_and_a_passphrase_in_it_is_never_shown() -> None:
    job = root_jobs()[0]
    assert job.environment.secret_values["BORG_PASSPHRASE"] == CRON_SECRET
    assert "BORG_PASSPHRASE" in job.environment.names
    assert job.environment.values["MAILTO"] == "admin@example.com"
    for shown in (repr(job), job.describe(), json.dumps(job.to_json())):
        assert CRON_SECRET not in shown


def test_borgkeeps_own_block_is_reported_as_borgkeeps() -> None:
    line = client_cron_line("17 2 * * *", "/usr/bin/borgmatic", "/etc/borgkeep/nas.yaml")
    crontab = render_crontab(ROOT_CRONTAB, [line])
    jobs = root_jobs(crontab=crontab)
    ours = [job for job in jobs if job.managed_by_borgkeep]
    assert len(jobs) == 5 and len(ours) == 1
    assert ours[0].invocations[0].actions == ("create", "check")
    assert ours[0].invocations[0].config_paths == ("/etc/borgkeep/nas.yaml",)
    assert not ours[0].can_prune
    assert "(Borgkeep's)" in ours[0].describe()
    assert not any(job.managed_by_borgkeep for job in jobs[:4])


def test_cron_ends_the_command_at_an_unescaped_percent() -> None:
    (job,) = root_jobs(crontab="0 3 * * * borgmatic create --stats%some input\n")
    assert job.command == "borgmatic create --stats"
    (job,) = root_jobs(crontab="0 3 * * * date +\\%F && borgmatic prune\n")
    assert job.command == "date +%F && borgmatic prune"
    assert job.can_prune


def test_system_crontabs_name_the_user_and_debian_skips_dotted_cron_d_names() -> None:
    jobs = find_scheduled_jobs(
        borgmatic_version="1.7.7",
        system_crontabs={
            "/etc/crontab": "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n"
            "45 3 * * 7 backup borgmatic -c /home/backup/.config/borgmatic.d prune\n",
            "/etc/cron.d/borgmatic": "SHELL=/bin/sh\n0 1 * * * root PATH=$PATH:/usr/local/bin /usr/local/bin/borgmatic --stats -v 0 2>&1\n",
            "/etc/cron.d/borgmatic.dpkg-old": "0 1 * * * root borgmatic\n",
        },
    )
    by_source = {job.source: job for job in jobs}
    assert set(by_source) == {
        "/etc/crontab",
        "/etc/cron.d/borgmatic",
        "/etc/cron.d/borgmatic.dpkg-old",
    }
    weekly = by_source["/etc/crontab"]
    assert (weekly.user, weekly.kind, weekly.invocations[0].config_paths) == (
        "backup",
        "system crontab",
        ("/home/backup/.config/borgmatic.d",),
    )
    nightly = by_source["/etc/cron.d/borgmatic"]
    assert nightly.user == "root" and nightly.invocations[0].bare and nightly.active
    old = by_source["/etc/cron.d/borgmatic.dpkg-old"]
    assert old.active is False and "skips" in old.note


def test_debians_borgmatic_timer_runs_bare_borgmatic_through_systemd_inhibit() -> None:
    (job,) = find_scheduled_jobs(borgmatic_version="1.7.7", systemd_units=DEBIAN_UNITS)
    assert (job.source, job.kind, job.user) == ("borgmatic.service", "systemd", "root")
    assert job.schedule == "borgmatic.timer: daily"
    assert job.invocations[0].path == "/usr/bin/borgmatic"
    assert job.invocations[0].bare and job.can_prune
    assert job.active is None
    assert "ConditionFileNotEmpty=/etc/borgmatic/config.yaml" in job.note


def test_a_drop_in_that_resets_exec_start_replaces_the_command() -> None:
    units = {
        **DEBIAN_UNITS,
        "/etc/systemd/system/borgmatic.service.d/override.conf": "[Service]\nExecStart=\nExecStart=/usr/bin/borgmatic create --stats\nUser=backup\n",
    }
    (job,) = find_scheduled_jobs(
        borgmatic_version="2.1.10", systemd_units=units, enabled_timers={"borgmatic.timer": False}
    )
    assert job.invocations[0].actions == ("create",)
    assert job.user == "backup"
    assert job.active is False and not job.can_prune


def test_a_service_without_a_timer_is_not_scheduled() -> None:
    units = {
        "/etc/systemd/system/prune.service": "[Service]\nExecStart=-/usr/bin/borg prune --keep-daily=3 /r\n"
    }
    (job,) = find_scheduled_jobs(borgmatic_version="2.1.10", systemd_units=units)
    assert job.active is False and job.note == "no timer starts this service"
    assert job.invocations[0].repository == "/r"


@pytest.mark.parametrize(
    ("version", "configs", "actions"),
    [("1.7.7", ("/a.yaml", "/b.yaml"), ("create",)), ("2.1.10", ("/a.yaml",), ("create",))],
)
def test_dash_c_takes_every_following_file_only_in_borgmatic_17(version, configs, actions) -> None:
    (run,) = find_invocations(
        "borgmatic -c /a.yaml /b.yaml create", tuple(map(int, version.split(".")))
    )
    assert run.config_paths == configs and run.actions == actions


@pytest.mark.parametrize(
    ("command", "actions", "removes", "compacts"),
    [
        ("borgmatic -n prune", ("prune",), False, False),
        ("borgmatic --dry-run", ("create", "prune", "compact", "check"), False, False),
        ("borgmatic -p -C", ("prune", "create"), True, False),
        ("borgmatic --verbosity -1 compact", ("compact",), False, True),
        ("borgmatic borg delete --glob-archives 'x*'", ("borg", "delete"), True, False),
        ("borgmatic --version", (), False, False),
        ("borgmatic list --repository nas", ("list",), False, False),
    ],
)
def test_borgmatic_actions_aliases_and_dry_runs(command, actions, removes, compacts) -> None:
    (run,) = find_invocations(command, (2, 1, 10))
    assert (run.actions, run.removes_archives, run.compacts) == (actions, removes, compacts)


def test_wrappers_that_switch_accounts_are_remembered() -> None:
    (run,) = find_invocations("runuser -u backup -- /opt/bm/bin/borgmatic create", (1, 7, 7))
    assert run.run_as == "backup"
    (run,) = find_invocations("sudo -u borg -H borgmatic prune", (1, 7, 7))
    assert run.run_as == "borg" and run.removes_archives
    (run,) = find_invocations("su backup -c 'borgmatic prune'", (1, 7, 7))
    assert run.run_as == "backup"


def test_redirections_are_not_arguments_but_values_before_them_are() -> None:
    assert list(split_command_line("borg prune --keep-daily 7 >/dev/null 2>&1 /r")) == [
        ["borg", "prune", "--keep-daily", "7", "/r"]
    ]
    quoted_target = 'borgmatic create > "/var/log/a b;c" 2>&1 && borgmatic prune'
    assert list(split_command_line(quoted_target)) == [
        ["borgmatic", "create"],
        ["borgmatic", "prune"],
    ]
    assert list(split_command_line("a \"b c\" 'd;e' f\\ g; h | i")) == [
        ["a", "b c", "d;e", "f g"],
        ["h"],
        ["i"],
    ]


def test_system_crontab_fields_may_be_separated_by_tabs() -> None:
    (job,) = find_scheduled_jobs(
        borgmatic_version="1.7.7",
        system_crontabs={"/etc/crontab": "0\t3\t*\t*\t*\tbackup\tborgmatic prune\n"},
    )
    assert (job.user, job.command) == ("backup", "borgmatic prune")


def test_a_cron_daily_script_is_read_line_by_line() -> None:
    script = (
        "#!/bin/sh\n"
        "# nightly backup\n"
        "if [ -x /usr/bin/borgmatic ]; then\n"
        "    /usr/bin/borgmatic \\\n"
        "        --verbosity -1\n"
        "fi\n"
    )
    jobs = find_scheduled_jobs(
        borgmatic_version="2.1.10",
        periodic_scripts={"/etc/cron.daily/borgmatic": script, "/etc/cron.daily/old.sh": script},
    )
    active, skipped = jobs
    assert (active.source, active.line, active.schedule, active.user) == (
        "/etc/cron.daily/borgmatic",
        4,
        "cron.daily",
        "root",
    )
    assert active.invocations[0].bare and active.can_prune and active.active
    assert skipped.active is False and "no dots" in skipped.note


def test_an_environment_file_is_named_as_not_read() -> None:
    units = {
        **DEBIAN_UNITS,
        "/etc/systemd/system/borgmatic.service.d/env.conf": '[Service]\nEnvironmentFile=/etc/borgmatic/env\nEnvironment="BORG_PASSCOMMAND=cat /root/p" BORG_RSH=ssh\n',
    }
    (job,) = find_scheduled_jobs(borgmatic_version="1.7.7", systemd_units=units)
    assert "/etc/borgmatic/env (not read)" in job.note
    assert job.environment.secret_values == {"BORG_PASSCOMMAND": "cat /root/p"}
    assert job.environment.values == {"BORG_RSH": "ssh"}


def test_a_users_own_units_run_as_that_user() -> None:
    units = {
        "/home/backup/.config/systemd/user/laptop-backup.service": "[Service]\nExecStart=/usr/bin/borgmatic -c %h/.config/borgmatic.d/laptop.yaml\n",
        "/home/backup/.config/systemd/user/laptop-backup.timer": "[Timer]\nOnCalendar=hourly\n",
    }
    (job,) = find_scheduled_jobs(borgmatic_version="2.1.10", user_systemd_units={"backup": units})
    assert (job.user, job.schedule) == ("backup", "laptop-backup.timer: hourly")
    assert job.invocations[0].bare and job.can_prune


def test_a_unit_in_etc_replaces_the_packaged_one() -> None:
    units = {
        **DEBIAN_UNITS,
        "/etc/systemd/system/borgmatic.service": "[Service]\nExecStart=/usr/bin/borgmatic create\n",
    }
    (job,) = find_scheduled_jobs(borgmatic_version="1.7.7", systemd_units=units)
    assert job.invocations[0].actions == ("create",) and job.note is None
