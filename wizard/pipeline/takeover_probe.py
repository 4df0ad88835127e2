"""What a takeover will find in the repository, read on the server before anything is
written (issue 21): how many archives the guard's baseline will hold and the newest, for the
plan; a repository that is locked, or is Borg 2's, refused with one clear line. Read only:
`borg list` as the borg user, the passphrase on stdin, never on a command line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from wizard.pipeline.desired.items import DesiredStateError, Passphrase
from wizard.remote.shell_files import shell_script
from wizard.remote.step_timeouts import BORG

LOCK_WAIT_FAILED = ("lock", "timeout")
BORG2_EXIT, NOT_A_REPOSITORY_EXIT = 76, 77


@dataclass(frozen=True)
class FoundArchives:
    """The archives a taken-over repository holds, as `borg list --json` said at plan."""

    count: int
    newest: str | None
    newest_time: str | None
    """Borg's own timestamp of the newest archive (the server's local time)."""

    def describe(self, client: str, now: datetime | None = None) -> str:
        plural = "archive" if self.count == 1 else "archives"
        line = f"baseline: {self.count} existing {plural} of {client}"
        if self.newest and self.newest_time:
            line += f", newest {self.newest} ({self.newest_time[:16].replace('T', ' ')}"
            age = _age(self.newest_time, now or datetime.now())
            line += f", {age} ago)" if age else ")"
        return line

    def to_json(self) -> dict[str, object]:
        return {"count": self.count, "newest": self.newest, "newest_time": self.newest_time}


def _age(stamp: str, now: datetime) -> str | None:
    try:
        seconds = (now - datetime.fromisoformat(stamp)).total_seconds()
    except ValueError:
        return None
    if seconds < 0:
        return None
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return "under a minute"


def probe_script(repository: str, borg: str) -> str:
    return shell_script(["takeover_probe.sh"], [repository, borg])


def read_probe(client: str, repository: str, returncode: int, stdout: bytes, stderr: bytes):
    """The archives found, None when Borg could not tell (the plan's own checks of the key
    and passphrase then say why), or a refusal for a locked or a Borg 2 repository."""
    said = stderr.decode("utf-8", "replace").strip()
    if returncode == BORG2_EXIT:
        raise DesiredStateError(
            client,
            f"cannot take over {repository}: it is a Borg 2 repository, which Borg 1.2 and "
            "1.4 (what Borgkeep sets up) cannot read. Start a new repository beside it "
            "(`repository:` at Borgkeep's default path) or leave the client out",
        )
    if returncode != 0:
        last = said.splitlines()[-1] if said else f"exit {returncode}"
        if all(word in last.lower() for word in LOCK_WAIT_FAILED):
            raise DesiredStateError(
                client,
                f"cannot take over {repository} now: it is locked ({last}). A backup or "
                "prune may be running: plan again when it is done (a lock left by a "
                "crashed run: `borg break-lock` on the server, as the borg user)",
            )
        return None
    try:
        archives = json.loads(stdout)["archives"]
    except (ValueError, KeyError, TypeError):
        return None
    newest = max(archives, key=lambda a: a.get("time", ""), default=None)
    return FoundArchives(
        len(archives),
        newest.get("name") if newest else None,
        newest.get("time") if newest else None,
    )


def probe_takeovers(
    run,
    repositories: Mapping[str, str],
    passphrases: Mapping[str, Passphrase],
    borg: str,
) -> dict[str, FoundArchives | None]:
    """Each client's repository probed with `run(script, stdin) -> (returncode, out, err)`
    (as the borg user on the server): what it holds, or a refusal (`read_probe`)."""
    found: dict[str, FoundArchives | None] = {}
    for client, repository in repositories.items():
        passphrase = passphrases.get(client)
        if passphrase is None:
            continue
        stdin = (passphrase.value + "\n").encode()
        code, out, err = run(probe_script(repository, borg), stdin)
        found[client] = read_probe(client, repository, code, out, err)
    return found


def with_archives(takeovers: Mapping, found: Mapping[str, FoundArchives | None]) -> dict:
    """The takeovers with what their repositories hold (for the plan's lines and JSON)."""
    return {
        client: replace(takeover, archives=found.get(client))
        for client, takeover in takeovers.items()
    }


def probe_fleet_takeovers(conn, identity, server_facts, settings, takeovers, passphrases) -> dict:
    """`with_archives` for every takeover still to do, read over the server's connection
    (`conn`, as `identity` runs the borg user); the others as they are."""
    pending = {client: t.repository for client, t in takeovers.items() if not t.done}
    if not pending:
        return dict(takeovers)
    run_as = identity.as_user(settings.borg_user)

    def run(script: str, stdin: bytes) -> tuple[int, bytes, bytes]:
        result = conn.run(run_as.wrap(script), stdin=stdin, kind=BORG)
        return result.rc, result.stdout, result.stderr

    found = probe_takeovers(run, pending, passphrases, server_facts.borg_path or "borg")
    return with_archives(takeovers, found)
