"""Read-only fact gathering over one SSH connection.

Round 1 learns who we are and what is installed; then every managed path is read (its
location depends on round 1: home, root or not, the borg user's home), each by the account
that owns it (see `wizard.pipeline.identity`): on a client the login; on the server root
reads only metadata around the repository root, the borg user everything in its own tree.
"""

from __future__ import annotations

import base64
import contextlib
import posixpath
import shlex
from dataclasses import replace

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
from wizard.remote.scripts import DIRNAME_FUNCTION
from wizard.remote.step_timeouts import QUICK

# Nothing here follows a link where a file or directory is expected: `[ -L ]` first, and
# `stat` never dereferences. `f PATH TOP`/`d PATH TOP` also report a link at any directory
# between TOP and PATH, and then do not look at PATH at all. What is not a readable regular
# file (or a directory) comes back as `K EXPECTED KIND PATH`, a `PathProblem` in the facts.
# `dn` is `dirname` without a process (every path here is absolute and normalised). The
# modes, owners and sizes of every file and directory come from one `stat` at the end
# (`m`), not one per path; the parser joins them to the `F`/`D` lines by path. The files
# that `f` found readable (`read_N`) are read by one `cat` into one `base64` (`b`), and cut
# apart by those sizes; a file that changed size meanwhile makes the sizes disagree with
# the bytes, and the caller reads again.
READ_FUNCTIONS = (
    DIRNAME_FUNCTION
    + r"""
kind() { if [ -L "$1" ]; then echo symlink; elif [ -d "$1" ]; then echo dir; elif [ -f "$1" ]; then echo file; else echo other; fi; }
up() { dn "$1"; a=$r; u=0; while [ "$a" != "$2" ] && [ "$a" != / ] && [ "$a" != . ]; do
       if [ -L "$a" ]; then printf 'K dir symlink %s\n' "$a"; u=1; fi; dn "$a"; a=$r; done; return $u; }
f() { up "$2" "$3" || return 0; if [ -L "$2" ]; then printf 'K file symlink %s\n' "$2";
      elif [ -f "$2" ] && [ -r "$2" ]; then printf 'F %s\n' "$2"; eval "read_$1=1";
      elif [ -e "$2" ]; then printf 'K file %s %s\n' "$(kind "$2")" "$2"; else printf 'N %s\n' "$2"; fi; }
d() { up "$1" "$2" || return 0; if [ -L "$1" ]; then printf 'K dir symlink %s\n' "$1";
      elif [ -d "$1" ]; then printf 'D %s\n' "$1";
      elif [ -e "$1" ]; then printf 'K dir %s %s\n' "$(kind "$1")" "$1"; else printf 'N %s\n' "$1"; fi; }
m() { stat -c 'M %a %U %G %s %Y %n' -- "$@" 2>/dev/null; return 0; }
b() { [ $# -gt 0 ] || return 0; printf 'B\n'; cat -- "$@" | base64 -w0; echo; }
a() { dn "$1"; p=$r; while :; do
      if [ -L "$p" ] || [ -e "$p" ]; then printf 'A %s %s %s\n' "$(kind "$p")" "$(stat -c '%a %U' -- "$p")" "$p"; fi
      if [ "$p" = / ]; then break; fi; dn "$p"; p=$r; done; }
h() { up "$1" "$2" || return 0; if [ -L "$1" ]; then printf 'K file symlink %s\n' "$1";
      elif [ -f "$1" ] && [ -r "$1" ]; then printf 'H %s %s %s\n' "$(stat -c '%a %U %G' -- "$1")" "$(sha256sum < "$1" | cut -d' ' -f1)" "$1";
      elif [ -e "$1" ]; then printf 'K file %s %s\n' "$(kind "$1")" "$1"; else printf 'N %s\n' "$1"; fi; }
e() { if [ -e "$1" ] || [ -L "$1" ]; then printf 'E %s\n' "$1"; else printf 'N %s\n' "$1"; fi; }
r() { if [ -f "$1/config" ]; then printf 'R %s\n' "$1"; fi; }
c() { t=$(mktemp) || return; if crontab -l >"$t" 2>/dev/null; then printf 'C %s\n' "$1"; base64 -w0 "$t"; echo;
      else printf 'c %s\n' "$1"; fi; rm -f "$t"; }
s() { p="$1"; while [ ! -e "$p" ]; do dn "$p"; p=$r; done; printf 'S %s %s\n' "$(df -Pk "$p" | awk 'NR==2 {print $4}')" "$1"; }
"""
)


def read_paths_script(
    files: list[tuple[str, str]] = (),
    dirs: list[tuple[str, str]] = (),
    exists: list[str] = (),
    repos: list[str] = (),
    crontab_of: str | None = None,
    space: list[str] = (),
    ancestors_of: list[str] = (),
    hashed: list[tuple[str, str]] = (),
) -> str:
    """One script that reads every path as whoever runs it. `files` and `dirs` pair a path
    with the top of the tree it lies in (see `HostIdentity.base`); `crontab_of` names the
    running account, whose own crontab is read; `ancestors_of` lists, without following
    links, who owns every directory above a path; `hashed` files are read as their SHA-256
    only (a private key's bytes never leave its host)."""
    q = shlex.quote
    lines = [READ_FUNCTIONS]
    lines += [f"f {index} {q(path)} {q(top)}" for index, (path, top) in enumerate(files)]
    lines += [f"h {q(path)} {q(top)}" for path, top in hashed]
    lines += [f"d {q(path)} {q(top)}" for path, top in dirs]
    lines += [f"e {q(p)}" for p in exists]
    lines += [f"r {q(p)}" for p in repos]
    if crontab_of:
        lines.append(f"c {q(crontab_of)}")
    lines += [f"s {q(p)}" for p in space]
    lines += [f"a {q(p)}" for p in ancestors_of]
    stated = [path for path, _ in files] + [path for path, _ in dirs]
    if stated:
        lines.append("m " + " ".join(q(path) for path in stated))
    if files:
        lines.append("set --")
        lines += [
            f'[ -z "${{read_{index}:-}}" ] || set -- "$@" {q(path)}'
            for index, (path, _) in enumerate(files)
        ]
        lines.append('b "$@"')
    lines.append("true")
    return "\n".join(lines) + "\n"


def _problem(expected: str, kind: str, path: str, reader: str) -> PathProblem:
    if kind == LINK:
        return link_problem(path)
    if expected == "file":
        return unreadable_problem(path, reader) if kind == "file" else not_a_file_problem(path)
    return not_a_directory_problem(path)


def parse_paths_output(facts: HostFacts, text: str, reader: str = "") -> tuple[HostFacts, set[str]]:
    """Facts with every path read (by `reader`); plus the paths that exist but were not
    read as files."""
    files: dict[str, FileState] = {}
    dirs: dict[str, DirState] = {}
    crontabs: dict[str, str | None] = {}
    repos: set[str] = set()
    present: set[str] = set()
    space: dict[str, int] = {}
    modes: dict[str, tuple[int, str, str]] = {}
    sizes: dict[str, int] = {}
    mtimes: dict[str, int | None] = {}
    read_in_order: list[str] = []
    blob = b""
    problems: dict[str, PathProblem] = {p.path: p for p in facts.problems}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        tag, _, rest = line.partition(" ")
        if tag == "F":
            files[rest] = FileState(rest, b"", None, None, None, "file")
            read_in_order.append(rest)
        elif tag == "B":
            blob = base64.b64decode(lines[i]) if lines[i] else b""
            i += 1
        elif tag == "D":
            dirs[rest] = DirState(rest, True, None, None, None, "dir")
        elif tag == "M":
            mode, owner, group, size, mtime, path = rest.split(" ", 5)
            modes[path] = (int(mode, 8), owner, group)
            sizes[path] = int(size)
            mtimes[path] = int(mtime) if mtime.isdigit() else None
        elif tag == "H":
            mode, owner, group, digest, path = rest.split(" ", 4)
            files[path] = FileState(path, None, int(mode, 8), owner, group, "file", digest)
        elif tag == "K":
            expected, kind, path = rest.split(" ", 2)
            problems.setdefault(path, _problem(expected, kind, path, reader or facts.login_user))
            present.add(path)
            if expected == "file":
                files.setdefault(path, FileState(path, None, kind=kind))
            else:
                dirs.setdefault(path, DirState(path, False, kind=kind))
        elif tag == "A":
            kind, mode, owner, path = rest.split(" ", 3)
            if path not in dirs:
                dirs[path] = DirState(path, kind == "dir", int(mode, 8), owner, None, kind)
        elif tag == "E":
            present.add(rest)
        elif tag == "R":
            repos.add(rest)
        elif tag == "C":
            crontabs[rest] = base64.b64decode(lines[i]).decode("utf-8", "surrogateescape")
            i += 1
        elif tag == "c":
            crontabs[rest] = None
        elif tag == "S":
            amount, path = rest.split(" ", 1)
            if amount.isdigit():
                space[path] = int(amount) * 1024
    for path, content in zip(read_in_order, cut(blob, read_in_order, sizes), strict=True):
        files[path] = replace(files[path], content=content)
    for path, (mode, owner, group) in modes.items():
        if path in files and files[path].kind == "file":
            files[path] = replace(
                files[path], mode=mode, owner=owner, group=group, mtime=mtimes.get(path)
            )
        if path in dirs and dirs[path].kind == "dir":
            dirs[path] = replace(dirs[path], mode=mode, owner=owner, group=group)
    facts = parse_existing_output(facts, text, cut)
    return replace(
        facts,
        files={**facts.files, **files},
        dirs={**facts.dirs, **dirs},
        crontabs={**facts.crontabs, **crontabs},
        initialised_repos=facts.initialised_repos | frozenset(repos),
        free_space={**facts.free_space, **space},
        problems=tuple(problems.values()),
        existing=facts.existing | frozenset(present),
    ), present


class ReadRace(Exception):
    """A file changed size between the `stat` and the `cat` of one read: read again."""


def cut(blob: bytes, paths: list[str], sizes: dict[str, int]) -> list[bytes]:
    """The bytes of each file, in order, from their concatenation and their sizes."""
    if any(path not in sizes for path in paths) or sum(sizes[p] for p in paths) != len(blob):
        raise ReadRace(", ".join(paths))
    contents, start = [], 0
    for path in paths:
        contents.append(blob[start : start + sizes[path]])
        start += sizes[path]
    return contents


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
    dirs = [paths.ssh_dir, paths.config_dir, paths.secrets_dir]
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
        script = more_reads_script(READ_FUNCTIONS, to_read, to_list, facts.home)
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
