"""Which borg and borgmatic a host has, without starting them when nothing changed.

`borg --version` and `borgmatic --version` are Python start-ups (a third of a second of CPU
each); a converged `plan` would spend most of its time on them. So fact gathering reads an
*identity* of each tool instead — what the files are, never what they say: the resolved
executable, its interpreter, and the package metadata directory that pip or dpkg installed
with it (`borgmatic-2.1.10.dist-info`, `borgbackup-1.2.4.egg-info`), each as device,
inode, size, mtime and ctime. Any upgrade, reinstall or edit changes at least one of these
(the ctime cannot be set back without changing the clock), so a version learned for an
identity stays true for it. The operator keeps what it learned in its cache, keyed by the
host's SSH host key, the tool and that identity, and runs `--version` only for a tool
whose identity it has not seen.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import threading
from pathlib import Path

DISTRIBUTIONS = {"borg": "borgbackup", "borgmatic": "borgmatic"}
CACHE_FILE = "tool-versions.json"
CACHE_VERSION = 1
_lock = threading.Lock()

IDENTITY_FUNCTION = r"""
ident() {
  r=$(readlink -f -- "$1" 2>/dev/null) || r=$1
  printf 'file=%s:%s' "$r" "$(stat -c '%d.%i.%s.%Y.%Z' -- "$r" 2>/dev/null)"
  i=$(head -c 256 -- "$r" 2>/dev/null | sed -n '1s/^#![[:space:]]*\([^[:space:]]*\).*/\1/p')
  [ -n "$i" ] || return 0
  printf ' interp=%s:%s' "$i" "$(stat -L -c '%d.%i.%s.%Y.%Z' -- "$i" 2>/dev/null)"
  b=$(dirname -- "$(dirname -- "$i")")
  for m in "$b"/lib/python3*/site-packages/"$2"-*-info "$b"/lib/python3/dist-packages/"$2"-*-info; do
    [ -e "$m" ] && printf ' meta=%s:%s' "$m" "$(stat -c '%d.%i.%s.%Y.%Z' -- "$m")"
  done
  return 0
}
"""


def identity_lines(tool: str) -> str:
    """Shell lines printing `TOOL_path=` and `TOOL_ident=` (with IDENTITY_FUNCTION defined)."""
    dist = DISTRIBUTIONS[tool]
    return (
        f"p=$(command -v {tool} 2>/dev/null) && "
        f'{{ kv {tool}_path "$p"; kv {tool}_ident "$(ident "$p" {dist})"; }}\n'
    )


def version_script(tools: dict[str, str]) -> str:
    """`--version` of each tool (name -> absolute path), one `kv TOOL_version ...` line each:
    only run for tools whose identity is new."""
    lines = []
    for tool, path in sorted(tools.items()):
        pick = "head -n1" if tool == "borg" else "tail -n1"
        lines.append(f'kv {tool}_version "$({shlex.quote(path)} --version 2>&1 | {pick})"')
    return 'kv() { printf \'%s=%s\\n\' "$1" "$2"; }\n' + "\n".join(lines) + "\ntrue\n"


def parse_version(tool: str, text: str) -> str | None:
    """`borg 1.2.4` -> 1.2.4 (a suffix such as `1.4.0b1` kept); `2.1.10` -> 2.1.10."""
    pattern = r"(\d+\.\d+[^\s]*)" if tool == "borg" else r"(\d+\.\d+(?:\.\d+)?)"
    match = re.search(pattern, text or "")
    return match.group(1) if match else None


def cache_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("borgkeep")) / CACHE_FILE


class VersionCache:
    """host key -> tool -> identity -> version, in the operator's cache directory."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_path()

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data.get("hosts", {}) if data.get("version") == CACHE_VERSION else {}

    def get(self, host_key: str | None, tool: str, identity: str | None) -> str | None:
        if not host_key or not identity or "file=" not in identity:
            return None
        with _lock:
            return self._load().get(host_key, {}).get(tool, {}).get(identity)

    def put(self, host_key: str | None, tool: str, identity: str | None, version: str) -> None:
        """Remember a version; an unwritable cache only means `--version` runs next time."""
        if not host_key or not identity or "file=" not in identity:
            return
        with _lock:
            hosts = self._load()
            hosts.setdefault(host_key, {}).setdefault(tool, {})[identity] = version
            data = json.dumps({"version": CACHE_VERSION, "hosts": hosts}, indent=1)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(data, encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError:
                pass
