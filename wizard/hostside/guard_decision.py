"""The guard's decision: may this repository be pruned now, and what must survive it?

Pure: the recorded baseline, the current listing, the clock and the policy in; every reason
to refuse (each naming its archives) or an approval with the must-keep set out.

The promise: no archive that the retention policy keeps, judged by when the server first
saw each archive, is removed. An archive's *server time* is its own timestamp clamped into
the window in which the server first saw it: `[previous observation - skew, first_seen +
skew]` (no lower bound for archives recorded at `init`). A client can date an archive
however it likes; the server time cannot leave the window. Prune itself goes by the
archives' own timestamps, so the decision also runs the borg port both ways and refuses
when prune would remove an archive that the policy keeps by server time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from wizard.hostside.guard_retention import PruneCandidate
from wizard.hostside.guard_retention import borg_prune
from wizard.hostside.guard_retention import matches_prefix
from wizard.hostside.guard_text import capped_names
from wizard.hostside.guard_text import is_safe_name

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class ListedArchive:
    """One line of `borg list --json`: ID (64 hex), name, timestamp (aware UTC)."""

    id: str
    name: str
    time: datetime


@dataclass(frozen=True)
class RecordedArchive:
    """An archive in the baseline: as listed, when the guard first saw it, and the guard's
    previous observation before that (None: recorded at init, no lower bound)."""

    name: str
    time: datetime
    first_seen: datetime
    seen_after: datetime | None


@dataclass(frozen=True)
class Policy:
    """One client's policy: archive prefix (borgmatic's match), retention, new-archive budget."""

    prefix: str
    retention: Mapping[str, int | str]
    max_new_per_day: int
    clock_skew: timedelta


@dataclass(frozen=True)
class Reason:
    """One reason to refuse: a kind, a sentence for the operator, the archives it names."""

    kind: str
    text: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    reasons: tuple[Reason, ...]
    must_keep: frozenset[str]
    """IDs the policy keeps by server time."""
    would_remove: frozenset[str]
    """IDs that prune, going by the archives' own timestamps, would remove."""
    new_ids: tuple[str, ...]

    @property
    def approved(self) -> bool:
        return not self.reasons


def server_time(
    time: datetime, first_seen: datetime, seen_after: datetime | None, skew: timedelta
) -> datetime:
    """The archive's timestamp, clamped into the window in which the server first saw it."""
    upper = first_seen + skew
    if seen_after is not None:
        time = max(time, seen_after - skew)
    return min(time, upper)


def new_archive_budget(max_new_per_day: int, last_run: datetime, now: datetime) -> int:
    """How many new archives may have appeared since `last_run`: a day's budget per day begun."""
    days = math.ceil((now - last_run) / ONE_DAY)
    return max_new_per_day * max(1, days)


def policy_keeps(
    listing: Sequence[ListedArchive],
    times: Mapping[str, datetime],
    policy: Policy,
    now: datetime,
) -> tuple[frozenset[str], frozenset[str]]:
    """(kept, removed) IDs when prune applies the policy with `times` as the archives' times."""
    candidates = [
        PruneCandidate(archive.id, archive.name, times[archive.id])
        for archive in listing
        if matches_prefix(archive.name, policy.prefix)
    ]
    outcome = borg_prune(candidates, policy.retention, now)
    return frozenset(outcome.kept), outcome.removed


def server_times(
    recorded: Mapping[str, RecordedArchive],
    last_run: datetime,
    listing: Sequence[ListedArchive],
    now: datetime,
    skew: timedelta,
) -> dict[str, datetime]:
    """Each listed archive's server time; a new archive is first seen `now`, after `last_run`."""
    times = {}
    for archive in listing:
        seen = recorded.get(archive.id)
        if seen is None:
            times[archive.id] = server_time(archive.time, now, last_run, skew)
        else:
            times[archive.id] = server_time(archive.time, seen.first_seen, seen.seen_after, skew)
    return times


def _reason(kind: str, what: str, names: Sequence[str]) -> Reason:
    return Reason(kind, f"{len(names)} {what} ({capped_names(names)})", tuple(names))


def decide(
    recorded: Mapping[str, RecordedArchive],
    last_run: datetime,
    listing: Sequence[ListedArchive],
    now: datetime,
    policy: Policy,
    touched_objects: Sequence[tuple[str, str]] = (),
) -> Decision:
    """Every reason to refuse pruning now, and the must-keep set.

    `touched_objects` are (hex ID, "deleted"|"overwritten") for stored objects that existed
    at the baseline and were changed since (see guard_segments).
    """
    skew = policy.clock_skew
    listed = {archive.id: archive for archive in listing}
    reasons: list[Reason] = []

    if now < last_run - skew:
        reasons.append(
            Reason(
                "clock",
                f"the server's clock reads {now:%Y-%m-%d %H:%M:%S} UTC, before the previous "
                f"guard run at {last_run:%Y-%m-%d %H:%M:%S} UTC",
                (),
            )
        )

    deleted = [seen.name for id_, seen in recorded.items() if id_ not in listed]
    if deleted:
        reasons.append(_reason("deleted", "archive(s) deleted outside the server's prune", deleted))

    changed = [
        seen.name
        for id_, seen in recorded.items()
        if id_ in listed and (listed[id_].name, listed[id_].time) != (seen.name, seen.time)
    ]
    if changed:
        reasons.append(
            _reason("changed", "recorded archive(s) listed with another name or time", changed)
        )

    unsafe = [archive.name for archive in listing if not is_safe_name(archive.name)]
    if unsafe:
        reasons.append(
            _reason(
                "unsafe-name", "archive name(s) with control characters or invalid text", unsafe
            )
        )

    new = [archive for archive in listing if archive.id not in recorded]
    future = [a.name for a in new if a.time > now + skew]
    if future:
        reasons.append(_reason("future", "new archive(s) dated in the future", future))
    backdated = [a.name for a in new if a.time < last_run - skew]
    if backdated:
        reasons.append(
            _reason(
                "backdated",
                "new archive(s) dated before the previous guard run, which did not see them",
                backdated,
            )
        )
    budget = new_archive_budget(policy.max_new_per_day, last_run, now)
    if len(new) > budget:
        reasons.append(
            _reason(
                "burst",
                f"new archive(s) since the previous guard run, more than the {budget} allowed",
                [a.name for a in new],
            )
        )

    if touched_objects:
        labels = []
        for object_id, how in touched_objects:
            archive = recorded.get(object_id)
            label = f"archive {archive.name}" if archive else f"object {object_id[:16]}"
            labels.append(f"{label} {how}")
        reasons.append(
            _reason(
                "objects",
                "stored object(s) from before the previous guard run deleted or overwritten",
                labels,
            )
        )

    times = server_times(recorded, last_run, listing, now, skew)
    must_keep, _ = policy_keeps(listing, times, policy, now)
    _, would_remove = policy_keeps(listing, {a.id: a.time for a in listing}, policy, now)
    endangered = [listed[id_].name for id_ in listed if id_ in must_keep & would_remove]
    if endangered:
        reasons.append(
            _reason(
                "retention",
                "archive(s) that the policy keeps by the server's clock would be removed by "
                "prune, which goes by the archives' own timestamps",
                endangered,
            )
        )

    return Decision(
        reasons=tuple(reasons),
        must_keep=must_keep,
        would_remove=would_remove,
        new_ids=tuple(a.id for a in new),
    )


def refusal_summary(reasons: Sequence[Reason]) -> str:
    """Every reason in one clause list: "20 new archive(s) dated in the future (…); …"."""
    return "; ".join(reason.text for reason in reasons)


def named_archives(reasons: Sequence[Reason]) -> list[str]:
    """Every name the reasons mention, once, in order (raw; escape before printing)."""
    seen: dict[str, None] = {}
    for reason in reasons:
        for name in reason.names:
            seen.setdefault(name, None)
    return list(seen)
