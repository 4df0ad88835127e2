"""Debian's borgmatic package ships `borgmatic.timer` and `borgmatic.service` in
/usr/lib/systemd/system and enables the timer; the service runs a bare `borgmatic` only
when /etc/borgmatic/config.yaml is not empty. Discovery reads the package directory and the
timers' `systemctl enable` links: that job is part of an existing setup exactly when it
would run — and never on a client that merely has borgmatic installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from wizard.pipeline.existing_reads import TIMERS_WANTS
from wizard.pipeline.existing_setup import client_jobs
from wizard.pipeline.facts import HostFacts
from wizard.pipeline.gather import client_read_script, parse_paths_output

VENDOR = "/usr/lib/systemd/system"
TIMER = "[Unit]\nDescription=Run borgmatic backup\n\n[Timer]\nOnCalendar=daily\n"
SERVICE = (
    "[Unit]\nDescription=borgmatic backup\nConditionACPower=true\n"
    "ConditionFileNotEmpty=/etc/borgmatic/config.yaml\n\n[Service]\nType=oneshot\n"
    "ExecStart=systemd-inhibit --who=borgmatic --what=sleep:shutdown "
    '"--why=Prevent interrupting scheduled backup" /usr/bin/borgmatic --verbosity -1\n'
)
CONFIG = "/etc/borgmatic/config.yaml"


def facts_with(enabled: bool, config: bool, override: str | None = None) -> HostFacts:
    files = {
        f"{VENDOR}/borgmatic.timer": TIMER.encode(),
        f"{VENDOR}/borgmatic.service": SERVICE.encode(),
    }
    if config:
        files[CONFIG] = b"location: {}\n"
    if override is not None:
        files["/etc/systemd/system/borgmatic.service"] = override.encode()
    wants = ("apt-daily.timer", "borgmatic.timer") if enabled else ("apt-daily.timer",)
    return HostFacts(
        host="host1",
        login_user="root",
        uid=0,
        home="/root",
        borgmatic_version="1.7.7",
        existing_setup_files=files,
        existing_setup_listings={TIMERS_WANTS: wants},
        existing_setup_missing={} if config else {CONFIG: "absent"},
    )


def test_the_enabled_packaged_timer_with_a_config_is_a_job():
    (job,) = client_jobs(facts_with(enabled=True, config=True))
    assert job.source == "borgmatic.service" and job.kind == "systemd" and job.active is True
    assert job.schedule == "borgmatic.timer: daily"
    (run,) = job.invocations
    assert run.program == "borgmatic" and run.bare and "prune" in run.actions


def test_without_its_config_or_its_enable_link_it_never_runs_and_is_no_job():
    assert client_jobs(facts_with(enabled=True, config=False)) == ()
    assert client_jobs(facts_with(enabled=False, config=True)) == ()


def test_an_override_in_etc_is_the_admins_and_stays_a_job():
    override = SERVICE.replace("ConditionFileNotEmpty=/etc/borgmatic/config.yaml\n", "")
    (job,) = client_jobs(facts_with(enabled=True, config=False, override=override))
    assert job.active is True  # the packaged timer is enabled; the admin's service has no condition


def test_round_two_on_this_machine_reads_the_package_directory(tmp_path: Path):
    """Whatever this machine has installed: a packaged unit that mentions borg is read from
    the package directory (once, even where /lib is /usr/lib), and the enable links listed."""
    facts = HostFacts(host="h", login_user="root", uid=0, home="/root", borgmatic_version="1.7.7")
    script = client_read_script(facts, "h")
    output = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout
    facts, _ = parse_paths_output(facts, output.decode())
    units = [p for p in facts.existing_setup_files if "/systemd/system/" in p]
    names = [p.rsplit("/", 1)[1] for p in units]
    assert len(names) == len(set(names))  # /lib/systemd/system not read twice
    packaged = Path(VENDOR) / "borgmatic.timer"
    if packaged.exists():
        assert str(packaged) in units
    assert (
        TIMERS_WANTS in facts.existing_setup_listings
        or TIMERS_WANTS in facts.existing_setup_missing
    )
