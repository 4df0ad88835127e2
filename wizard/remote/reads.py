"""Gather's read protocol: the shell that reads paths on a host (`sh/read_paths.sh`; what
an existing setup may have: `sh/read_found.sh`, `found_paths.sh`) and the
lines it answers with, one fact per line, a named tag first.

Every value in a read script is a path, quoted once where the call is written. Three tags
carry a payload, one base64 line after the tag's own line: `contents` (the readable files
of `read_file`, concatenated and cut apart by the sizes of their `stat` lines; a file that
changed size in between makes them disagree: `ReadRace`), `crontab` and `found-contents`.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from wizard.remote.shell_files import shell_file

FILE, DIR, ABSENT, PROBLEM, STAT = "file", "dir", "absent", "problem", "stat"
CONTENTS, ABOVE, HASHED, EXISTS = "contents", "above", "hashed", "exists"
REPOSITORY, CRONTAB, NO_CRONTAB, SPACE = "repository", "crontab", "no-crontab", "space"
FOUND, FOUND_CONTENTS = "found", "found-contents"
WITH_PAYLOAD = frozenset({CONTENTS, CRONTAB, FOUND_CONTENTS})


def read_library() -> str:
    """The functions every read script calls (`read_file`, `read_dir`, `stat_paths`, ...)."""
    return shell_file("dirname.sh") + shell_file("read_paths.sh")


def read_paths_script(
    files: Sequence[tuple[str, str]] = (),
    dirs: Sequence[tuple[str, str]] = (),
    exists: Sequence[str] = (),
    repos: Sequence[str] = (),
    crontab_of: str | None = None,
    space: Sequence[str] = (),
    ancestors_of: Sequence[str] = (),
    hashed: Sequence[tuple[str, str]] = (),
) -> str:
    """One script that reads every path as whoever runs it. `files` and `dirs` pair a path
    with the top of the tree it lies in (see `HostIdentity.base`); `crontab_of` names the
    running account, whose own crontab is read; `ancestors_of` lists, without following
    links, who owns every directory above a path; `hashed` files are read as their SHA-256
    only (a private key's bytes never leave its host)."""
    q = shlex.quote
    lines = [read_library()]
    lines += [f"read_file {index} {q(path)} {q(top)}" for index, (path, top) in enumerate(files)]
    lines += [f"hash_file {q(path)} {q(top)}" for path, top in hashed]
    lines += [f"read_dir {q(path)} {q(top)}" for path, top in dirs]
    lines += [f"exists {q(p)}" for p in exists]
    lines += [f"repository {q(p)}" for p in repos]
    if crontab_of:
        lines.append(f"read_crontab {q(crontab_of)}")
    lines += [f"free_space {q(p)}" for p in space]
    lines += [f"owners_above {q(p)}" for p in ancestors_of]
    stated = [path for path, _ in files] + [path for path, _ in dirs]
    if stated:
        lines.append("stat_paths " + " ".join(q(path) for path in stated))
    if files:
        lines.append("set --")
        lines += [
            f'[ -z "${{read_{index}:-}}" ] || set -- "$@" {q(path)}'
            for index, (path, _) in enumerate(files)
        ]
        lines.append('cat_files "$@"')
    lines.append("true")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ReadLine:
    """One answer: its tag, the rest of its line, and its payload (`WITH_PAYLOAD` tags)."""

    tag: str
    rest: str
    payload: bytes | None = None


def read_lines(text: str) -> Iterator[ReadLine]:
    """The answers of a read script's output, in order; a payload line is never read as a
    tag line."""
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        tag, _, rest = line.partition(" ")
        payload = None
        if tag in WITH_PAYLOAD:
            encoded = lines[index] if index < len(lines) else ""
            payload = base64.b64decode(encoded) if encoded else b""
            index += 1
        yield ReadLine(tag, rest, payload)


@dataclass(frozen=True)
class Stat:
    """A `stat` line: mode, owner, group, size and mtime (None when not a number)."""

    mode: int
    owner: str
    group: str
    size: int
    mtime: int | None


def parse_stat(rest: str) -> tuple[str, Stat]:
    mode, owner, group, size, mtime, path = rest.split(" ", 5)
    return path, Stat(
        int(mode, 8), owner, group, int(size), int(mtime) if mtime.isdigit() else None
    )


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
