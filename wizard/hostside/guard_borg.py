"""Running borg and borgmatic for the guard, and taking a repository out of a client's reach.

Every call is an argv (never a shell), stdin from /dev/null, with BORG_PASSCOMMAND reading
the passphrase file, BORG_RELOCATED_REPO_ACCESS_IS_OK=yes (the guard opens the repository
under a second path), TZ=UTC (borg prints and prunes in local time) and LC_ALL=C.UTF-8.

A client's forced command is `borg serve --append-only --restrict-to-repository
REPOSITORY`, where REPOSITORY is `{repo_root}/{client}` or the client's own `repository`
(one adopted where it already was). Renaming that directory beside itself, to
`.{basename}.borgkeep-guard` in the same parent, puts it where the client cannot reach
it, so nothing can change between the guard's checks, the prune and the compact. The rename is made under borg's own repository lock
(`lock.exclusive`, taken the way borg takes it), so it never moves a repository under a
running backup.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass

from wizard.hostside.guard_decision import ListedArchive
from wizard.hostside.guard_text import parse_iso_utc
from wizard.hostside.guard_text import safe_name

HIDDEN_SUFFIX = ".borgkeep-guard"
BORG_LOCK_DIR = "lock.exclusive"
_OWN_LOCK_RE = re.compile(r"borgkeep-guard\.(\d+)-0\Z")
_ARCHIVE_ID_RE = re.compile(r"[0-9a-f]{64}\Z")
_PRUNE_LINE_RE = re.compile(
    r"(?P<what>Pruning archive \(\d+/\d+\):|Would prune:|Keeping archive \(rule: [^)]*\):"
    r"|Keeping checkpoint archive:).*\[(?P<id>[0-9a-f]{64})\]\s*\Z"
)
BORGMATIC_OUTPUT_FLAGS = ("--verbosity", "0", "--syslog-verbosity", "-1", "--no-color")
"""Verbosity 0: borgmatic 1.7.7 and 2.x both log borg's `--list` lines (level ANSWER) on
stdout; at -1 they are dropped. Syslog -1: errors only."""


class GuardFailure(Exception):
    """Something the guard could not do; its text is the operator's message (exit 1)."""


@dataclass(frozen=True)
class PruneReport:
    """The archive IDs in borg's `prune --list` lines: removed (or would be) and kept."""

    removed: tuple[str, ...]
    kept: tuple[str, ...]


def hidden_path_of(repository: str) -> str:
    """Where the guard hides `repository` while it works: beside it, in the same parent
    (same filesystem, so the rename is atomic), as `.{basename}.borgkeep-guard`."""
    parent, name = os.path.split(repository.rstrip("/"))
    return os.path.join(parent, f".{name}{HIDDEN_SUFFIX}")


def hidden_repository_path(repo_root: str, client: str) -> str:
    """The hidden path of a repository at the default place, `{repo_root}/{client}`."""
    return hidden_path_of(os.path.join(repo_root, client))


def last_line(output: str) -> str:
    """The last non-empty line of a tool's output, escaped and shortened, for a message."""
    lines = [line for line in output.splitlines() if line.strip()]
    text = safe_name(lines[-1].strip()) if lines else "no output"
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass(frozen=True)
class BorgTools:
    borg: str
    borgmatic: str
    passphrase_file: str
    lock_wait: int
    read_only: bool = False
    """Only reading (the checks): borg skips its start-up self-test (`BORG_SELFTEST`), a
    tenth of a second of CPU per borg process; anything that writes keeps it."""

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("BORG_")}
        env.update(
            BORG_PASSCOMMAND=f"cat {shlex.quote(self.passphrase_file)}",
            BORG_RELOCATED_REPO_ACCESS_IS_OK="yes",
            BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="no",
            TZ="UTC",
            LC_ALL="C.UTF-8",
            BORG_FUSE_IMPL="none",  # never `borg mount`: no FUSE library to load
        )
        if self.read_only:
            env["BORG_SELFTEST"] = "disabled"
        return env

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Run to completion; a signal to the guard stops the child first, then propagates."""
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.environment(),
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
        )
        try:
            stdout, stderr = process.communicate()
        except BaseException:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            raise
        return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)

    def list_archives(self, repository: str) -> list[ListedArchive]:
        """Every archive, checkpoints included: `borg list` hides names containing
        ".checkpoint" unless asked, but prune counts (and removes) them."""
        argv = [self.borg, "list", "--json", "--consider-checkpoints", "--lock-wait"]
        argv += [str(self.lock_wait), repository]
        result = self.run(argv)
        if result.returncode != 0:
            raise GuardFailure(
                f"could not list the archives of {repository} (borg list exit "
                f"{result.returncode}: {last_line(result.stderr)})"
            )
        return parse_archive_listing(result.stdout)

    def reanchor(self, repository: str) -> None:
        """Open the repository once at its real path again: borg remembers where it last saw
        a repository, and would otherwise ask the borg user's own borg commands whether the
        relocation to the hidden path was intended. Best effort."""
        self.run([self.borg, "list", "--short", "--last", "1", "--lock-wait", "5", repository])

    def check_archives(self, repository: str) -> subprocess.CompletedProcess[str]:
        argv = [self.borg, "check", "--archives-only", "--lock-wait", str(self.lock_wait)]
        return self.run([*argv, repository])

    def run_borgmatic(self, config: str, *action: str) -> subprocess.CompletedProcess[str]:
        return self.run([self.borgmatic, "-c", config, *BORGMATIC_OUTPUT_FLAGS, *action])


def parse_archive_listing(text: str) -> list[ListedArchive]:
    """`borg list --json` → archives in borg's order; names arrive JSON-escaped."""
    try:
        data = json.loads(text)
        archives = []
        for entry in data["archives"]:
            archive_id, name = entry["id"], entry["name"]
            if not isinstance(name, str) or not _ARCHIVE_ID_RE.match(archive_id):
                raise ValueError("bad archive entry")
            archives.append(ListedArchive(archive_id, name, parse_iso_utc(entry["time"])))
    except (ValueError, KeyError, TypeError) as error:
        raise GuardFailure(f"could not read borg list's JSON output ({error})") from None
    return archives


def parse_prune_list(output: str) -> PruneReport:
    """IDs from borg's prune `--list` lines; the ID is in the last brackets of a line."""
    removed, kept = [], []
    for line in output.splitlines():
        match = _PRUNE_LINE_RE.search(line)
        if match is None:
            continue
        if match["what"].startswith(("Pruning", "Would")):
            removed.append(match["id"])
        else:
            kept.append(match["id"])
    return PruneReport(tuple(removed), tuple(kept))


def substitute_repository(config_text: str, real: str, hidden: str) -> str:
    """The prune config with the one YAML scalar that is exactly the repository path (1.7:
    `- /backups/host1`; >= 1.8: `- path: /backups/host1`) pointing at `hidden`."""
    pattern = re.compile(
        r"^(?P<lead>[ \t]*- (?:path:[ \t]+)?)(?P<quote>['\"]?)"
        + re.escape(real)
        + r"(?P=quote)(?P<trail>[ \t]*)$",
        re.MULTILINE,
    )
    replaced, count = pattern.subn(
        lambda match: f"{match['lead']}{match['quote']}{hidden}{match['quote']}{match['trail']}",
        config_text,
    )
    if count != 1:
        raise GuardFailure(
            f"the prune config names the repository {real} {count} times as a repository "
            "entry, not exactly once; cannot point it at the hidden path"
        )
    return replaced


def _remove_own_stale_lock(lock: str) -> bool:
    """Remove a lock this guard took in a run that was killed (its process is gone)."""
    try:
        names = os.listdir(lock)
    except FileNotFoundError:
        return True
    if len(names) != 1 or not (match := _OWN_LOCK_RE.match(names[0])):
        return False
    try:
        os.kill(int(match[1]), 0)
        return False
    except ProcessLookupError:
        pass
    except PermissionError:
        return False
    os.unlink(os.path.join(lock, names[0]))
    os.rmdir(lock)
    return True


def take_repository_lock(repository: str, lock_wait: int) -> str:
    """Borg's exclusive lock on `repository` (a temp dir holding our name, renamed onto
    `lock.exclusive`, which fails while anyone holds it); waits up to `lock_wait` s."""
    lock = os.path.join(repository, BORG_LOCK_DIR)
    own_name = f"borgkeep-guard.{os.getpid()}-0"
    deadline = time.monotonic() + lock_wait
    while True:
        temporary = tempfile.mkdtemp(prefix=f"{BORG_LOCK_DIR}.", suffix=".tmp", dir=repository)
        with open(os.path.join(temporary, own_name), "x"):
            pass
        try:
            os.rename(temporary, lock)
            return os.path.join(lock, own_name)
        except OSError:
            os.unlink(os.path.join(temporary, own_name))
            os.rmdir(temporary)
        if _remove_own_stale_lock(lock):
            continue
        if time.monotonic() >= deadline:
            raise GuardFailure(
                f"{repository} stayed locked by another borg process for {lock_wait} s "
                "(a backup running, or a client holding the lock)"
            )
        time.sleep(1)


def release_lock(lock_file: str) -> None:
    os.unlink(lock_file)
    os.rmdir(os.path.dirname(lock_file))


def recover_hidden_repository(real: str, hidden: str) -> str | None:
    """Put back a repository that a killed run left hidden; returns what was done, if anything."""
    if not os.path.lexists(hidden):
        return None
    if os.path.lexists(real):
        raise GuardFailure(
            f"both {real} and {hidden} exist (a guard run was interrupted, and the client "
            f"path was created again since); touching neither: compare them, keep the right "
            f"one at {real} and move the other away"
        )
    os.rename(hidden, real)
    return f"restored {real} from {hidden}, where an interrupted guard run had left it"


def hide_repository(real: str, hidden: str, lock_wait: int) -> None:
    """Take the repository out of the client's reach (see the module docstring)."""
    try:
        mode = os.lstat(real).st_mode
    except FileNotFoundError:
        raise GuardFailure(f"repository {real} does not exist") from None
    if not stat.S_ISDIR(mode):
        raise GuardFailure(f"{real} is not a directory (a symlink?); refusing to use it")
    lock_file = take_repository_lock(real, lock_wait)
    try:
        if os.path.lexists(hidden):
            raise GuardFailure(f"{hidden} exists already; not moving {real} onto it")
        os.rename(real, hidden)
    except BaseException:
        release_lock(lock_file)
        raise
    release_lock(os.path.join(hidden, BORG_LOCK_DIR, os.path.basename(lock_file)))


def restore_repository(real: str, hidden: str) -> None:
    """Put the repository back; never over a path a client created meanwhile."""
    if os.path.lexists(real):
        raise GuardFailure(
            f"{real} was created again while the guard held the repository at {hidden} (a "
            f"client ran borg init?); left both untouched: move the new {real} away, then "
            f"rename {hidden} back to {real}"
        )
    try:
        os.rename(hidden, real)
    except OSError as error:
        raise GuardFailure(
            f"could not move {hidden} back to {real} ({error.strerror}); left both untouched"
        ) from None


def write_temporary_config(state_dir: str, client: str, text: str) -> str:
    """A 0600 copy of the prune config in the state dir (mkstemp: O_EXCL, never a symlink)."""
    descriptor, path = tempfile.mkstemp(dir=state_dir, prefix=f".prune-{client}.", suffix=".yaml")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
