"""Defaults, resolved in one place: borg user, repo root, server address, schedules, retention.

Everything here is pure: the login user and address come from the ssh target (resolved
locally from `~/.ssh/config`), the borg user's home from the server's facts.
"""

from __future__ import annotations

import itertools
import posixpath
from dataclasses import dataclass
from datetime import datetime, timedelta

from wizard.checks.cron import staggered_schedule
from wizard.checks.fields import duration_seconds, split_host_port
from wizard.inventory.model import ClientSpec, Inventory

DEFAULT_BORG_USER = "borg"
DEFAULT_ROOT_REPO_ROOT = "/backups"
DEFAULT_PRUNE_SCHEDULE = "30 7 * * *"


@dataclass(frozen=True)
class ServerSettings:
    name: str
    login_user: str
    borg_user: str
    address_host: str
    address_port: int
    prune_schedule: str
    repo_root_setting: str | None
    drill_schedule: str | None = None
    placed_repositories: tuple[tuple[str, str], ...] = ()
    """(client, absolute path) for clients whose inventory sets `repository:`."""

    @property
    def root_login(self) -> bool:
        return self.login_user == "root"

    def repo_root(self, borg_home: str) -> str:
        """`repo_root` from the inventory, else /backups for a root login, else ~/backups."""
        if self.repo_root_setting:
            return self.repo_root_setting
        if self.root_login:
            return DEFAULT_ROOT_REPO_ROOT
        return posixpath.join(borg_home, "backups")


def resolve_server(inventory: Inventory, login_user: str, host: str, port: int) -> ServerSettings:
    """`login_user`, `host`, `port`: how borgkeep itself reaches the server (ssh config applied)."""
    spec = inventory.server
    if spec.address:
        address_host, address_port = split_host_port("server.address", spec.address)
        address_port = address_port or 22
    else:
        address_host, address_port = host, port
    borg_user = spec.borg_user or (DEFAULT_BORG_USER if login_user == "root" else login_user)
    return ServerSettings(
        name=spec.name,
        login_user=login_user,
        borg_user=borg_user,
        address_host=address_host,
        address_port=address_port,
        prune_schedule=spec.prune_schedule or DEFAULT_PRUNE_SCHEDULE,
        repo_root_setting=spec.repo_root,
        drill_schedule=spec.drill_schedule,
        placed_repositories=tuple(
            (client.name, client.repository) for client in inventory.clients if client.repository
        ),
    )


def default_borg_home(borg_user: str) -> str:
    """Home of a borg user that `useradd --create-home` will make."""
    return f"/home/{borg_user}"


def client_schedule(client: ClientSpec) -> str:
    """The client's own schedule, else a stable staggered time from its name alone."""
    return client.schedule or staggered_schedule(client.name)


MANUAL_BACKUP_ALLOWANCE = 4
"""Backups a day beyond the schedule that the guard accepts (first backups, manual runs)."""


def daily_run_minutes(schedule: str) -> tuple[int, ...] | None:
    """The minutes of the day a schedule runs at when it runs the same way every day (day of
    month, month and day of week all `*`, minute and hour plain numbers or lists of them);
    None for anything else, which the callers then walk with croniter."""
    fields = schedule.split()
    if len(fields) != 5 or fields[2:] != ["*", "*", "*"]:
        return None
    parts = fields[0].split(",") + fields[1].split(",")
    if not all(part.isascii() and part.isdigit() for part in parts):
        return None
    minutes = {int(m) for m in fields[0].split(",")}
    hours = {int(h) for h in fields[1].split(",")}
    if not all(0 <= m < 60 for m in minutes) or not all(0 <= h < 24 for h in hours):
        return None
    return tuple(sorted(60 * h + m for h in hours for m in minutes))


def client_backups_per_day(client: ClientSpec) -> int:
    """The most archives a client may add in a day: its schedule's busiest day, plus a few
    manual runs. More than that is a burst the guard refuses."""
    schedule = client_schedule(client)
    daily = daily_run_minutes(schedule)
    busiest = len(daily) if daily is not None else walked_busiest_day(schedule)
    return busiest + MANUAL_BACKUP_ALLOWANCE


def walked_busiest_day(schedule: str) -> int:
    """The most runs on one day of two weeks from a fixed Monday (the answer must not drift)."""
    from croniter import croniter  # on first use: the first screen stays light

    start = datetime(2026, 1, 5)
    runs = croniter(schedule, start - timedelta(seconds=1))
    per_day: dict[object, int] = {}
    while (moment := runs.get_next(datetime)) < start + timedelta(days=14):
        per_day[moment.date()] = per_day.get(moment.date(), 0) + 1
    return max(per_day.values(), default=1)


def client_stale_after(inventory: Inventory, client: ClientSpec) -> int:
    """Seconds after which a client's newest archive is stale: `alerts.stale_after`, else
    twice the longest gap between two runs of its schedule."""
    if inventory.alerts.stale_after:
        return duration_seconds(inventory.alerts.stale_after)
    schedule = client_schedule(client)
    daily = daily_run_minutes(schedule)
    if daily is None:
        return 2 * walked_longest_gap(schedule)
    # every day alike: the longest gap of one day, counting the wrap to the next
    gaps = [b - a for a, b in itertools.pairwise(daily)] + [daily[0] + 1440 - daily[-1]]
    return 2 * 60 * max(gaps)


def walked_longest_gap(schedule: str) -> int:
    """The longest gap in seconds between two runs in five weeks from a fixed Monday."""
    from croniter import croniter

    start = datetime(2026, 1, 5)
    runs = croniter(schedule, start)
    previous, longest = runs.get_next(datetime), timedelta(0)
    while previous < start + timedelta(days=35):
        moment = runs.get_next(datetime)
        longest, previous = max(longest, moment - previous), moment
    return int(longest.total_seconds())


def client_retention(inventory: Inventory, client: ClientSpec) -> dict:
    """The default retention with the client's override merged over it."""
    return {**inventory.retention, **client.retention}


def repository_url(settings: ServerSettings, repo_path: str) -> str:
    host = settings.address_host
    return f"ssh://{settings.borg_user}@{host}:{settings.address_port}{repo_path}"


def suggested_quota(free_bytes: int, clients: int) -> str:
    """A per-client quota the wizard proposes: an equal share of 80% of the server's free
    space at the repository root, in whole gigabytes (at least Borg's 10M minimum)."""
    share = int(free_bytes * 0.8 / max(clients, 1))
    if share >= 10**9:
        return f"{share // 10**9}G"
    return f"{max(share // 10**6, 10)}M"
