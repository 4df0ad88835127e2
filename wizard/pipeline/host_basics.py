"""Round 1 of fact gathering: who the login is, what the host is, and which borg and
borgmatic it has (their versions from the operator's cache when their identities are
known, see `wizard.pipeline.tool_versions`). The paths read in the next round depend on it.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import replace

from wizard.pipeline.facts import HostFacts, UserInfo
from wizard.pipeline.tool_versions import (
    DISTRIBUTIONS,
    IDENTITY_PRELUDE,
    IDENTITY_STAT,
    VersionCache,
    cheap_questions,
    identity_lines,
    parse_version,
    tool_identities,
    version_script,
)
from wizard.remote.step_timeouts import QUICK

BASIC_SCRIPT = (
    r"""
kv() { printf '%s=%s\n' "$1" "$2"; }
ids=$(id); kv id "$ids"
kv home "$HOME"
if [ -r /etc/os-release ]; then . /etc/os-release; kv os "${PRETTY_NAME:-$ID}"; kv os_id "${ID:-}"; fi
"""
    + IDENTITY_PRELUDE
    + identity_lines("borg")
    + identity_lines("borgmatic")
    + IDENTITY_STAT
    + r"""kv cron_borg "$(PATH=/usr/bin:/bin command -v borg 2>/dev/null)"
case $ids in uid=0\(*) ;; *) command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && kv sudo 1 ;; esac
for u in {users}; do e=$(getent passwd "$u") && kv "passwd" "$e"; done
true
"""
)


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
    ordered: list[tuple[str, str]] = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        ordered.append((key, value))
        if key == "passwd":
            parts = value.split(":")
            if len(parts) >= 7:
                users[parts[0]] = UserInfo(parts[0], int(parts[2]), int(parts[3]), parts[5])
            continue
        values[key] = value
    ids = re.match(r"uid=(\d+)(?:\(([^)]*)\))?", values.get("id", ""))
    facts = HostFacts(
        host=host,
        login_user=(ids.group(2) or "") if ids else "",
        uid=int(ids.group(1)) if ids else -1,
        home=values.get("home", ""),
        os=values.get("os", ""),
        borg_version=parse_version("borg", values.get("borg_version", "")),
        borg_path=values.get("borg_path"),
        borgmatic_version=parse_version("borgmatic", values.get("borgmatic_version", "")),
        borgmatic_path=values.get("borgmatic_path"),
        tool_identities=tool_identities(ordered),
        tool_runs={
            tool: (values[f"{tool}_file"], values.get(f"{tool}_shebang", ""))
            for tool in DISTRIBUTIONS
            if values.get(f"{tool}_file")
        },
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


def gather_basic(
    conn, host: str, users: list[str] = (), versions: VersionCache | None = None
) -> HostFacts:
    """Who we are, what is installed and where; tool versions from the cache when the
    tools' identities are known, else from one `--version` round for the new ones."""
    return gather_basic_and(conn, host, None, users, versions)[0]


def connection_host_key(conn) -> str | None:
    """`ssh-ed25519 AAAA...`: the key the host proved itself with, the caches' key."""
    key = getattr(conn, "host_key", None)
    return f"{key.get_name()} {key.get_base64()}" if key is not None else None


def gather_basic_and(
    conn,
    host: str,
    then: str | None,
    users: list[str] = (),
    versions: VersionCache | None = None,
) -> tuple[HostFacts, str | None]:
    """Round 1, and `then` (a script for the next round, guessed before round 1 answered)
    in the same remote process: the facts, and `then`'s output when it ran to the end
    (exit 0), else None. Whether the guess was right is the caller's to check."""
    script = BASIC_SCRIPT.replace("{users}", " ".join(shlex.quote(u) for u in users) or "''")
    marker = f"@@borgkeep-then-{secrets.token_hex(8)}"
    if then is not None:
        script += f"printf '\\n%s\\n' {marker}\n( {then}\n)\nprintf '\\n%s %s\\n' {marker} $?\n"
    result = conn.run(script, check=True, kind=QUICK)
    text = result.stdout.decode("utf-8", "replace")
    head, found, rest = text.partition(f"\n{marker}\n")
    then_output = None
    if then is not None and found:
        body, ended, status = rest.rpartition(f"\n{marker} ")
        then_output = body + "\n" if ended and status.strip() == "0" else None
    facts, os_id = parse_basic(host, head if found else text)
    facts = replace(facts, host_key=connection_host_key(conn))
    facts = _tool_versions(conn, facts, versions or VersionCache())
    check_versions(facts, os_id)
    if hasattr(conn, "remember_identity"):
        conn.remember_identity(facts.uid, facts.login_user)
    return facts, then_output


def _tool_versions(conn, facts: HostFacts, cache: VersionCache) -> HostFacts:
    paths = {"borg": facts.borg_path, "borgmatic": facts.borgmatic_path}
    known, unknown = {}, {}
    for tool, path in paths.items():
        if not path:
            continue
        identity = facts.tool_identities.get(tool)
        version = cache.get(facts.host_key, tool, identity)
        if version:
            known[tool] = version
        else:
            unknown[tool] = path
    runs: dict | None = facts.tool_runs
    while unknown:
        asked_cheaply = cheap_questions(unknown, runs)
        script = version_script(unknown, runs)
        output = conn.run(script, check=True, kind=QUICK).stdout.decode("utf-8", "replace")
        for line in output.splitlines():
            key, sep, value = line.partition("=")
            tool = key.removesuffix("_version")
            if sep and tool in unknown and (version := parse_version(tool, value)):
                known[tool] = version
                del unknown[tool]
                cache.put(facts.host_key, tool, facts.tool_identities.get(tool), version)
        unknown = {tool: path for tool, path in unknown.items() if tool in asked_cheaply}
        runs = None  # what the cheap question left unanswered: `--version`, once
    return replace(facts, borg_version=known.get("borg"), borgmatic_version=known.get("borgmatic"))
