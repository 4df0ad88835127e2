"""The borgmatic releases whose differences change what discovery reads.

Borgkeep's own renderers keep theirs in `wizard.artefacts.borgmatic_versions`; these are the
ones only an existing config can show (they belong there once discovery is wired in).
Each date was read from borgmatic's own source at that tag.
"""

from __future__ import annotations

from wizard.artefacts.borgmatic_versions import (
    CREATE_FIRST_SINCE,
    FLAT_OPTIONS_SINCE,
    MATCH_ARCHIVES_SINCE,
    Version,
    parse_version,
)

LABELS_SINCE: Version = (1, 7, 10)
"""Repositories may be `{path, label}` mappings (before: strings only)."""
CONSTANTS_SINCE: Version = (1, 7, 10)
"""`constants:` and `{name}` in option values (substituted in the file text until 1.8.4,
in the parsed values since 1.8.5, which also turns "7" into 7)."""
STRUCTURED_CONSTANTS_SINCE: Version = (1, 8, 5)
RETAIN_OMIT_SINCE: Version = (1, 7, 12)
"""The `!retain` and `!omit` tags of merged includes."""
GROUPED_MERGE_SINCE: Version = (1, 8, 1)
"""Deep merge groups every value of a key (before: pairwise, so a third duplicate is left
over) and `!include` takes a list of files."""
CONFIG_FLAG_APPEND_SINCE: Version = FLAT_OPTIONS_SINCE
"""`-c FILE` once per file (1.7: `-c A B ...` takes every following word)."""
PREFIX_DEFAULT_UNTIL: Version = MATCH_ARCHIVES_SINCE
"""Before 1.7.11, prune and check select `{hostname}-*` unless `prefix` says otherwise."""

DEFAULT_ARCHIVE_NAME_FORMAT = "{hostname}-{now:%Y-%m-%dT%H:%M:%S.%f}"
DEFAULT_PREFIX_BEFORE_MATCH_ARCHIVES = "{hostname}-"


def default_actions(version: Version) -> tuple[str, ...]:
    """What bare `borgmatic` runs, in that version's order."""
    if version >= CREATE_FIRST_SINCE:
        return ("create", "prune", "compact", "check")
    return ("prune", "compact", "create", "check")


__all__ = [
    "CONFIG_FLAG_APPEND_SINCE",
    "CONSTANTS_SINCE",
    "DEFAULT_ARCHIVE_NAME_FORMAT",
    "DEFAULT_PREFIX_BEFORE_MATCH_ARCHIVES",
    "FLAT_OPTIONS_SINCE",
    "GROUPED_MERGE_SINCE",
    "LABELS_SINCE",
    "PREFIX_DEFAULT_UNTIL",
    "RETAIN_OMIT_SINCE",
    "STRUCTURED_CONSTANTS_SINCE",
    "Version",
    "default_actions",
    "parse_version",
]
