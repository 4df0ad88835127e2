"""Read-only fact gathering over one SSH connection.

Round 1 learns who we are and what is installed; then every managed path is read (its
location depends on round 1: home, root or not, the borg user's home), each by the account
that owns it (see `wizard.pipeline.identity`): on a client the login; on the server root
reads only metadata around the repository root, the borg user everything in its own tree.
"""

from __future__ import annotations

import contextlib
import posixpath
from dataclasses import dataclass, field, replace

from wizard.artefacts.guard_program import (
    alerts_file_path,
    guard_program_path,
    guard_state_path,
    legacy_state_path,
)
from wizard.artefacts.layout import client_paths
from wizard.hostside.guard_borg import hidden_path_of
from wizard.inventory.settings import ServerSettings
from wizard.pipeline.existing_reads import (
    existing_setup_script,
    more_reads_script,
    parse_existing_output,
)
from wizard.pipeline.existing_setup import discover_client_configs, public_keys_to_read
from wizard.pipeline.facts import (
    LINK,
    DirState,
    FileState,
    HostFacts,
    PathProblem,
    link_problem,
    not_a_directory_problem,
    not_a_file_problem,
    server_layout,
    unreadable_problem,
)
from wizard.pipeline.host_basics import (
    FactsError,
    connection_host_key,
    gather_basic,
    gather_basic_and,
)
from wizard.pipeline.identity import (
    HostIdentity,
    ancestors,
    client_identity,
    needs_sudo,
    server_identity,
)
from wizard.pipeline.login_cache import LoginCache
from wizard.remote import reads
from wizard.remote.reads import ReadRace, cut, read_paths_script
from wizard.remote.step_timeouts import QUICK


def _problem(expected: str, kind: str, path: str, reader: str) -> PathProblem:
    if kind == LINK:
        return link_problem(path)
    if expected == "file":
        return unreadable_problem(path, reader) if kind == "file" else not_a_file_problem(path)
    return not_a_directory_problem(path)


def parse_paths_output(facts: HostFacts, text: str, reader: str = "") -> tuple[HostFacts, set[str]]:
    """Facts with every path read (by `reader`); plus the paths that exist but were not
    read as files."""
    read = _PathReads({p.path: p for p in facts.problems}, reader or facts.login_user)
    for line in reads.read_lines(text):
        read.take(line)
    for path, content in zip(read.in_order, cut(read.blob, read.in_order, read.sizes), strict=True):
        read.files[path] = replace(read.files[path], content=content)
    for path, stat in read.stats.items():
        if path in read.files and read.files[path].kind == "file":
            read.files[path] = replace(
                read.files[path],
                mode=stat.mode,
                owner=stat.owner,
                group=stat.group,
                mtime=stat.mtime,
            )
        if path in read.dirs and read.dirs[path].kind == "dir":
            read.dirs[path] = replace(
                read.dirs[path], mode=stat.mode, owner=stat.owner, group=stat.group
            )
    facts = parse_existing_output(facts, text, cut)
    return replace(
        facts,
        files={**facts.files, **read.files},
        dirs={**facts.dirs, **read.dirs},
        crontabs={**facts.crontabs, **read.crontabs},
        initialised_repos=facts.initialised_repos | frozenset(read.repos),
        free_space={**facts.free_space, **read.space},
        problems=tuple(read.problems.values()),
        existing=facts.existing | frozenset(read.present),
    ), read.present


@dataclass
class _PathReads:
    """What one read script's answers say, gathered line by line (`take`)."""

    problems: dict[str, PathProblem]
    reader: str
    files: dict[str, FileState] = field(default_factory=dict)
    dirs: dict[str, DirState] = field(default_factory=dict)
    crontabs: dict[str, str | None] = field(default_factory=dict)
    repos: set[str] = field(default_factory=set)
    present: set[str] = field(default_factory=set)
    space: dict[str, int] = field(default_factory=dict)
    stats: dict[str, reads.Stat] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    in_order: list[str] = field(default_factory=list)
    blob: bytes = b""

    def take(self, line: reads.ReadLine) -> None:
        tag, rest = line.tag, line.rest
        if tag == reads.FILE:
            self.files[rest] = FileState(rest, b"", None, None, None, "file")
            self.in_order.append(rest)
        elif tag == reads.CONTENTS:
            self.blob = line.payload or b""
        elif tag == reads.DIR:
            self.dirs[rest] = DirState(rest, True, None, None, None, "dir")
        elif tag == reads.STAT:
            path, stat = reads.parse_stat(rest)
            self.stats[path] = stat
            self.sizes[path] = stat.size
        elif tag == reads.HASHED:
            mode, owner, group, digest, path = rest.split(" ", 4)
            self.files[path] = FileState(path, None, int(mode, 8), owner, group, "file", digest)
        elif tag == reads.PROBLEM:
            self._problem(*rest.split(" ", 2))
        elif tag == reads.ABOVE:
            kind, mode, owner, path = rest.split(" ", 3)
            if path not in self.dirs:
                self.dirs[path] = DirState(path, kind == "dir", int(mode, 8), owner, None, kind)
        elif tag == reads.EXISTS:
            self.present.add(rest)
        elif tag == reads.REPOSITORY:
            self.repos.add(rest)
        elif tag == reads.CRONTAB:
            self.crontabs[rest] = (line.payload or b"").decode("utf-8", "surrogateescape")
        elif tag == reads.NO_CRONTAB:
            self.crontabs[rest] = None
        elif tag == reads.SPACE:
            amount, path = rest.split(" ", 1)
            if amount.isdigit():
                self.space[path] = int(amount) * 1024

    def _problem(self, expected: str, kind: str, path: str) -> None:
        self.problems.setdefault(path, _problem(expected, kind, path, self.reader))
        self.present.add(path)
        if expected == "file":
            self.files.setdefault(path, FileState(path, None, kind=kind))
        else:
            self.dirs.setdefault(path, DirState(path, False, kind=kind))


def run_reads(conn, wrapped: str, reader: str, facts: HostFacts) -> tuple[HostFacts, set[str]]:
    """Run a read script (already wrapped for its account) and parse it; once more when a
    file changed size while it was read, then give up naming the files."""
    race = None
    for _ in range(3):
        result = conn.run(wrapped, check=True, kind=QUICK)
        try:
            return parse_paths_output(facts, result.stdout.decode("utf-8", "replace"), reader)
        except ReadRace as error:
            race = error
    raise FactsError(facts.host, f"files kept changing while read: {race}")


def client_read_script(facts: HostFacts, name: str) -> str:
    """Round 2 on a client: its key, pin, passphrase file, config and crontab, as the login
    (whose files they are), and what an existing Borg setup may have (`existing_reads`).
    It depends only on the login, its home and whether it is root."""
    identity = client_identity(facts)
    paths = client_paths(name, facts.home, facts.is_root)
    files = [paths.public_key, paths.known_hosts, paths.passphrase, paths.config]
    files.append(paths.legacy_config)  # moved from there on the next apply
    dirs = [paths.ssh_dir, paths.secrets_dir]
    script = read_paths_script(
        files=[(path, identity.base(path)) for path in files],
        dirs=[(path, identity.base(path)) for path in dirs if identity.controller(path)],
        exists=[paths.key],
        crontab_of=facts.login_user,
    )
    return identity.login.wrap(script + existing_setup_script(facts, name))


def gather_client_facts(conn, name: str, logins: LoginCache | None = None) -> HostFacts:
    """A client's facts in one round when its login is what it was last time: round 2 is
    guessed from the login the operator's cache remembers (`LoginCache`) and runs with
    round 1; its output counts only if round 1 shows the guess was exactly right (the same
    script), else round 2 runs again. A first contact takes two rounds."""
    logins = logins if logins is not None else LoginCache()
    host_key = connection_host_key(conn)
    guess = logins.get(host_key, name)
    guessed = client_read_script(guess, name) if guess is not None else None
    facts, output = gather_basic_and(conn, name, guessed)
    script = client_read_script(facts, name)
    read = None
    if output is not None and script == guessed:
        with contextlib.suppress(ReadRace):  # read again below, like any other race
            read = parse_paths_output(facts, output)
    facts, present = read or run_reads(conn, script, "", facts)
    facts = read_existing_includes(conn, facts, name)
    logins.put(host_key, name, facts)
    paths = client_paths(name, facts.home, facts.is_root)
    public = facts.file(paths.public_key).text
    if public and paths.key in present:
        facts = replace(facts, client_public_key=" ".join(public.split()[:2]))
    return facts


MAX_INCLUDE_ROUNDS = 4


def read_existing_includes(conn, facts: HostFacts, name: str) -> HostFacts:
    """The includes and `-c` paths of an existing setup's configs, a round per level, then
    the public keys their `ssh_command` names; only when discovery still needs any (a
    client without includes or `-i` keys needs none)."""
    for _ in range(MAX_INCLUDE_ROUNDS):
        discovery = discover_client_configs(facts, name)
        if discovery is None:
            break
        to_read, to_list = discovery.to_read, discovery.to_list
        if discovery.complete:
            to_read = public_keys_to_read(facts, discovery)
            if not to_read:
                break
        script = more_reads_script(to_read, to_list, facts.home)
        facts, _ = run_reads(conn, client_identity(facts).login.wrap(script), "", facts)
    return facts


def gather_server_facts(conn, name: str, settings: ServerSettings, clients: list[str]) -> HostFacts:
    """The server's facts: the borg user, repo root, authorized_keys, prune files, crontab.

    Root (or the login) reads only metadata: who owns `repo_root` and each directory above
    it, and the free space there. Everything in the borg user's tree is read *as the borg
    user*, so a link it planted can never show root-only content."""
    facts = gather_basic(conn, name, users=[settings.borg_user])
    if needs_sudo(facts, settings) and not facts.sudo:
        raise FactsError(
            name,
            f"borg_user {settings.borg_user!r} differs from the login user {facts.login_user!r}: "
            "creating that account and writing its files needs root; log in as root, or give "
            f"{facts.login_user} passwordless sudo (borgkeep runs `sudo -n`)",
        )
    if facts.host_key is None:
        raise FactsError(name, "the connection did not report the server's host key")
    paths = server_layout(facts, settings)
    admin = server_identity(facts, settings).admin
    placed = [posixpath.dirname(path) for _, path in paths.placed]
    script = read_paths_script(
        dirs=[(d, posixpath.dirname(d)) for d in dict.fromkeys([paths.repo_root, *placed])],
        space=[paths.repo_root],
        ancestors_of=[paths.repo_root, *placed],
    )
    facts, _ = run_reads(conn, admin.wrap(script), admin.user, facts)
    identity = server_identity(facts, settings)  # now knowing who owns the repo root's parents
    above = tuple(
        problem
        for root in dict.fromkeys([paths.repo_root, *placed])
        for problem in repo_root_link_problems(facts, identity, settings.borg_user, root)
    )
    facts = replace(facts, problems=facts.problems + above)
    if settings.borg_user not in facts.users and settings.borg_user != facts.login_user:
        return facts  # the account does not exist yet: nothing of it to read
    files = [paths.authorized_keys]
    for client in clients:
        files += [paths.prune_config(client), paths.passphrase(client), paths.repokey(client)]
        files += [paths.repository_config(client), paths.repository_nonce(client)]
    files += [guard_program_path(paths.state_dir), alerts_file_path(paths.state_dir)]
    script = read_paths_script(
        files=[(path, identity.base(path)) for path in files],
        dirs=[(path, identity.base(path)) for path in (paths.ssh_dir, paths.state_dir)],
        exists=[
            path
            for c in clients
            for path in (
                guard_state_path(paths.state_dir, c),
                legacy_state_path(paths.state_dir, c),
                hidden_path_of(paths.repository(c)),
            )
        ],
        repos=[paths.repository(c) for c in clients],
        crontab_of=settings.borg_user,
    )
    borg = identity.as_user(settings.borg_user)
    facts, _ = run_reads(conn, borg.wrap(script), borg.user, facts)
    return facts


def repo_root_link_problems(
    facts: HostFacts, identity: HostIdentity, borg_user: str, repo_root: str
) -> tuple[PathProblem, ...]:
    """Links above `repo_root` that the borg user could have planted: its own, or any inside
    its tree. (`repo_root` itself is checked like every managed directory.)"""
    known = {p.path for p in facts.problems}
    return tuple(
        link_problem(directory)
        for directory in ancestors(repo_root)
        if facts.directory(directory).kind == LINK
        and directory not in known
        and (facts.directory(directory).owner == borg_user or identity.controller(directory))
    )
