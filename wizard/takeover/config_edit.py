"""A user's borgmatic config without one of its repositories, edited line by line (issue 21:
a client whose config backs up to several repositories keeps backing up to the others while
Borgkeep takes over the one on its server). Pure.

The repository's list entry is commented out where it stands (`# borgkeep took over: ...`),
every other byte kept, so the user's comments, order and includes survive. The edit is
proven before it is offered: the edited file, loaded the way borgmatic loads it (includes,
merges), must be the original with exactly that one entry gone. Anything else (a flow-style
list, the entry in an include, an anchor, the same repository twice) is refused with the
reason, and the caller refuses the takeover as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from wizard.takeover.borgmatic_yaml import load_borgmatic_yaml
from wizard.takeover.host_files import HostFiles
from wizard.takeover.versions import Version

TAKEN_OVER_MARK = "# borgkeep took over: "
_ITEM_RE = re.compile(r"^(?P<indent>[ \t]*)-[ \t]+(?P<rest>\S.*)$")
_PATH_KEY = r"(?:path:[ \t]*)"


@dataclass(frozen=True)
class RepositoryDropped:
    """The config's new text, and which of its lines (1-based) were commented out."""

    text: str
    lines: tuple[int, ...]


def _value_re(raw: str) -> re.Pattern[str]:
    quoted = rf"(?P<q>['\"]?){re.escape(raw)}(?P=q)"
    return re.compile(rf"^[ \t]*(?:-[ \t]+)?{_PATH_KEY}?{quoted}[ \t]*(?:#.*)?\r?\n?$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _entry_lines(lines: list[str], raw: str) -> range | str:
    """The lines of the list entry naming `raw`, or why they cannot be found."""
    pattern = _value_re(raw)
    hits = [i for i, line in enumerate(lines) if pattern.match(line)]
    if len(hits) != 1:
        where = "twice" if hits else "not on a line of its own in the file"
        return f"the repository {raw} is {where}"
    start = hits[0]
    if not _ITEM_RE.match(lines[start]):  # `path:` below the entry's dash (`- label: x`)
        key = _indent(lines[start])
        start = next(
            (
                i
                for i in range(start - 1, -1, -1)
                if (m := _ITEM_RE.match(lines[i])) and len(m.group("indent")) + 2 <= key
            ),
            -1,
        )
        if start < 0:
            return f"the repository {raw} is not an entry of a list"
    dash = _indent(lines[start])
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line.strip() and not line.lstrip().startswith("#") and _indent(line) <= dash:
            break
        end += 1
    while end > start + 1 and lines[end - 1].strip()[:1] in ("", "#"):
        end -= 1  # blank lines and comments before the next entry are not this one's
    return range(start, end)


def _repositories(data: object) -> list | None:
    if not isinstance(data, Mapping):
        return None
    location = data.get("location")
    if isinstance(location, Mapping) and isinstance(location.get("repositories"), list):
        return location["repositories"]
    found = data.get("repositories")
    return found if isinstance(found, list) else None


def _names(entry: object, raw: str) -> bool:
    if isinstance(entry, Mapping):
        return entry.get("path") == raw
    return entry == raw


def drop_repository(
    path: str,
    files: HostFiles,
    raw: str,
    *,
    version: Version,
    home: str,
    user: str | None,
) -> RepositoryDropped | str:
    """`path`'s text with the list entry of repository `raw` (as the config spells it)
    commented out, proven by loading both the way borgmatic `version` does; or the reason
    it cannot be done line by line."""
    text = files.texts.get(path)
    if text is None:
        return f"{path} was not read"
    lines = text.splitlines(keepends=True)
    entry = _entry_lines(lines, raw)
    if isinstance(entry, str):
        return entry
    edited = list(lines)
    for i in entry:
        if lines[i].strip():
            edited[i] = TAKEN_OVER_MARK + lines[i]
    new_text = "".join(edited)
    if new_text and not new_text.endswith("\n"):
        new_text += "\n"

    def load(content: str) -> object:
        texts = {**files.texts, path: content}
        loaded = load_borgmatic_yaml(
            path, replace(files, texts=texts), version=version, home=home, user=user, cwd=home
        )
        return loaded.data if loaded.error is None and not loaded.to_read else None

    before = load(text)
    wanted = _repositories(before)
    if wanted is None:
        return f"{path}'s repositories could not be read"
    kept = [entry for entry in wanted if not _names(entry, raw)]
    if len(kept) != len(wanted) - 1 or not kept:
        return f"{path} does not list {raw} once beside other repositories"
    wanted[:] = kept
    after = load(new_text)
    if _repositories(after) is None:
        return f"{path}'s repositories could not be read back after the edit"
    if after != before:
        return f"{path} would change more than its entry for {raw} (an anchor or a merge)"
    return RepositoryDropped(new_text, tuple(i + 1 for i in entry if lines[i].strip()))
