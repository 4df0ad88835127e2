"""Which borg and borgmatic a host has, without starting them when nothing changed.

`borg --version` and `borgmatic --version` are Python start-ups (a third of a second of CPU
each); a converged `plan` would spend most of its time on them. So fact gathering reads an
*identity* of each tool instead — what the files are, never what they say: the resolved
executable, its interpreter, and the package metadata directory that pip or dpkg installed
with it (`borgmatic-2.1.10.dist-info`, `borgbackup-1.2.4.egg-info`), each as device,
inode, size, mtime and ctime (to the nanosecond). Any upgrade, reinstall or edit changes at least one of these
(the ctime cannot be set back without changing the clock), so a version learned for an
identity stays true for it. The operator keeps what it learned in its cache, keyed by the
host's SSH host key, the tool and that identity, and runs `--version` only for a tool
whose identity it has not seen.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from pathlib import Path

from wizard.pipeline.host_cache import HostCache, cache_file
from wizard.pipeline.version_code import version_program

DISTRIBUTIONS = {"borg": "borgbackup", "borgmatic": "borgmatic"}
CACHE_FILE = "tool-versions.json"
CACHE_VERSION = 1

# Per tool: where it is (`command -v`), the file that runs (`readlink -f`), its `#!` line,
# the interpreter's two levels up and the package metadata there; then one `stat` (`-L`, so
# a link is identified by what it points to) of every file named, after all tools: two
# `sed`, one `readlink` and one `stat` per host instead of a process per question.
IDENTITY_PRELUDE = r"""set --
first_word() { w=${1#??}; w=${w#"${w%%[![:space:]]*}"}; w=${w%%[[:space:]]*}; }
updir() { u="${1%/*}"; if [ "$u" = "$1" ]; then u=.; elif [ -z "$u" ]; then u=/; fi; }
"""
IDENTITY_STAT = r"""[ $# -gt 0 ] && stat -L -c 'stat=%d-%i-%s-%.9Y-%.9Z %n' -- "$@" 2>/dev/null
"""


def identity_lines(tool: str) -> str:
    """Shell lines printing `TOOL_path=`, `TOOL_file=`, `TOOL_shebang=` and `TOOL_meta=` and
    adding those files to `"$@"` for IDENTITY_STAT (after IDENTITY_PRELUDE)."""
    dist = DISTRIBUTIONS[tool]
    return f"""if p=$(command -v {tool} 2>/dev/null); then
  kv {tool}_path "$p"
  r=$(readlink -f -- "$p" 2>/dev/null) || r=$p
  kv {tool}_file "$r"; set -- "$@" "$r"
  l=$(sed -n '1{{/^#!/p;q}}' -- "$r" 2>/dev/null); kv {tool}_shebang "$l"; first_word "$l"
  if [ -n "$w" ]; then
    kv {tool}_interp "$w"; set -- "$@" "$w"; updir "$w"; updir "$u"
    for m in "$u"/lib/python3*/site-packages/{dist}-*-info "$u"/lib/python3/dist-packages/{dist}-*-info; do
      if [ -e "$m" ]; then kv {tool}_meta "$m"; set -- "$@" "$m"; fi
    done
  fi
fi
"""


def tool_identities(lines: list[tuple[str, str]]) -> dict[str, str]:
    """Each tool's identity from round 1's `key=value` lines, in order: the running file,
    its interpreter and its package metadata, each with its device, inode, size, mtime and
    ctime to the nanosecond (`file=PATH:STAMP interp=PATH:STAMP meta=PATH:STAMP...`). A
    tool with a file `stat` could not read has no identity: its version is always asked."""
    stamps: dict[str, str] = {}
    fields: dict[str, list[tuple[str, str]]] = {tool: [] for tool in DISTRIBUTIONS}
    for key, value in lines:
        if key == "stat":
            stamp, _, path = value.partition(" ")
            stamps[path] = stamp
            continue
        tool, _, part = key.partition("_")
        if tool in fields and part in ("file", "interp", "meta"):
            fields[tool].append((part, value))
    identities = {}
    for tool, parts in fields.items():
        if parts and parts[0][0] == "file" and all(stamps.get(path) for _, path in parts):
            identities[tool] = " ".join(f"{part}={path}:{stamps[path]}" for part, path in parts)
    return identities


def python_command(shebang: str) -> list[str] | None:
    """`#!/usr/bin/python3 -s` -> ["/usr/bin/python3", "-s"]: a script's interpreter and its
    flags, when the interpreter is an absolute path to a Python; None otherwise (no `#!`,
    `env`, a binary), where only `--version` itself can tell."""
    if not shebang.startswith("#!"):
        return None
    words = shebang[2:].split()
    if not words or not re.fullmatch(r"/[A-Za-z0-9._/+-]*/python[0-9.]*", words[0]):
        return None
    if not all(re.fullmatch(r"-[A-Za-z]+", flag) for flag in words[1:]):
        return None
    return words


def cheap_questions(
    tools: dict[str, str], runs: dict[str, tuple[str, str]] | None
) -> dict[str, tuple[str, str]]:
    """The tools whose version their own interpreter can tell: tool -> (the interpreter
    command with its flags, the script's directory)."""
    cheap = {}
    for tool in tools:
        resolved, shebang = (runs or {}).get(tool, ("", ""))
        python = python_command(shebang)
        if python and resolved.startswith("/"):
            cheap[tool] = (shlex.join(python), posixpath.dirname(resolved))
    return cheap


VERSIONS_MARK = "# borgkeep: tool versions"
"""The first line of every version question (what a test counts to see none was asked)."""


def version_script(tools: dict[str, str], runs: dict[str, tuple[str, str]] | None = None) -> str:
    """The version of each tool (name -> absolute path), one `TOOL_version=...` line each:
    only run for tools whose identity is new. A Python script's version is asked of its own
    interpreter, with its flags, from the script's directory (what a script finds first on
    its `sys.path`), in the code the tool itself runs for `--version` (`version_code`): one
    interpreter start-up for every tool that shares it. Anything else is asked `--version`;
    so is a Python tool the cheap question left unanswered, in a second round."""
    groups: dict[tuple[str, str], list[str]] = {}
    lines = [VERSIONS_MARK, 'kv() { printf \'%s=%s\\n\' "$1" "$2"; }']
    cheap = cheap_questions(tools, runs)
    for tool, path in sorted(tools.items()):
        if tool in cheap:
            groups.setdefault(cheap[tool], []).append(tool)
            continue
        pick = "head -n1" if tool == "borg" else "tail -n1"
        lines.append(f'kv {tool}_version "$({shlex.quote(path)} --version 2>&1 | {pick})"')
    for (python, directory), names in groups.items():
        program = shlex.quote(version_program(names))
        lines.append(f"(cd {shlex.quote(directory)} && {python} -c {program}) 2>/dev/null")
    return "\n".join(lines) + "\ntrue\n"


def parse_version(tool: str, text: str) -> str | None:
    """`borg 1.2.4` -> 1.2.4 (a suffix such as `1.4.0b1` kept); `2.1.10` -> 2.1.10."""
    pattern = r"(\d+\.\d+[^\s]*)" if tool == "borg" else r"(\d+\.\d+(?:\.\d+)?)"
    match = re.search(pattern, text or "")
    return match.group(1) if match else None


def cache_path() -> Path:
    return cache_file(CACHE_FILE)


class VersionCache:
    """host key -> tool -> identity -> version, in the operator's cache directory."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_path()
        self._file = HostCache(self.path, CACHE_VERSION)

    def get(self, host_key: str | None, tool: str, identity: str | None) -> str | None:
        if not host_key or not identity or "file=" not in identity:
            return None
        return self._file.hosts().get(host_key, {}).get(tool, {}).get(identity)

    def put(self, host_key: str | None, tool: str, identity: str | None, version: str) -> None:
        """Remember a version; an unwritable cache only means `--version` runs next time."""
        if not host_key or not identity or "file=" not in identity:
            return

        def remember(known: dict) -> bool:
            versions = known.get(tool)
            if not isinstance(versions, dict):
                versions = known[tool] = {}
            if versions.get(identity) == version:
                return False
            versions[identity] = version
            return True

        self._file.update(host_key, remember)
