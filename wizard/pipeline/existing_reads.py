"""What gather reads on a client for the discovery of an existing Borg setup (issue 21):
the borgmatic configs that login's borgmatic would load (and those a takeover retired
beside them, `*.borgkeep-taken-over`), `/etc/crontab`, the `/etc/cron.d`
files and `/etc/systemd/system` units that mention borg (with their timers), the login's
`~/.ssh/config` and default public keys. Read as the login, without following a link
(a link, or a file below one, is reported, never read), and without a `PathProblem`: these
are the user's files, which Borgkeep never writes, so nothing here can refuse a plan.

The reads ride on round 2 (`existing_setup_script` after the managed paths' reads): a
client without includes costs no extra round trip. Includes, and `-c` paths its jobs
name, are read in later rounds (`more_reads_script`), one per level, only when needed.
The shell is `wizard/remote/sh/found_paths.sh` (with `read_found.sh`); its answers
(`wizard.remote.reads`): `found file|absent|unreadable|link|dir|name PATH` lines, the
`stat` lines of one `stat`, and `found-contents` with the read files concatenated into one
base64 line (cut apart by their sizes, like round 2's own files).
"""

from __future__ import annotations

import posixpath
from dataclasses import replace

from wizard.artefacts.layout import client_paths
from wizard.pipeline.facts import HostFacts
from wizard.remote import reads
from wizard.remote.shell_files import shell_script
from wizard.takeover.borgmatic_configs import Login, default_directories
from wizard.takeover.host_files import HostFiles
from wizard.takeover.retired import RETIRED_SUFFIX

DEFAULT_PUBLIC_KEYS = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk")
UNIT_DIRECTORY = "/etc/systemd/system"
VENDOR_UNIT_DIRECTORIES = ("/usr/lib/systemd/system", "/lib/systemd/system")
"""Where packages put their units (Debian's borgmatic ships `borgmatic.timer` there): one
of the two when `/lib` is a link to `usr/lib`."""
TIMERS_WANTS = UNIT_DIRECTORY + "/timers.target.wants"
"""The links `systemctl enable` makes for timers: a packaged timer runs only when linked."""
CRON_D = "/etc/cron.d"
SYSTEM_CRONTAB = "/etc/crontab"


def _top(path: str, home: str) -> str:
    return home if path.startswith(home.rstrip("/") + "/") else "/"


def existing_setup_script(facts: HostFacts, name: str) -> str:
    """The round-2 part: every path that depends only on the login (as round 2 does)."""
    login = Login(facts.login_user, facts.home)
    skip = client_paths(name, facts.home, facts.is_root).legacy_config  # read as managed
    files = [
        SYSTEM_CRONTAB,
        "/etc/borgmatic/config.yaml",
        "/etc/borgmatic/config.yaml" + RETIRED_SUFFIX,
        posixpath.join(login.config_home, "borgmatic/config.yaml"),
        posixpath.join(login.config_home, "borgmatic/config.yaml" + RETIRED_SUFFIX),
        posixpath.join(facts.home, ".ssh/config"),
        *(posixpath.join(facts.home, ".ssh", key + ".pub") for key in DEFAULT_PUBLIC_KEYS),
    ]
    directories = [*default_directories(login), TIMERS_WANTS]
    return _found_paths("setup", skip, files, directories, facts.home)


def more_reads_script(to_read: tuple[str, ...], to_list, home: str) -> str:
    """A later round: the includes and `-c` paths discovery still needs, and the
    directories it still has to list."""
    return reads.read_library() + _found_paths("more", "", to_read, to_list, home)


def _found_paths(round_: str, skip: str, files, directories, home: str) -> str:
    """`found_paths.sh`: read `files`, list (round 2: and read the configs of) `directories`."""
    args = [round_, skip, RETIRED_SUFFIX, CRON_D, UNIT_DIRECTORY, *VENDOR_UNIT_DIRECTORIES]
    args.append(str(len(files)))
    args += [word for path in [*files, *directories] for word in (path, _top(path, home))]
    return shell_script(["read_found.sh", "found_paths.sh"], args)


def parse_existing_output(facts: HostFacts, text: str, cut) -> HostFacts:
    """The facts with what an `existing_setup_script` (or a later round) reported; `cut`
    is gather's (it raises `ReadRace` when a file changed size while read)."""
    answers = [line for line in reads.read_lines(text) if line.tag in _FOUND_TAGS]
    if not any(line.tag == reads.FOUND for line in answers):
        return facts
    listings: dict[str, list[str]] = {}
    missing: dict[str, str] = {}
    sizes: dict[str, int] = {}
    order: list[str] = []
    blob = b""
    for line in answers:
        if line.tag == reads.FOUND:
            what, _, path = line.rest.partition(" ")
            if what == "file":
                order.append(path)
            elif what == "dir":
                listings.setdefault(path, [])
            elif what == "name":
                listings.setdefault(posixpath.dirname(path), []).append(posixpath.basename(path))
            else:
                missing[path] = what
        elif line.tag == reads.STAT:
            path, stat = reads.parse_stat(line.rest)
            sizes[path] = stat.size
        else:
            blob = line.payload or b""
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


_FOUND_TAGS = frozenset({reads.FOUND, reads.STAT, reads.FOUND_CONTENTS})


def client_host_files(facts: HostFacts, name: str) -> HostFiles:
    """What gather read, as discovery takes it. Borgkeep's own config (read as a managed
    file) is in it too, so that discovery knows it and marks it as Borgkeep's."""
    texts = {
        path: content.decode("utf-8", "surrogateescape")
        for path, content in facts.existing_setup_files.items()
    }
    own = facts.file(client_paths(name, facts.home, facts.is_root).legacy_config)
    if own.content is not None:
        texts[own.path] = own.text
    missing = facts.existing_setup_missing
    return HostFiles(
        texts=texts,
        listings=dict(facts.existing_setup_listings),
        absent=frozenset(path for path, what in missing.items() if what == "absent"),
        unreadable=frozenset(path for path, what in missing.items() if what != "absent"),
    )
