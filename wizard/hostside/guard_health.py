"""How every client's backups are doing, read on the server alone (clients may be down).

`status --json` prints it for `borgkeep status`; `health` (a daily cron job) checks it and
alerts on problems. Per client: the newest archive (and when the guard first saw it), the
number of archives, the deduplicated size, the space its repository takes against its
quota, and the guard's last run. Each client gets one state, the most urgent that applies:
`error`, `refused`, `never`, `stale`, `ok`.
"""

from __future__ import annotations

import contextlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta

from wizard.hostside.guard_borg import GuardFailure
from wizard.hostside.guard_borg import last_line
from wizard.hostside.guard_decision import ListedArchive
from wizard.hostside.guard_identity import check_identity
from wizard.hostside.guard_setup import ClientSetup
from wizard.hostside.guard_setup import ConfigError
from wizard.hostside.guard_setup import client_setup
from wizard.hostside.guard_state import GuardState
from wizard.hostside.guard_state import StateError
from wizard.hostside.guard_state import load_state
from wizard.hostside.guard_status_cache import Reading
from wizard.hostside.guard_status_cache import cached_reading
from wizard.hostside.guard_status_cache import load_record
from wizard.hostside.guard_status_cache import log_marker
from wizard.hostside.guard_status_cache import reading_of
from wizard.hostside.guard_status_cache import save_record
from wizard.hostside.guard_text import iso_utc
from wizard.hostside.guard_text import safe_name

STATES = ("error", "refused", "never", "stale", "ok")
"""Most urgent first: a client's state is the first of these that applies."""
LOW_SPACE_FRACTION = 0.10
STATUS_PARALLEL = 4


@dataclass
class ClientHealth:
    name: str
    state: str = "ok"
    newest: dict | None = None
    archives: int = 0
    size: int | None = None
    quota_used: int = 0
    quota_limit: int = 0
    guard: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "state": self.state,
            "newest_archive": self.newest,
            "archives": self.archives,
            "size": self.size,
            "quota": {"used": self.quota_used, "limit": self.quota_limit or None},
            "guard": self.guard,
            "problems": self.problems,
        }


def judge_client(
    name: str,
    listing: list[ListedArchive] | Reading | None,
    state: GuardState | None,
    stale_after: timedelta,
    now: datetime,
    error: str | None = None,
    identity: str | None = None,
) -> ClientHealth:
    """Pure: one client's state from its listing or its `Reading` (None when it could not
    be read), the
    guard's state, and the time. `problems` are one-line reasons, names escaped.
    `identity`: why the repository is not the one the guard protects (a rewritten key)."""
    health = ClientHealth(name)
    reasons: dict[str, str] = {}
    if error:
        reasons["error"] = error
    if identity:
        reasons["refused"] = (
            f"the guard refuses this repository: {identity}; put the key back with: borgkeep apply"
        )
    if state is None:
        reasons.setdefault("error", "the guard has no baseline for this repository")
    else:
        result = state.last_result or {}
        drill = state.last_drill or {}
        health.guard = {
            "last_run": iso_utc(state.last_run),
            "last_prune": iso_utc(state.last_prune) if state.last_prune else None,
            "last_result": result or None,
            "last_drill": drill or None,
        }
        if drill.get("status") == "failed":
            reasons.setdefault(
                "error", f"the restore drill failed at {drill.get('time')}: {drill.get('message')}"
            )
        if result.get("status") == "refused" and "refused" not in reasons:
            message = result.get("message", "")
            # the archives the message does not name already (it caps a long list)
            named = ", ".join(a for a in result.get("archives") or [] if a not in message)
            reasons["refused"] = f"the guard refused at {result.get('time')}: {message}" + (
                f" (archives: {named})" if named else ""
            )
        elif result.get("status") == "failed":
            reasons.setdefault("error", f"the guard failed at {result.get('time')}")
    if listing is not None:
        reading = listing if isinstance(listing, Reading) else reading_of(listing, None)
        health.archives = reading.archives
        newest = reading.newest
        if newest is not None:
            seen = state.archives.get(newest.id) if state is not None else None
            health.newest = {
                "name": safe_name(newest.name),
                "time": iso_utc(newest.time),
                "first_seen": iso_utc(seen.first_seen) if seen is not None else None,
            }
            if now - newest.time > stale_after:
                reasons["stale"] = (
                    f"stale: the newest archive, {safe_name(newest.name)}, is from "
                    f"{iso_utc(newest.time)} ({_age(now - newest.time)} ago)"
                )
        else:
            reasons["never"] = "never backed up: the repository has no archive yet"
    health.state = next(s for s in STATES if s in reasons or s == "ok")
    health.problems = [reasons[s] for s in STATES if s in reasons]
    return health


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def _directory_bytes(path: str) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def collect_client(setup: ClientSetup, entry: dict, now: datetime) -> ClientHealth:
    """Read one client's repository and the guard's state (read-only)."""
    error = None
    reading = None
    problem = None
    try:
        state = load_state(setup.state_dir, setup.client)
    except StateError as failure:
        state, error = None, str(failure)
    if os.path.lexists(setup.hidden):
        error = "the guard is pruning this repository right now (or a run was interrupted)"
    elif not os.path.isdir(setup.repository):
        error = f"no repository at {setup.repository}"
    else:
        try:
            recorded = state.identity if state is not None else None
            problem, _ = check_identity(setup.repository, recorded, setup.repokey_copy)
            if problem is None:
                reading = read_contents(setup)
        except GuardFailure as failure:
            error = error or str(failure)
    stale_after = timedelta(seconds=entry.get("stale_after", 0) or 2 * 86400)
    health = judge_client(setup.client, reading, state, stale_after, now, error, problem)
    health.size = reading.size if reading is not None else None
    health.quota_used = _directory_bytes(setup.repository)
    health.quota_limit = int(entry.get("quota", 0) or 0)
    return health


def read_contents(setup: ClientSetup) -> Reading:
    """The archives and size as Borg reads them, from the record of the last reading
    when the repository's log is unchanged since (`guard_status_cache`), else from Borg,
    recorded when the log did not change while Borg read it."""
    marker = log_marker(setup.repository)
    cached = cached_reading(load_record(setup.state_dir, setup.client), marker)
    if cached is not None:
        return cached
    listing = setup.tools.list_archives(setup.repository)
    reading = reading_of(listing, repository_size(setup))
    if marker is not None and log_marker(setup.repository) == marker:
        save_record(setup.state_dir, setup.client, marker, reading)
    return reading


def repository_size(setup: ClientSetup) -> int | None:
    """The deduplicated, compressed size of every archive (what the data really takes)."""
    tools = setup.tools
    result = tools.run([tools.borg, "info", "--json", "--lock-wait", "10", setup.repository])
    if result.returncode != 0:
        raise GuardFailure(f"borg info failed: {last_line(result.stderr)}")
    stats = json.loads(result.stdout).get("cache", {}).get("stats", {})
    return stats.get("unique_csize")


def _space(path: str) -> dict:
    """Free and total bytes of the filesystem holding `path`, or the error reading it."""
    try:
        stat = os.statvfs(path)
    except OSError as error:
        return {"error": error.strerror or str(error)}
    free, total = stat.f_bavail * stat.f_frsize, stat.f_blocks * stat.f_frsize
    return {
        "free": free,
        "total": total,
        "low_space": total > 0 and free < total * LOW_SPACE_FRACTION,
    }


def _device(path: str) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def server_space(config: dict) -> dict:
    """The space at repo_root; under "elsewhere" (only when there are any) the space of
    each other filesystem that holds a client's own `repository`."""
    repo_root = config.get("repo_root", "/")
    space = _space(repo_root)
    if "error" in space:
        server = {"repo_root": repo_root, **space}
    else:
        server = {"name": config.get("server"), "repo_root": repo_root, **space}
    seen = {_device(repo_root)}
    elsewhere = []
    for name in sorted(config.get("clients", {})):
        repository = config["clients"][name].get("repository")
        if not isinstance(repository, str):
            continue
        parent = os.path.dirname(repository)
        device = _device(parent)
        key = parent if device is None else device
        if key not in seen:
            seen.add(key)
            elsewhere.append({"path": parent, **_space(parent)})
    if elsewhere:
        server["elsewhere"] = elsewhere
    return server


def collect_status(config: dict, python: str, guard: str, now: datetime) -> dict:
    """The whole picture: the server's space and every client's health."""

    def one(name: str) -> ClientHealth:
        try:
            setup = client_setup(config, name, python, guard)
            return collect_client(setup, config["clients"][name], now)
        except (ConfigError, OSError) as error:
            return ClientHealth(name, "error", problems=[str(error)])

    with ThreadPoolExecutor(max_workers=STATUS_PARALLEL) as pool:
        clients = list(pool.map(one, sorted(config.get("clients", {}))))
    return {
        "time": iso_utc(now),
        "server": server_space(config),
        "clients": [client.as_json() for client in clients],
    }


def health_problems(status: dict) -> list[tuple[str, str, str]]:
    """(client or 'server', state, line) for everything that needs attention."""
    problems = []
    server = status["server"]
    for path, space in [
        (server["repo_root"], server),
        *((e["path"], e) for e in server.get("elsewhere", ())),
    ]:
        if space.get("error"):
            problems.append(("server", "error", f"cannot read {path}: {space['error']}"))
        elif space.get("low_space"):
            problems.append(
                (
                    "server",
                    "low_space",
                    f"low disk space at {path}: {space['free'] // 2**20} MiB free "
                    f"of {space['total'] // 2**20} MiB",
                )
            )
    for client in status["clients"]:
        if client["state"] != "ok":
            problems.append((client["name"], client["state"], "; ".join(client["problems"])))
    return problems
