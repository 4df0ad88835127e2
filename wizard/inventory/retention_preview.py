"""What a retention policy keeps, computed with Borg's own prune rules (pure, no I/O).

The Retention screen shows this as a preview so the operator sees the effect of the
keep_* numbers before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

PRUNE_RULES = (
    ("daily", "%Y-%m-%d"),
    ("weekly", "%G-%V"),
    ("monthly", "%Y-%m"),
    ("yearly", "%Y"),
)


@dataclass(frozen=True)
class RetentionPreview:
    """The archives that survive a prune, and which rule kept each one."""

    total: int
    kept: tuple[date, ...]
    by_rule: dict[str, int]

    @property
    def oldest(self) -> date | None:
        return min(self.kept) if self.kept else None


def daily_archive_dates(count: int, newest: date) -> list[date]:
    """One archive a day for `count` days, newest first (what a daily cron job makes)."""
    return [newest - timedelta(days=i) for i in range(count)]


def kept_daily_archives(
    retention: dict, count: int = 400, newest: date | None = None
) -> RetentionPreview:
    """Apply Borg's `prune_split` (borg 1.2 `helpers/misc.py`) rule by rule to `count` daily
    archives: each rule walks newest first, keeps the first archive of every new period not
    already kept by an earlier rule, and keeps the oldest archive if its count is not reached.
    `keep_within` is applied as a number of days (hours round up to a day) before the rules."""
    newest = newest or date.today()
    archives = daily_archive_dates(count, newest)
    kept: dict[date, str] = {}
    within = retention.get("keep_within")
    if isinstance(within, str) and within:
        days = _within_days(within)
        for day in archives:
            if (newest - day).days < days:
                kept[day] = "within"
    for rule, pattern in PRUNE_RULES:
        wanted = retention.get(f"keep_{rule}") or 0
        if not isinstance(wanted, int) or wanted <= 0:
            continue
        last = None
        taken = 0
        current = None
        for current in archives:
            period = current.strftime(pattern)
            if period == last:
                continue
            last = period
            if current not in kept:
                kept[current] = rule
                taken += 1
                if taken == wanted:
                    break
        if current is not None and taken < wanted and current not in kept:
            kept[current] = rule
    counts: dict[str, int] = {}
    for rule in kept.values():
        counts[rule] = counts.get(rule, 0) + 1
    return RetentionPreview(count, tuple(sorted(kept, reverse=True)), counts)


def _within_days(interval: str) -> int:
    amount, unit = int(interval[:-1]), interval[-1]
    per_unit = {"H": 1 / 24, "d": 1, "w": 7, "m": 31, "y": 365, "S": 1 / 86400}
    days = amount * per_unit.get(unit, 1)
    return max(1, int(days) + (0 if days == int(days) else 1))


def describe_preview(preview: RetentionPreview, newest: date) -> str:
    """One plain sentence for the screen."""
    if not preview.kept:
        return f"Of the last {preview.total} daily archives, none survive a prune."
    parts = [f"{n} {rule}" for rule, n in preview.by_rule.items()]
    age = (newest - preview.oldest).days if preview.oldest else 0
    return (
        f"Of the last {preview.total} daily archives, {len(preview.kept)} survive a prune "
        f"({', '.join(parts)}); the oldest kept is {age} days old."
    )
