"""What gather reads on a client for the discovery of an existing Borg setup (issue 21):
the borgmatic configs that login's borgmatic would load (and those a takeover retired
beside them, `*.borgkeep-taken-over`), `/etc/crontab`, the `/etc/cron.d`
files and `/etc/systemd/system` units that mention borg (with their timers), the login's
`~/.ssh/config` and default public keys. Read as the login, without following a link
(a link, or a file below one, is reported, never read), and without a `PathProblem`: these
are the user's files, which Borgkeep never writes, so nothing here can refuse a plan.

The reads ride on round 2 (`EXISTING_SETUP_SCRIPT` after the managed paths' reads): a
client without includes costs no extra round trip. Includes, and `-c` paths its jobs
name, are read in later rounds (`more_reads_script`), one per level, only when needed.
Output: `X file|absent|unreadable|link|dir|name PATH` lines, the `M` lines of one `stat`,
and `Y` with the read files concatenated into one base64 line (cut apart by their sizes,
like round 2's own files; see `wizard.pipeline.gather`).
"""

from __future__ import annotations

import base64
import posixpath
import shlex
from dataclasses import replace

from wizard.artefacts.layout import client_paths
from wizard.pipeline.facts import HostFacts
from wizard.takeover.borgmatic_configs import Login, default_directories
from wizard.takeover.host_files import HostFiles
from wizard.takeover.retired import RETIRED_SUFFIX

DEFAULT_PUBLIC_KEYS = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk")
UNIT_DIRECTORY = "/etc/systemd/system"
CRON_D = "/etc/cron.d"
SYSTEM_CRONTAB = "/etc/crontab"

# `xo PATH TOP`: a file to read (0) or not (1, and why); a directory there is listed.
# `xl DIR TOP`: `X dir` and one `X name` per entry that is no directory, or why not.
# Needs `up`, `dn` and `m` from `wizard.pipeline.gather.READ_FUNCTIONS`.
EXISTING_FUNCTIONS = r"""
xo() { if ! up "$1" "$2" >/dev/null || [ -L "$1" ]; then printf 'X link %s\n' "$1"; return 1; fi
       if [ -d "$1" ]; then xl "$1" "$2"; return 1; fi
       if [ -f "$1" ] && [ -r "$1" ]; then printf 'X file %s\n' "$1"; return 0; fi
       if [ -e "$1" ]; then printf 'X unreadable %s\n' "$1"; else printf 'X absent %s\n' "$1"; fi; return 1; }
xl() { if ! up "$1" "$2" >/dev/null || [ -L "$1" ]; then printf 'X link %s\n' "$1"; return 1; fi
       if [ ! -e "$1" ]; then printf 'X absent %s\n' "$1"; return 1; fi
       if [ ! -d "$1" ] || [ ! -r "$1" ] || [ ! -x "$1" ]; then printf 'X unreadable %s\n' "$1"; return 1; fi
       printf 'X dir %s\n' "$1"
       for p in "$1"/*; do if [ -L "$p" ] || { [ -e "$p" ] && [ ! -d "$p" ]; }; then printf 'X name %s\n' "$p"; fi; done; }
xy() { if [ $# -gt 0 ]; then m "$@"; fi; printf 'Y\n'; if [ $# -gt 0 ]; then cat -- "$@" | base64 -w0; fi; echo; }
"""


def _top(path: str, home: str) -> str:
    return home if path.startswith(home.rstrip("/") + "/") else "/"


def existing_setup_script(facts: HostFacts, name: str) -> str:
    """The round-2 part: every path that depends only on the login (as round 2 does)."""
    q = shlex.quote
    login = Login(facts.login_user, facts.home)
    skip = client_paths(name, facts.home, facts.is_root).config  # read as a managed file
    files = [
        SYSTEM_CRONTAB,
        "/etc/borgmatic/config.yaml",
        "/etc/borgmatic/config.yaml" + RETIRED_SUFFIX,
        posixpath.join(login.config_home, "borgmatic/config.yaml"),
        posixpath.join(login.config_home, "borgmatic/config.yaml" + RETIRED_SUFFIX),
        posixpath.join(facts.home, ".ssh/config"),
        *(posixpath.join(facts.home, ".ssh", key + ".pub") for key in DEFAULT_PUBLIC_KEYS),
    ]
    lines = [EXISTING_FUNCTIONS, "set --"]
    lines += [f'xo {q(p)} {q(_top(p, facts.home))} && set -- "$@" {q(p)}' for p in files]
    for directory in default_directories(login):
        top = q(_top(directory, facts.home))
        lines.append(
            f"if xl {q(directory)} {top}; then for p in {q(directory)}/*.yaml {q(directory)}/*.yml "
            f"{q(directory)}/*{RETIRED_SUFFIX}; "
            f'do if [ "$p" != {q(skip)} ] && {{ [ -e "$p" ] || [ -L "$p" ]; }} && '
            f'{{ [ ! -d "$p" ] || [ -L "$p" ]; }} && xo "$p" {top}; then set -- "$@" "$p"; fi; done; fi'
        )
    # cron.d files and units that mention borg, and the timers of those services
    lines.append(
        "nl='\n'; hits=$(grep -rlI -e borg -- "
        f"{CRON_D} {UNIT_DIRECTORY} 2>/dev/null); set -f; IFS=$nl\n"
        'for p in $hits; do xo "$p" / && set -- "$@" "$p"\n'
        '  case $p in *.service) t=${p%.service}.timer; case "$nl$hits$nl" in *"$nl$t$nl"*) ;;\n'
        '    *) if [ -e "$t" ] || [ -L "$t" ]; then xo "$t" / && set -- "$@" "$t"; fi ;; esac ;; esac\n'
        "done; unset IFS; set +f"
    )
    lines.append('xy "$@"')
    return "\n".join(lines) + "\n"


def more_reads_script(read_functions: str, to_read: tuple[str, ...], to_list, home: str) -> str:
    """A later round: the includes and `-c` paths discovery still needs, and the
    directories it still has to list."""
    q = shlex.quote
    lines = [read_functions, EXISTING_FUNCTIONS, "set --"]
    lines += [f'xo {q(p)} {q(_top(p, home))} && set -- "$@" {q(p)}' for p in to_read]
    lines += [f"xl {q(p)} {q(_top(p, home))} || true" for p in to_list]
    lines.append('xy "$@"')
    return "\n".join(lines) + "\n"


def parse_existing_output(facts: HostFacts, text: str, cut) -> HostFacts:
    """The facts with what an `existing_setup_script` (or a later round) reported; `cut`
    is gather's (it raises `ReadRace` when a file changed size while read)."""
    if "\nX " not in "\n" + text:
        return facts
    files: dict[str, bytes] = {}
    listings: dict[str, list[str]] = {}
    missing: dict[str, str] = {}
    sizes: dict[str, int] = {}
    order: list[str] = []
    blob = b""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        tag, _, rest = line.partition(" ")
        if tag == "X":
            what, _, path = rest.partition(" ")
            if what == "file":
                order.append(path)
            elif what == "dir":
                listings.setdefault(path, [])
            elif what == "name":
                listings.setdefault(posixpath.dirname(path), []).append(posixpath.basename(path))
            else:
                missing[path] = what
        elif tag == "M":
            size, path = rest.split(" ", 5)[3], rest.split(" ", 5)[5]
            sizes[path] = int(size)
        elif tag == "Y" and index + 1 < len(lines):
            blob = base64.b64decode(lines[index + 1]) if lines[index + 1] else b""
    files = dict(zip(order, cut(blob, order, sizes), strict=True))
    return replace(
        facts,
        existing_setup_files={**facts.existing_setup_files, **files},
        existing_setup_listings={
            **facts.existing_setup_listings,
            **{path: tuple(names) for path, names in listings.items()},
        },
        existing_setup_missing={**facts.existing_setup_missing, **missing},
    )


def client_host_files(facts: HostFacts, name: str) -> HostFiles:
    """What gather read, as discovery takes it. Borgkeep's own config (read as a managed
    file) is in it too, so that discovery knows it and marks it as Borgkeep's."""
    texts = {
        path: content.decode("utf-8", "surrogateescape")
        for path, content in facts.existing_setup_files.items()
    }
    own = facts.file(client_paths(name, facts.home, facts.is_root).config)
    if own.content is not None:
        texts[own.path] = own.text
    missing = facts.existing_setup_missing
    return HostFiles(
        texts=texts,
        listings=dict(facts.existing_setup_listings),
        absent=frozenset(path for path, what in missing.items() if what == "absent"),
        unreadable=frozenset(path for path, what in missing.items() if what != "absent"),
    )
