"""Cron lines run explicit borgmatic actions; the crontab block leaves the user's lines alone."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st

from wizard.artefacts.crontab import client_cron_line, render_crontab, server_prune_cron_line
from wizard.artefacts.managed_block import BEGIN_MARKER, END_MARKER, parse_managed_block
from wizard.checks.cron import staggered_schedule

BORGMATIC_1_7 = Path("/usr/bin/borgmatic")
BORGMATIC_2 = Path("/opt/borgkeep-lab/borgmatic2/bin/borgmatic")


# --- lines ------------------------------------------------------------------------------


def test_client_line_runs_explicit_actions_with_absolute_paths():
    line = client_cron_line("0 3 * * *", "/usr/bin/borgmatic", "/etc/borgmatic.d/borgkeep.yaml")
    assert line == (
        "0 3 * * * /usr/bin/borgmatic -c /etc/borgmatic.d/borgkeep.yaml "
        "--verbosity -1 --no-color --syslog-verbosity 1 create check"
    )


def test_client_line_with_log_file_logs_there_instead_of_syslog():
    line = client_cron_line(
        "15 2 * * 1-5", "/usr/bin/borgmatic", "/etc/b.yaml", "/var/log/borgkeep.log"
    )
    words = shlex.split(line)
    assert words[:5] == ["15", "2", "*", "*", "1-5"]
    assert words[5:] == [
        "/usr/bin/borgmatic",
        "-c",
        "/etc/b.yaml",
        "--verbosity",
        "-1",
        "--no-color",
        "--log-file",
        "/var/log/borgkeep.log",
        "--log-file-verbosity",
        "1",
        "create",
        "check",
    ]
    assert "--syslog-verbosity" not in words


def test_client_line_never_prunes_or_compacts():
    words = client_cron_line("0 3 * * *", "/usr/bin/borgmatic", "/etc/b.yaml").split()
    assert "prune" not in words
    assert "compact" not in words
    assert words[-2:] == ["create", "check"]


@pytest.mark.parametrize(
    "schedule",
    [
        "@daily",
        "@reboot",
        "0 3 * *",
        "0 0 3 * * *",
        "61 3 * * *",
        "0 3 * * * /bin/sh",
        "0 3 * * *\n* * * * * /bin/sh",
        "0 3 $(id) * *",
        "0 3 ? * *",
        "",
    ],
)
def test_bad_schedules_are_refused(schedule):
    with pytest.raises(ValueError, match="schedule"):
        client_cron_line(schedule, "/usr/bin/borgmatic", "/etc/b.yaml")


@pytest.mark.parametrize("schedule", ["30 5 * * *", "*/15 1-5 * * mon-fri", "0 3 1,15 jan *"])
def test_five_field_schedules_are_accepted(schedule):
    assert client_cron_line(schedule, "/usr/bin/borgmatic", "/e/b.yaml").startswith(schedule + " ")


@pytest.mark.parametrize(
    ("borgmatic", "config", "log"),
    [
        ("borgmatic", "/etc/b.yaml", None),
        ("/usr/bin/borgmatic", "b.yaml", None),
        ("/usr/bin/borgmatic", "/etc/b c.yaml", None),
        ("/usr/bin/borgmatic", "/etc/b%.yaml", None),
        ("/usr/bin/borgmatic", "/etc/b.yaml\n* * * * * sh", None),
        ("/usr/bin/borgmatic; sh", "/etc/b.yaml", None),
        ("/usr/bin/borgmatic", "/etc/b.yaml", "log.txt"),
        ("/usr/bin/borgmatic", "/etc/b.yaml", "/var/log/$(id)"),
    ],
)
def test_unsafe_paths_are_refused(borgmatic, config, log):
    with pytest.raises(ValueError, match="path"):
        client_cron_line("0 3 * * *", borgmatic, config, log)


def test_prune_line_is_schedule_and_the_callers_command():
    command = "/usr/local/bin/borgkeep-prune-guard /etc/borgmatic.d/host1.yaml"
    assert server_prune_cron_line("30 5 * * *", command) == f"30 5 * * * {command}"


@pytest.mark.parametrize(
    "command",
    ["", "   ", "borgmatic prune", "/bin/date +%F", "/bin/true\n* * * * * /bin/sh", "/bin/x\r"],
)
def test_prune_commands_cron_would_mangle_are_refused(command):
    with pytest.raises(ValueError, match="cron command"):
        server_prune_cron_line("30 5 * * *", command)


@pytest.mark.parametrize(
    "borgmatic",
    [
        pytest.param(BORGMATIC_1_7, id="borgmatic-1.7"),
        pytest.param(BORGMATIC_2, id="borgmatic-2"),
    ],
)
@pytest.mark.parametrize("with_log_file", [False, True])
def test_both_borgmatic_versions_accept_the_flags(borgmatic, with_log_file, tmp_path):
    """The real borgmatic parses the line's arguments; only the missing config stops it."""
    if not borgmatic.exists():
        pytest.skip(f"{borgmatic} is not installed")
    missing_config = tmp_path / "missing.yaml"
    log = str(tmp_path / "borgmatic.log") if with_log_file else None
    line = client_cron_line("0 3 * * *", str(borgmatic), str(missing_config), log)
    argv = shlex.split(line)[5:]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert "nrecognized argument" not in output
    assert "Error parsing arguments" not in output
    assert "usage:" not in output
    assert f"{missing_config}: No valid configuration files found" in output


# --- staggering -------------------------------------------------------------------------


def test_staggered_schedule_is_a_fixed_function_of_the_name():
    assert staggered_schedule("host1") == staggered_schedule("host1")
    # Pinned: a different value here means every existing client would move.
    assert staggered_schedule("host1") == "36 5 * * *"
    assert staggered_schedule("host1", window_start_hour=22, window_hours=4) == "36 1 * * *"


def test_staggered_schedules_spread_over_the_window():
    schedules = {staggered_schedule(f"host{i}") for i in range(50)}
    assert len(schedules) > 40
    for schedule in schedules:
        minute, hour, *rest = schedule.split()
        assert rest == ["*", "*", "*"]
        assert 1 <= int(hour) < 6
        assert 0 <= int(minute) < 60


@given(
    st.text(min_size=1, max_size=30),
    st.integers(min_value=0, max_value=23),
    st.integers(min_value=1, max_value=24),
)
def test_staggered_schedule_is_valid_and_inside_the_window(name, start, hours):
    schedule = staggered_schedule(name, window_start_hour=start, window_hours=hours)
    assert croniter.is_valid(schedule)
    minute, hour = (int(field) for field in schedule.split()[:2])
    offset = ((hour - start) % 24) * 60 + minute
    assert 0 <= offset < hours * 60
    client_cron_line(schedule, "/usr/bin/borgmatic", "/etc/b.yaml")


@pytest.mark.parametrize(("start", "hours"), [(-1, 5), (24, 5), (1, 0), (1, 25)])
def test_staggered_window_is_checked(start, hours):
    with pytest.raises(ValueError, match="window"):
        staggered_schedule("host1", window_start_hour=start, window_hours=hours)


# --- the crontab block ------------------------------------------------------------------

USER_CRONTAB = (
    "# m h  dom mon dow   command\n"
    "MAILTO=admin@example.org\n"
    "PATH=/usr/local/bin:/usr/bin:/bin\n"
    "\n"
    "*/5 * * * * /usr/local/bin/poll   --flag   %  # odd spacing and a percent\n"
    "@reboot /usr/local/bin/start"
)


def test_crontab_block_is_appended_and_user_lines_kept():
    line = client_cron_line("0 3 * * *", "/usr/bin/borgmatic", "/etc/b.yaml")
    text = render_crontab(USER_CRONTAB, [line])
    assert text == f"{USER_CRONTAB}\n{BEGIN_MARKER}\n{line}\n{END_MARKER}\n"
    assert render_crontab(text, [line]) == text


def test_crontab_without_crontab_yet():
    line = server_prune_cron_line("30 5 * * *", "/usr/bin/borgmatic -c /etc/p.yaml prune")
    assert render_crontab(None, [line]) == f"{BEGIN_MARKER}\n{line}\n{END_MARKER}\n"


def test_crontab_block_is_replaced_in_place():
    old = client_cron_line("0 3 * * *", "/usr/bin/borgmatic", "/etc/b.yaml")
    new = client_cron_line("0 4 * * *", "/usr/bin/borgmatic", "/etc/b.yaml")
    before = 'MAILTO=""\n'
    after = "# trailing comment\n0 1 * * * /bin/true\n"
    text = render_crontab(f"{before}{BEGIN_MARKER}\n{old}\n{END_MARKER}\n{after}", [new])
    assert text == f"{before}{BEGIN_MARKER}\n{new}\n{END_MARKER}\n{after}"


@pytest.mark.parametrize(
    "line",
    [
        "0 3 * * *",
        "@daily /bin/true",
        "0 3 * * * /bin/date +%F",
        "0 3 * * * relative/command",
        "0 3 * * * /bin/true\n* * * * * /bin/sh",
        "0 25 * * * /bin/true",
    ],
)
def test_crontab_refuses_lines_cron_would_read_differently(line):
    with pytest.raises(ValueError, match="crontab line 1|cron command"):
        render_crontab(None, [line])


cron_foreign_lines = st.one_of(
    st.text(st.characters(exclude_characters="\n", exclude_categories=("Cs",)), max_size=30),
    st.sampled_from(
        [
            "",
            "MAILTO=root",
            'MAILTO=""',
            "SHELL=/bin/bash",
            "# DO NOT EDIT THIS FILE - edit the master and reinstall.",
            "0 3 * * * /usr/bin/borgmatic",
            "@reboot /usr/local/bin/thing %",
            " " + BEGIN_MARKER,
            "\t",
        ]
    ),
).filter(lambda line: line.rstrip("\r") not in (BEGIN_MARKER, END_MARKER))
endings = st.sampled_from(["\n", "\r\n"])
client_names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,15}", fullmatch=True)
cron_block_lines = st.lists(
    client_names.map(
        lambda name: client_cron_line(
            staggered_schedule(name), "/usr/bin/borgmatic", f"/etc/borgmatic.d/{name}.yaml"
        )
    ),
    max_size=4,
)


@st.composite
def user_crontabs(draw):
    """(text, outside-the-block text) for a crontab with or without a borgkeep block."""

    def foreign(may_lack_final_newline: bool) -> str:
        contents = draw(st.lists(cron_foreign_lines, max_size=5))
        lines = [content + draw(endings) for content in contents]
        if lines and may_lack_final_newline and draw(st.booleans()):
            lines[-1] = contents[-1]
        return "".join(lines)

    if not draw(st.booleans()):
        text = foreign(True)
        return text, text
    before, after = foreign(False), foreign(True)
    newline = draw(endings)
    old_lines = draw(cron_block_lines)
    block = "".join(line + newline for line in [BEGIN_MARKER, *old_lines, END_MARKER])
    return before + block + after, before + after


@given(user_crontabs(), cron_block_lines)
def test_render_crontab_keeps_foreign_lines_round_trips_and_is_idempotent(case, lines):
    text, outside = case
    rendered = render_crontab(text, lines)
    parsed = parse_managed_block(rendered)
    assert parsed.block_lines == lines
    if parse_managed_block(text).has_block or outside == "" or outside.endswith("\n"):
        assert parsed.before + parsed.after == outside
    else:
        assert parsed.before + parsed.after == outside + parsed.newline
    assert render_crontab(rendered, lines) == rendered
