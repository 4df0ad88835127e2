"""Every scheduled job that runs borgmatic or borg: crontabs, `/etc/cron.d` and systemd timers.

Three formats, one value per job: a user's crontab (`m h dom mon dow command`, `@daily
command`, `NAME=value` lines that apply to the jobs below them), `/etc/crontab` and
`/etc/cron.d` files (the same with the user after the schedule; Debian's cron skips
cron.d files whose names hold a dot), and systemd services with their timers (the last
`ExecStart=` list wins, drop-ins apply in name order). Lines inside Borgkeep's managed
block are Borgkeep's own, and say so, so the takeover never reads them as foreign.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from wizard.artefacts.managed_block import BEGIN_MARKER, END_MARKER
from wizard.takeover.command_lines import Environment, Invocation, find_invocations
from wizard.takeover.versions import Version, parse_version

ENV_LINE_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)\Z")
NICKNAMES = frozenset(
    {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
CRON_D_NAME_RE = re.compile(r"[A-Za-z0-9_-]+\Z")
SYSTEM_CRONTAB = "/etc/crontab"
CRON_DIRECTORIES = (
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
)
"""Gather lists these: cron.d files are `system_crontabs`, the others `periodic_scripts`."""
USER_UNIT_DIRECTORY = ".config/systemd/user"
"""Below each user's home: that user's own units (`user_systemd_units`)."""
RUN_PARTS_NOTE = "Debian's cron skips files whose name is not [A-Za-z0-9_-]+ (no dots)"
UNIT_DIRECTORIES = (
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/usr/local/lib/systemd/system",
    "/run/systemd/system",
    "/etc/systemd/system",
)
"""Lowest precedence first: a unit file in a later directory replaces an earlier one."""


@dataclass(frozen=True)
class ScheduledJob:
    """One job that runs borgmatic or borg, where it is written, and what it runs."""

    source: str
    """The file (`/etc/cron.d/borgmatic`, a unit) or `crontab of USER`."""
    line: int | None
    kind: str
    """"crontab", "system crontab" or "systemd"."""
    schedule: str | None
    user: str
    command: str
    invocations: tuple[Invocation, ...]
    managed_by_borgkeep: bool = False
    active: bool | None = True
    """False: cron or systemd will not run it (and `note` says why); None: not known."""
    note: str | None = None
    environment: Environment = field(default_factory=Environment)

    @property
    def can_prune(self) -> bool:
        return any(invocation.removes_archives for invocation in self.invocations)

    @property
    def can_compact(self) -> bool:
        return any(invocation.compacts for invocation in self.invocations)

    def describe(self) -> str:
        """`crontab of root, line 4: 0 3 * * * borgmatic (create, prune, compact, check)`."""
        where = f"{self.source}, line {self.line}" if self.line else self.source
        actions = "; ".join(
            f"{invocation.program} {' '.join(invocation.actions) or '(nothing)'}"
            for invocation in self.invocations
        )
        owner = " (Borgkeep's)" if self.managed_by_borgkeep else ""
        return f"{where}{owner}: {self.schedule or 'no schedule'} as {self.user}: {actions}"

    def to_json(self) -> dict[str, object]:
        """For `plan --json`: the command line is kept (a secret in it is the user's choice
        to fix), the environment by names only."""
        return {
            "source": self.source,
            "line": self.line,
            "kind": self.kind,
            "schedule": self.schedule,
            "user": self.user,
            "managed_by_borgkeep": self.managed_by_borgkeep,
            "active": self.active,
            "note": self.note,
            "environment": list(self.environment.names),
            "can_prune": self.can_prune,
            "can_compact": self.can_compact,
            "runs": [
                {
                    "program": invocation.program,
                    "actions": list(invocation.actions),
                    "bare": invocation.bare,
                    "config_paths": list(invocation.config_paths),
                    "repository": invocation.repository,
                    "dry_run": invocation.dry_run,
                    "run_as": invocation.run_as,
                }
                for invocation in self.invocations
            ],
        }


def _cron_command(text: str) -> str:
    """The command part of a cron line: cron ends it at the first unescaped `%`."""
    match = re.search(r"(?<!\\)%", text)
    command = text[: match.start()] if match else text
    return command.replace("\\%", "%")


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def jobs_in_crontab(
    text: str,
    *,
    source: str,
    version: Version | None,
    user: str | None = None,
    active: bool = True,
    note: str | None = None,
) -> tuple[ScheduledJob, ...]:
    """The borg and borgmatic jobs of one crontab. With `user`, a user's crontab (five
    time fields, then the command); without, a system one (`/etc/crontab`, cron.d:
    the user comes after the time fields)."""
    jobs: list[ScheduledJob] = []
    environment = Environment()
    in_block = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line in (BEGIN_MARKER, END_MARKER):
            in_block = line == BEGIN_MARKER
            continue
        if not line or line.startswith("#"):
            continue
        assignment = ENV_LINE_RE.match(line)
        if assignment and not line.startswith("@"):
            environment = environment.with_assignment(assignment[1], _unquote(assignment[2]))
            continue
        fields = line.split(None, 1 if line.startswith("@") else 5)
        schedule_size = 1 if line.startswith("@") else 5
        if line.startswith("@") and fields[0] not in NICKNAMES:
            continue
        rest = fields[schedule_size] if len(fields) > schedule_size else ""
        job_user = user
        if user is None:
            job_user, rest = (rest.split(None, 1) + [""])[:2]
        if not rest or not job_user:
            continue
        command = _cron_command(rest)
        invocations = find_invocations(command, version, environment)
        if invocations:
            jobs.append(
                ScheduledJob(
                    source=source,
                    line=number,
                    kind="crontab" if user is not None else "system crontab",
                    schedule=" ".join(fields[:schedule_size]),
                    user=job_user,
                    command=command,
                    invocations=invocations,
                    managed_by_borgkeep=in_block,
                    active=active,
                    note=note,
                    environment=environment,
                )
            )
    return tuple(jobs)


def jobs_in_periodic_script(
    path: str, text: str, *, version: Version | None
) -> tuple[ScheduledJob, ...]:
    """The borg and borgmatic runs of a `/etc/cron.daily` (hourly, weekly, monthly) script,
    one job per line; run-parts runs it as root and skips names with a dot."""
    period = posixpath.basename(posixpath.dirname(path))
    skipped = not CRON_D_NAME_RE.match(posixpath.basename(path))
    jobs = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line, pending = (pending + raw).strip(), ""
        if not line or line.startswith("#"):
            continue
        invocations = find_invocations(line, version)
        if invocations:
            jobs.append(
                ScheduledJob(
                    source=path,
                    line=start,
                    kind="periodic script",
                    schedule=period,
                    user="root",
                    command=line,
                    invocations=invocations,
                    active=not skipped,
                    note=RUN_PARTS_NOTE if skipped else None,
                )
            )
    return tuple(jobs)


def _unit_sections(texts: list[str]) -> dict[str, list[tuple[str, str]]]:
    """`[Section]` -> its `Key=value` pairs in order, over a unit and its drop-ins."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for text in texts:
        section = None
        pending = ""
        for raw in text.splitlines():
            line = pending + raw.strip()
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                sections.setdefault(section, [])
            elif section is not None and "=" in line:
                key, _, value = line.partition("=")
                sections[section].append((key.strip(), value.strip()))
    return sections


def _values(pairs: list[tuple[str, str]], key: str) -> list[str]:
    """Every value of `key`, an empty assignment resetting the list, as systemd does."""
    found: list[str] = []
    for name, value in pairs:
        if name == key:
            found = [] if value == "" else [*found, value]
    return found


def _unit_texts(units: Mapping[str, str], name: str) -> list[str]:
    """The unit file systemd uses (a later directory wins; a user unit's own directory is
    the only one) and its drop-ins, in the order systemd applies them."""
    mains = sorted(
        (path for path in units if posixpath.basename(path) == name),
        key=lambda path: (
            UNIT_DIRECTORIES.index(posixpath.dirname(path))
            if posixpath.dirname(path) in UNIT_DIRECTORIES
            else len(UNIT_DIRECTORIES)
        ),
    )
    main = [units[mains[-1]]] if mains else []
    drop_ins = sorted(
        (posixpath.basename(path), text)
        for path, text in units.items()
        if posixpath.dirname(path).endswith(f"/{name}.d") and path.endswith(".conf")
    )
    return main + [text for _, text in drop_ins]


def _exec_words(value: str) -> str:
    """An `ExecStart=` value as a command line: its prefixes (`-@:+!`) dropped."""
    prefix = re.match(r"[-@:+!]*", value).group()
    try:
        words = shlex.split(value[len(prefix) :])
    except ValueError:
        words = value[len(prefix) :].split()
    if "@" in prefix and len(words) > 1:
        words = [words[0], *words[2:]]
    return shlex.join(words)


def _timer_schedule(units: Mapping[str, str], timer: str) -> str:
    pairs = _unit_sections(_unit_texts(units, timer)).get("Timer", [])
    calendar = _values(pairs, "OnCalendar") + _values(pairs, "OnBootSec")
    return f"{timer}: {', '.join(calendar) or 'no OnCalendar'}"


def _service_note(sections: dict[str, list[tuple[str, str]]], timers: list[str]) -> str | None:
    """What else decides whether the service runs, and what it reads that gather did not."""
    conditions = [
        f"{key}={value}"
        for key, value in sections.get("Unit", [])
        if key.startswith(("Condition", "Assert")) and value
    ]
    files = _values(sections.get("Service", []), "EnvironmentFile")
    notes = [
        "no timer starts this service" if not timers else "",
        f"runs only if {', '.join(conditions)}" if conditions else "",
        f"its environment also comes from {', '.join(files)} (not read)" if files else "",
    ]
    return "; ".join(filter(None, notes)) or None


def _timers_active(timers: list[str], enabled: Mapping[str, bool] | None) -> bool | None:
    """True when an enabled timer starts the service, None when gather did not ask."""
    if not timers:
        return False
    if enabled is None:
        return None
    states = [enabled.get(timer) for timer in timers]
    return True if any(states) else None if None in states else False


def jobs_in_systemd_units(
    units: Mapping[str, str],
    *,
    version: Version | None,
    enabled_timers: Mapping[str, bool] | None = None,
    user: str = "root",
) -> tuple[ScheduledJob, ...]:
    """The services (with their timers) that run borg or borgmatic. `units`: path -> text
    of every unit file and drop-in gather read; `enabled_timers`: timer name -> whether
    systemd has it enabled, when gather asked; `user`: who runs units without `User=`
    (root for system units, the owner for user units)."""
    names = {posixpath.basename(path) for path in units}
    timers_of: dict[str, list[str]] = {}
    for timer in sorted(n for n in names if n.endswith(".timer")):
        sections = _unit_sections(_unit_texts(units, timer))
        target = (_values(sections.get("Timer", []), "Unit") or [timer[:-6] + ".service"])[-1]
        timers_of.setdefault(target, []).append(timer)
    jobs = []
    for service in sorted(n for n in names if n.endswith(".service")):
        sections = _unit_sections(_unit_texts(units, service))
        pairs = sections.get("Service", [])
        environment = Environment()
        for line in _values(pairs, "Environment"):
            for assignment in shlex.split(line):
                name, _, value = assignment.partition("=")
                environment = environment.with_assignment(name, value)
        run_as = (_values(pairs, "User") or [user])[-1]
        timers = timers_of.get(service, [])
        schedule = "; ".join(_timer_schedule(units, timer) for timer in timers) or None
        active = _timers_active(timers, enabled_timers)
        note = _service_note(sections, timers)
        for key in ("ExecStartPre", "ExecStart", "ExecStartPost"):
            for value in _values(pairs, key):
                command = _exec_words(value)
                invocations = find_invocations(command, version, environment)
                if not invocations:
                    continue
                jobs.append(
                    ScheduledJob(
                        source=service,
                        line=None,
                        kind="systemd",
                        schedule=schedule,
                        user=run_as,
                        command=command,
                        invocations=invocations,
                        active=active,
                        note=note,
                        environment=environment,
                    )
                )
    return tuple(jobs)


def find_scheduled_jobs(
    *,
    borgmatic_version: str | None,
    user_crontabs: Mapping[str, str] | None = None,
    system_crontabs: Mapping[str, str] | None = None,
    systemd_units: Mapping[str, str] | None = None,
    enabled_timers: Mapping[str, bool] | None = None,
    periodic_scripts: Mapping[str, str] | None = None,
    user_systemd_units: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[ScheduledJob, ...]:
    """Every job on one host that runs borgmatic or borg. `user_crontabs`: user -> the text
    of `crontab -l`; `system_crontabs`: path -> text of `/etc/crontab` and each
    `/etc/cron.d` file; `systemd_units`: path -> text of the unit files and drop-ins;
    `periodic_scripts`: path -> text of each `/etc/cron.{hourly,daily,weekly,monthly}` file;
    `user_systemd_units`: user -> (path -> text) of the units below `~/.config/systemd/user`.
    Timers' enabled states, when gather asked systemd, come in `enabled_timers`."""
    version = parse_version(borgmatic_version) if borgmatic_version else None
    jobs: list[ScheduledJob] = []
    for user, text in sorted((user_crontabs or {}).items()):
        jobs += jobs_in_crontab(text, source=f"crontab of {user}", version=version, user=user)
    for path, text in sorted((system_crontabs or {}).items()):
        ignored = path.startswith("/etc/cron.d/") and not CRON_D_NAME_RE.match(
            posixpath.basename(path)
        )
        note = (
            "Debian's cron skips cron.d files whose name is not [A-Za-z0-9_-]+" if ignored else None
        )
        jobs += jobs_in_crontab(text, source=path, version=version, active=not ignored, note=note)
    for path, text in sorted((periodic_scripts or {}).items()):
        jobs += jobs_in_periodic_script(path, text, version=version)
    jobs += jobs_in_systemd_units(
        systemd_units or {}, version=version, enabled_timers=enabled_timers
    )
    for user, units in sorted((user_systemd_units or {}).items()):
        jobs += jobs_in_systemd_units(units, version=version, user=user)
    return tuple(jobs)
