"""Every borgmatic version difference that Borgkeep cares about, in one place.

Renderers ask these predicates instead of comparing version numbers themselves, so that
supporting a new borgmatic release means reading (and editing) only this module.
"""

from __future__ import annotations

import posixpath
import re

Version = tuple[int, int, int]

OLDEST_SUPPORTED: Version = (1, 7, 0)
FLAT_OPTIONS_SINCE: Version = (1, 8, 0)
"""1.8.0 dropped the location/storage/retention/consistency sections."""
MATCH_ARCHIVES_SINCE: Version = (1, 7, 11)
"""1.7.11 added `match_archives` (in `storage`) and deprecated the `prefix` options."""
SKIP_ACTIONS_SINCE: Version = (1, 8, 5)
"""1.8.5 added `skip_actions`; before it the client config guards prune/compact with hooks."""
CREATE_FIRST_SINCE: Version = (1, 7, 9)
"""1.7.9 changed bare `borgmatic` from prune, compact, create, check to create, prune,
compact, check: before it a failing before_prune guard stops the run before any backup."""
CONFIG_VALIDATE_ACTION_SINCE: Version = (1, 8, 0)
"""From here on `borgmatic config validate`; older releases ship `validate-borgmatic-config`."""

_VERSION_RE = re.compile(
    r"\s*(?:borgmatic\s+)?(\d+)\.(\d+)(?:\.(\d+))?(?:[.+-][A-Za-z0-9.+-]*|[A-Za-z][A-Za-z0-9.+-]*)?\s*\Z"
)


def parse_version(version: str) -> Version:
    """ "1.7.7" / "2.1.10" / "1.8.0.dev0" → (major, minor, patch); ValueError when unparsable."""
    match = _VERSION_RE.match(version) if isinstance(version, str) else None
    if match is None:
        raise ValueError(f"{version!r} is not a borgmatic version such as '1.7.7' or '2.1.10'")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def check_supported(version: str) -> Version:
    """Parse and refuse releases older than 1.7, whose schema we never validated against."""
    parsed = parse_version(version)
    if parsed < OLDEST_SUPPORTED:
        raise ValueError(f"borgmatic {version} is too old: Borgkeep needs borgmatic 1.7 or newer")
    return parsed


def is_sectioned(version: str) -> bool:
    """True for 1.7.x, whose configs nest options under location/storage/retention/consistency."""
    return check_supported(version) < FLAT_OPTIONS_SINCE


def supports_skip_actions(version: str) -> bool:
    """`skip_actions` makes a config refuse prune/compact even when bare `borgmatic` asks."""
    return check_supported(version) >= SKIP_ACTIONS_SINCE


def bare_run_creates_first(version: str) -> bool:
    """Whether bare `borgmatic` (no actions) runs create before prune and compact."""
    return check_supported(version) >= CREATE_FIRST_SINCE


def supports_match_archives(version: str) -> bool:
    """Without `match_archives`, archive selection falls back to the `prefix` options."""
    return check_supported(version) >= MATCH_ARCHIVES_SINCE


def validate_config_command(
    *, borgmatic_version: str, borgmatic_path: str, config_path: str
) -> list[str]:
    """The argv that makes this borgmatic validate a config file with its own schema.

    For 1.7 the separate `validate-borgmatic-config` script is installed next to `borgmatic`.
    """
    if check_supported(borgmatic_version) >= CONFIG_VALIDATE_ACTION_SINCE:
        return [borgmatic_path, "config", "validate", "-c", config_path]
    validator = posixpath.join(posixpath.dirname(borgmatic_path), "validate-borgmatic-config")
    return [validator, "-c", config_path]
