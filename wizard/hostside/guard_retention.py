"""A faithful port of borg 1.2's prune rules, so the guard can apply a policy to any clock.

Read from borg 1.2.4 (`borg/archiver.py` `do_prune`, `borg/helpers/misc.py` `prune_within`
and `prune_split`, `borg/helpers/parseformat.py` `interval`, `borg/shellpattern.py`):

- Archives are taken in the manifest's order, stably sorted by timestamp, then reversed
  (newest first; of two archives with the same timestamp, the one added later comes first).
- Names ending in `.checkpoint` or `.checkpoint.N` are checkpoints: no rule counts them; the
  newest checkpoint is kept only when it is newer than every other archive; the others go.
- `--keep-within` keeps archives whose timestamp is strictly after now minus the interval
  (`H` hours, `d` 24 h, `w` 7 d, `m` 31 d, `y` 365 d).
- Then the period rules in the order secondly, minutely, hourly, daily, weekly (ISO
  `%G-%V`), monthly, yearly: walking newest first, the first archive of each new period is
  kept unless an earlier rule already kept it (it still opens the period), until N are kept.
- "[oldest]": when a rule kept fewer than N, the oldest archive is kept too, unless already
  kept by some rule (this exists in 1.2.x; it was added in 1.2.0).
- Periods are taken in local time; the guard runs every borg with TZ=UTC, so UTC here.
- `--glob-archives 'PREFIX*'` matches names that start with PREFIX and hold no '/' after it
  (`*` does not cross '/'; a checkpoint suffix is allowed after the match).
- `keep_last` is `keep_secondly`; a count of 0 is the same as leaving the rule out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from datetime import timezone

PRUNE_PERIODS = (
    ("secondly", "%Y-%m-%d %H:%M:%S"),
    ("minutely", "%Y-%m-%d %H:%M"),
    ("hourly", "%Y-%m-%d %H"),
    ("daily", "%Y-%m-%d"),
    ("weekly", "%G-%V"),
    ("monthly", "%Y-%m"),
    ("yearly", "%Y"),
)
WITHIN_UNIT_HOURS = {"H": 1, "d": 24, "w": 24 * 7, "m": 24 * 31, "y": 24 * 365}
CHECKPOINT_SUFFIX_RE = re.compile(r"\.checkpoint(\.\d+)?\Z")


@dataclass(frozen=True)
class PruneCandidate:
    """One archive as prune sees it: its ID, name and the time the rules go by (aware UTC)."""

    id: str
    name: str
    ts: datetime


@dataclass(frozen=True)
class PruneOutcome:
    """Which IDs prune keeps (with borg's rule label and count) and which it removes."""

    kept: dict[str, tuple[str, int]]
    removed: frozenset[str]


def within_hours(interval: str) -> int:
    """Borg's `interval()`: "2d" → 48; ValueError for anything borg would refuse."""
    number, unit = interval[:-1], interval[-1:]
    if unit not in WITHIN_UNIT_HOURS or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{interval!r} is not an interval such as '2d' or '12H'")
    return int(number) * WITHIN_UNIT_HOURS[unit]


def matches_prefix(name: str, prefix: str) -> bool:
    """Borg's shell-pattern match of `PREFIX*` (what borgmatic's prefix/match_archives pass)."""
    return name.startswith(prefix) and "/" not in name[len(prefix) :]


def _period(ts: datetime, pattern: str) -> str:
    return ts.astimezone(timezone.utc).strftime(pattern)


def _prune_within(
    archives: Sequence[PruneCandidate], hours: int, now: datetime, kept: dict
) -> None:
    target = now - timedelta(hours=hours)
    count = 0
    for archive in archives:
        if archive.ts > target:
            count += 1
            kept[archive.id] = ("within", count)


def _prune_split(
    archives: Sequence[PruneCandidate], rule: str, pattern: str, n: int, kept: dict
) -> None:
    if n == 0:
        return
    last = None
    count = 0
    archive = None
    for archive in sorted(archives, key=lambda a: a.ts, reverse=True):
        period = _period(archive.ts, pattern)
        if period != last:
            last = period
            if archive.id not in kept:
                count += 1
                kept[archive.id] = (rule, count)
                if count == n:
                    break
    if archive is not None and count < n and archive.id not in kept:
        count += 1
        kept[archive.id] = (rule + "[oldest]", count)


def borg_prune(
    archives: Iterable[PruneCandidate], retention: Mapping[str, int | str], now: datetime
) -> PruneOutcome:
    """What `borg prune` 1.2 keeps and removes among `archives` (already filtered by the glob,
    in the manifest's order, e.g. as `borg list` prints them), with `now` as its clock."""
    ordered = sorted(archives, key=lambda a: a.ts)
    ordered.reverse()
    checkpoints = [a for a in ordered if CHECKPOINT_SUFFIX_RE.search(a.name)]
    keep_checkpoints = set()
    if ordered and checkpoints and ordered[0] is checkpoints[0]:
        keep_checkpoints.add(checkpoints[0].id)
    checkpoint_ids = {a.id for a in checkpoints}
    regular = [a for a in ordered if a.id not in checkpoint_ids]

    kept: dict[str, tuple[str, int]] = {}
    within = retention.get("keep_within")
    if within:
        _prune_within(regular, within_hours(str(within)), now, kept)
    for rule, pattern in PRUNE_PERIODS:
        count = retention.get(f"keep_{rule}")
        if rule == "secondly" and count is None:
            count = retention.get("keep_last")
        if count is not None:
            _prune_split(regular, rule, pattern, int(count), kept)
    for checkpoint_id in keep_checkpoints:
        kept[checkpoint_id] = ("checkpoint", 1)
    removed = frozenset(a.id for a in ordered if a.id not in kept)
    return PruneOutcome(kept=kept, removed=removed)


def retention_problem(retention: Mapping[str, object]) -> str | None:
    """Why borg would refuse this retention, or None (it needs at least one rule > 0)."""
    known = {f"keep_{rule}" for rule, _ in PRUNE_PERIODS} | {"keep_within", "keep_last"}
    unknown = sorted(set(retention) - known)
    if unknown:
        return f"unknown retention option(s): {', '.join(unknown)}"
    for key, value in retention.items():
        if key == "keep_within":
            try:
                within_hours(str(value))
            except ValueError as error:
                return f"{key}: {error}"
        elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"{key}: {value!r} is not a whole number >= 0"
    if not any(value for value in retention.values()):
        return "at least one keep_* option must be set"
    return None
