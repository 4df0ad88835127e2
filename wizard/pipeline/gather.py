"""Read-only fact gathering over one SSH connection: two round trips per host.

Round 1 learns who we are and what is installed; round 2 reads every managed path (whose
location depends on round 1: home, root or not, the borg user's home).
"""

from __future__ import annotations

import base64
import re
import shlex
from dataclasses import replace

from wizard.artefacts.guard_program import (
    alerts_file_path,
    guard_program_path,
    guard_state_path,
    legacy_state_path,
)
from wizard.artefacts.layout import ServerPaths, client_paths, server_paths
from wizard.inventory.settings import ServerSettings, default_borg_home
from wizard.pipeline.facts import DirState, FileState, HostFacts, UserInfo

BASIC_SCRIPT = r"""
kv() { printf '%s=%s\n' "$1" "$2"; }
kv uid "$(id -u)"
kv user "$(id -un)"
kv home "$HOME"
if [ -r /etc/os-release ]; then . /etc/os-release; kv os "${PRETTY_NAME:-$ID}"; kv os_id "${ID:-}"; fi
p=$(command -v borg 2>/dev/null) && { kv borg_path "$p"; kv borg_version "$("$p" --version 2>&1 | head -n1)"; }
kv cron_borg "$(PATH=/usr/bin:/bin command -v borg 2>/dev/null)"
p=$(command -v borgmatic 2>/dev/null) && { kv borgmatic_path "$p"; kv borgmatic_version "$("$p" --version 2>&1 | tail -n1)"; kv borgmatic_shebang "$(head -c 200 "$p" | head -n1)"; }
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then kv sudo 1; fi
for u in {users}; do e=$(getent passwd "$u") && kv "passwd" "$e"; done
true
"""

READ_FUNCTIONS = r"""
f() { if [ -f "$1" ] && [ -r "$1" ]; then printf 'F %s %s\n' "$(stat -c '%a %U %G' -- "$1")" "$1"; base64 -w0 -- "$1"; echo;
      elif [ -e "$1" ]; then printf 'X %s\n' "$1"; else printf 'N %s\n' "$1"; fi; }
d() { if [ -d "$1" ]; then printf 'D %s %s\n' "$(stat -c '%a %U %G' -- "$1")" "$1"; else printf 'N %s\n' "$1"; fi; }
e() { if [ -e "$1" ]; then printf 'E %s\n' "$1"; else printf 'N %s\n' "$1"; fi; }
r() { if [ -f "$1/config" ]; then printf 'R %s\n' "$1"; fi; }
c() { t=$(mktemp) || return; if crontab $2 -l >"$t" 2>/dev/null; then printf 'C %s\n' "$1"; base64 -w0 "$t"; echo;
      else printf 'c %s\n' "$1"; fi; rm -f "$t"; }
s() { p="$1"; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; printf 'S %s %s\n' "$(df -Pk "$p" | awk 'NR==2 {print $4}')" "$1"; }
"""


class FactsError(Exception):
    """A host that cannot be planned for, with what to do about it."""

    def __init__(self, host: str, message: str):
        self.host = host
        super().__init__(f"{host}: {message}")


def install_hint(os_id: str) -> str:
    if os_id in ("debian", "ubuntu", "raspbian", "linuxmint"):
        return "apt install borgbackup borgmatic"
    if os_id in ("fedora", "rhel", "centos", "rocky", "almalinux"):
        return "dnf install borgbackup borgmatic"
    if os_id in ("arch", "manjaro"):
        return "pacman -S borg borgmatic"
    if os_id in ("alpine",):
        return "apk add borgbackup borgmatic"
    return "install borgbackup (1.2 or 1.4) and borgmatic with your package manager or pipx"


def parse_basic(host: str, text: str) -> tuple[HostFacts, str]:
    """Parse round 1 output into facts (without files), and the OS id for install hints."""
    values: dict[str, str] = {}
    users: dict[str, UserInfo] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "passwd":
            parts = value.split(":")
            if len(parts) >= 7:
                users[parts[0]] = UserInfo(parts[0], int(parts[2]), int(parts[3]), parts[5])
            continue
        values[key] = value
    borg_version = None
    match = re.search(r"(\d+\.\d+[^\s]*)", values.get("borg_version", ""))
    if match:
        borg_version = match.group(1)
    borgmatic_version = None
    match = re.search(r"(\d+\.\d+(\.\d+)?)", values.get("borgmatic_version", ""))
    if match:
        borgmatic_version = match.group(1)
    facts = HostFacts(
        host=host,
        login_user=values.get("user", ""),
        uid=int(values.get("uid", "-1")),
        home=values.get("home", ""),
        os=values.get("os", ""),
        borg_version=borg_version,
        borg_path=values.get("borg_path"),
        borgmatic_version=borgmatic_version,
        borgmatic_path=values.get("borgmatic_path"),
        python_path=python_of_shebang(values.get("borgmatic_shebang", "")),
        cron_borg_path=values.get("cron_borg") or None,
        sudo=values.get("sudo") == "1",
        users=users,
    )
    return facts, values.get("os_id", "")


def python_of_shebang(line: str) -> str | None:
    """The interpreter borgmatic runs on (`#!/usr/bin/python3`, a venv's python), so that
    server-side programs use a Python that is certainly there; None when it is not a plain
    absolute path (e.g. `#!/usr/bin/env python3`: the caller falls back to python3)."""
    if not line.startswith("#!"):
        return None
    words = line[2:].split()
    if not words:
        return None
    if words[0] == "/usr/bin/env" and len(words) == 2 and words[1].startswith("python"):
        return None
    interpreter = words[0]
    if not re.fullmatch(r"/[A-Za-z0-9._/+-]*python[0-9.]*", interpreter):
        return None
    return interpreter


def check_versions(facts: HostFacts, os_id: str) -> None:
    """Refuse hosts without borg/borgmatic and hosts on Borg 2 (beta), with what to do."""
    if not facts.borg_path or not facts.borg_version:
        raise FactsError(
            facts.host, f"borg is not installed; install it with: {install_hint(os_id)}"
        )
    if not facts.borgmatic_path or not facts.borgmatic_version:
        raise FactsError(
            facts.host, f"borgmatic is not installed; install it with: {install_hint(os_id)}"
        )
    if facts.borg_version.startswith("2."):
        raise FactsError(
            facts.host,
            f"borg {facts.borg_version} (Borg 2) is not supported yet: it replaces --append-only "
            "with --permissions no-delete; install Borg 1.2 or 1.4",
        )
    if not re.match(r"1\.(2|4)\.", facts.borg_version):
        raise FactsError(
            facts.host, f"borg {facts.borg_version} is not supported; install Borg 1.2 or 1.4"
        )


def read_paths_script(
    files: list[str],
    dirs: list[str] = (),
    exists: list[str] = (),
    repos: list[str] = (),
    crontab_users: list[tuple[str, bool]] = (),
    space: list[str] = (),
) -> str:
    """One script that reads every path; `crontab_users` pairs a user with "is another user"."""
    q = shlex.quote
    lines = [READ_FUNCTIONS]
    lines += [f"f {q(p)}" for p in files]
    lines += [f"d {q(p)}" for p in dirs]
    lines += [f"e {q(p)}" for p in exists]
    lines += [f"r {q(p)}" for p in repos]
    for user, other in crontab_users:
        flag = q("-u " + user) if other else "''"
        lines.append(f"c {q(user)} {flag}")
    lines += [f"s {q(p)}" for p in space]
    lines.append("true")
    return "\n".join(lines) + "\n"


def parse_paths_output(facts: HostFacts, text: str) -> tuple[HostFacts, set[str]]:
    """Facts with every path read; plus the paths that exist but were not read as files."""
    files: dict[str, FileState] = {}
    dirs: dict[str, DirState] = {}
    crontabs: dict[str, str | None] = {}
    repos: set[str] = set()
    present: set[str] = set()
    space: dict[str, int] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        tag, _, rest = line.partition(" ")
        if tag in ("F", "D"):
            mode, owner, group, path = rest.split(" ", 3)
            if tag == "F":
                content = base64.b64decode(lines[i]) if lines[i] else b""
                i += 1
                files[path] = FileState(path, content, int(mode, 8), owner, group)
            else:
                dirs[path] = DirState(path, True, int(mode, 8), owner, group)
        elif tag == "X":
            files[rest] = FileState(rest, None)
            present.add(rest)
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
    return replace(
        facts,
        files={**facts.files, **files},
        dirs={**facts.dirs, **dirs},
        crontabs={**facts.crontabs, **crontabs},
        initialised_repos=frozenset(repos),
        free_space=space,
        existing=facts.existing | frozenset(present),
    ), present


def gather_basic(conn, host: str, users: list[str] = ()) -> HostFacts:
    script = BASIC_SCRIPT.replace("{users}", " ".join(shlex.quote(u) for u in users) or "''")
    result = conn.run(script, check=True)
    facts, os_id = parse_basic(host, result.stdout.decode("utf-8", "replace"))
    check_versions(facts, os_id)
    if hasattr(conn, "remember_identity"):
        conn.remember_identity(facts.uid, facts.login_user)
    key = getattr(conn, "host_key", None)
    host_key = f"{key.get_name()} {key.get_base64()}" if key is not None else None
    return replace(facts, host_key=host_key)


def gather_client_facts(conn, name: str) -> HostFacts:
    """A client's facts: its key, pin, passphrase file, config and crontab."""
    facts = gather_basic(conn, name)
    paths = client_paths(name, facts.home, facts.is_root)
    script = read_paths_script(
        files=[paths.public_key, paths.known_hosts, paths.passphrase, paths.config],
        dirs=[paths.ssh_dir, paths.config_dir, paths.secrets_dir],
        exists=[paths.key],
        crontab_users=[(facts.login_user, False)],
    )
    result = conn.run(script, check=True)
    facts, present = parse_paths_output(facts, result.stdout.decode("utf-8", "replace"))
    public = facts.file(paths.public_key).text
    if public and paths.key in present:
        facts = replace(facts, client_public_key=" ".join(public.split()[:2]))
    return facts


def server_layout(facts: HostFacts, settings: ServerSettings) -> ServerPaths:
    if settings.borg_user in facts.users:
        home = facts.users[settings.borg_user].home
    elif settings.borg_user == facts.login_user:
        home = facts.home
    else:
        home = default_borg_home(settings.borg_user)
    return server_paths(home, settings.repo_root(home))


def gather_server_facts(conn, name: str, settings: ServerSettings, clients: list[str]) -> HostFacts:
    """The server's facts: the borg user, repo root, authorized_keys, prune files, crontab."""
    facts = gather_basic(conn, name, users=[settings.borg_user])
    sudo = needs_sudo(facts, settings)
    if sudo and not facts.sudo:
        raise FactsError(
            name,
            f"borg_user {settings.borg_user!r} differs from the login user {facts.login_user!r}: "
            "creating that account and writing its files needs root; log in as root, or give "
            f"{facts.login_user} passwordless sudo (borgkeep runs `sudo -n`)",
        )
    if facts.host_key is None:
        raise FactsError(name, "the connection did not report the server's host key")
    paths = server_layout(facts, settings)
    files = [paths.authorized_keys]
    for client in clients:
        files += [paths.prune_config(client), paths.passphrase(client)]
    files += [guard_program_path(paths.state_dir), alerts_file_path(paths.state_dir)]
    script = read_paths_script(
        files=files,
        dirs=[paths.ssh_dir, paths.state_dir, paths.repo_root],
        exists=[
            path
            for c in clients
            for path in (
                guard_state_path(paths.state_dir, c),
                legacy_state_path(paths.state_dir, c),
            )
        ],
        repos=[paths.repository(c) for c in clients],
        crontab_users=[(settings.borg_user, settings.borg_user != facts.login_user)]
        if settings.borg_user in facts.users or settings.borg_user == facts.login_user
        else [],
        space=[paths.repo_root],
    )
    result = conn.run(script, check=True, sudo=sudo)
    facts, _ = parse_paths_output(facts, result.stdout.decode("utf-8", "replace"))
    return facts


def needs_sudo(facts: HostFacts, settings: ServerSettings) -> bool:
    """A non-root login that manages another account's files works through `sudo -n`."""
    return not facts.is_root and settings.borg_user != facts.login_user
