"""Cron lines for client backups and server-side pruning, in a managed crontab block.

The client line names its actions (`create check`) because bare `borgmatic` also runs
prune and compact, which an append-only client must never attempt. Schedules are plain
5-field expressions only (no `@daily`, `@reboot`): they are what Debian's cron, croniter
and the review screen all read the same way.

`render_crontab` takes the text of `crontab -l` (Debian hides the "DO NOT EDIT" header
unless CRONTAB_NOHEADER=N, so the text round-trips through `crontab -`).

`retire_cron_lines` turns an old job of someone else's into a comment that keeps the whole
line (`# borgkeep took over: 0 3 * * * borgmatic`), so the diff shows it and undoing it is
deleting the prefix; `retired_cron_lines` reads those back on a later run.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection

from wizard.artefacts.managed_block import (
    foreign_lines_with_prefix,
    merge_managed_block,
    replace_foreign_lines,
)
from wizard.checks.fields import FieldError, check_absolute_path, check_cron, check_email

CLIENT_ACTIONS = ("create", "check")
# Flags that borgmatic 1.7.7 (Debian 12) and 2.x both accept. Errors only on the console,
# so cron mails only when something failed, and no colour codes in that mail.
QUIET_CONSOLE_FLAGS = ("--verbosity", "-1", "--no-color")
SYSLOG_FLAGS = ("--syslog-verbosity", "1")
LOG_FILE_VERBOSITY_FLAGS = ("--log-file-verbosity", "1")


def client_cron_line(
    schedule: str, borgmatic_path: str, config_path: str, log_path: str | None = None
) -> str:
    """`SCHEDULE /abs/borgmatic -c CONFIG ... create check` for the client's crontab.

    Logs go to syslog, or to `log_path` when given (1.7.7 ignores syslog then anyway).
    """
    cron_schedule = check_cron("schedule", schedule)
    words = [
        check_absolute_path("borgmatic path", borgmatic_path),
        "-c",
        check_absolute_path("borgmatic config path", config_path),
        *QUIET_CONSOLE_FLAGS,
    ]
    if log_path is None:
        words += SYSLOG_FLAGS
    else:
        words += ["--log-file", check_absolute_path("log file path", log_path)]
        words += LOG_FILE_VERBOSITY_FLAGS
    words += CLIENT_ACTIONS
    return f"{cron_schedule} {shlex.join(words)}"


def _check_cron_command(command: str) -> str:
    if not isinstance(command, str) or not command.strip():
        raise FieldError("cron command", "expected a non-empty command")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in command):
        raise FieldError("cron command", f"{command!r} contains a newline or control character")
    if "%" in command:
        raise FieldError(
            "cron command", f"{command!r} contains '%', which cron turns into a newline"
        )
    if not command.startswith("/"):
        raise FieldError("cron command", f"{command!r} must start with an absolute path")
    return command


def server_prune_cron_line(schedule: str, command: str) -> str:
    """`SCHEDULE COMMAND` for the borg user's crontab; the caller builds the command."""
    return f"{check_cron('prune schedule', schedule)} {_check_cron_command(command)}"


def _check_cron_line(index: int, line: str) -> None:
    if line.startswith("MAILTO="):
        check_email(f"crontab line {index + 1}", line.removeprefix("MAILTO="))
        return
    words = line.split(" ", 5)
    if len(words) < 6:
        raise FieldError(f"crontab line {index + 1}", f"{line!r} is not 'SCHEDULE COMMAND'")
    check_cron(f"crontab line {index + 1}", " ".join(words[:5]))
    _check_cron_command(words[5])


def render_crontab(existing: str | None, lines: list[str], mailto: str | None = None) -> str:
    """The user's crontab with borgkeep's block holding `lines`; foreign lines untouched.

    MAILTO=, environment lines and comments outside the block keep every byte. `mailto`
    becomes the block's first line, so cron mails what the block's jobs print to it (cron
    applies a MAILTO to the lines after it).
    """
    block = [f"MAILTO={mailto}", *lines] if mailto else list(lines)
    for index, line in enumerate(block):
        _check_cron_line(index, line)
    return merge_managed_block(existing, block)


RETIRED_PREFIX = "# borgkeep took over: "
"""Starts every line Borgkeep commented out; the original line follows it unchanged."""
_ENV_LINE_RE = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=")


def _is_comment_or_blank(content: str) -> bool:
    stripped = content.strip()
    return not stripped or stripped.startswith("#")


def retire_cron_lines(text: str | None, line_numbers: Collection[int]) -> str:
    """`text` (a crontab, `/etc/crontab` or a cron.d file) with the given 1-based lines
    commented out as `# borgkeep took over: <the line as it was>`.

    Everything else keeps every byte, Borgkeep's block included. A comment or blank line,
    so also a line already retired, stays as it is: retiring again changes nothing. A line
    in Borgkeep's block, a number out of range, and a `NAME=value` line (commenting it
    would change the environment of the jobs below it) raise ValueError.
    """

    def retire(number: int, content: str) -> str | None:
        if _is_comment_or_blank(content):
            return None
        if _ENV_LINE_RE.match(content):
            raise ValueError(
                f"crontab line {number} sets a variable for the jobs below it, it is not a job"
            )
        return RETIRED_PREFIX + content

    return replace_foreign_lines(text, line_numbers, retire, "crontab")


def retired_cron_lines(text: str | None) -> dict[int, str]:
    """1-based line number -> the original line, for each line Borgkeep retired in `text`."""
    return foreign_lines_with_prefix(text, RETIRED_PREFIX)
