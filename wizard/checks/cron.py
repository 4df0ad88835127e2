"""Cron expressions as Debian's cron reads them, with the reason when one is wrong.

`explain_cron_problem` names the field and what is wrong with it ("hour 25 is out of range
0-23"), so the wizard and `borgkeep validate` say the same thing. The grammar is Vixie
cron's (Debian 12): per field a comma-separated list of `*`, `N`, `N-M`, each range or `*`
optionally followed by `/STEP`; month and weekday also take three-letter names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    """Names for low, low+1, ... (month: jan=1; weekday: sun=0)."""

    def value_of(self, word: str) -> int | None:
        lowered = word.lower()
        if lowered in self.names:
            return self.low + self.names.index(lowered)
        return int(word) if word.isdigit() else None


MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
CRON_FIELDS = (
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day of month", 1, 31),
    CronField("month", 1, 12, MONTHS),
    CronField("weekday", 0, 7, WEEKDAYS),
)
FIELD_ORDER = "minute hour day-of-month month weekday"
_ITEM_RE = re.compile(r"(?P<range>\*|[^-/]+(?:-[^-/]+)?)(?:/(?P<step>.*))?\Z")


def explain_cron_problem(expression: str) -> str | None:
    """What is wrong with a 5-field cron expression, in one sentence; None if nothing is."""
    fields = expression.split()
    if len(fields) != len(CRON_FIELDS):
        if expression.strip().startswith("@"):
            return f"{expression.strip()!r}: use five fields ({FIELD_ORDER}), not an @ shortcut"
        return f"{len(fields)} field(s) where cron needs 5 ({FIELD_ORDER}), e.g. '30 5 * * *'"
    for spec, text in zip(CRON_FIELDS, fields, strict=True):
        problem = _field_problem(spec, text)
        if problem:
            return problem
    return None


def _field_problem(spec: CronField, text: str) -> str | None:
    for item in text.split(","):
        problem = _item_problem(spec, item, text)
        if problem:
            return problem
    return None


def _number_problem(spec: CronField, word: str) -> tuple[int | None, str | None]:
    value = spec.value_of(word)
    if value is None:
        if not spec.names:
            return None, f"{spec.name} {word!r} is not a number ({spec.low}-{spec.high})"
        examples = f"{spec.names[0]} … {spec.names[-1]}"
        return None, (
            f"{spec.name} {word!r} is not a number ({spec.low}-{spec.high}) "
            f"or a three-letter name ({examples})"
        )
    if not spec.low <= value <= spec.high:
        return None, f"{spec.name} {value} is out of range {spec.low}-{spec.high}"
    return value, None


def _item_problem(spec: CronField, item: str, whole: str) -> str | None:
    if not item:
        return f"{spec.name} {whole!r} has an empty item between commas"
    match = _ITEM_RE.match(item)
    if match is None:
        return f"{spec.name} {item!r} is not a value, a range (1-5) or a step (*/10)"
    range_text, step = match["range"], match["step"]
    if range_text != "*":
        low_word, dash, high_word = range_text.partition("-")
        low, problem = _number_problem(spec, low_word)
        if problem:
            return problem
        if dash:
            high, problem = _number_problem(spec, high_word)
            if problem:
                return problem
            if low is not None and high is not None and low > high:
                return (
                    f"{spec.name} range {range_text} runs backwards "
                    f"(cron cannot wrap around; write it as two ranges)"
                )
        elif step is not None:
            return (
                f"{spec.name} {item!r}: a step needs a range or '*' "
                f"(e.g. {low_word}-{spec.high}/{step})"
            )
    if step is not None:
        if not step.isdigit():
            return f"{spec.name} step {step!r} in {item!r} is not a number"
        if int(step) < 1:
            return f"{spec.name} step in {item!r} must be at least 1"
        if int(step) > spec.high - spec.low + 1:
            return f"{spec.name} step {step} in {item!r} is larger than the field's range"
    return None


def staggered_schedule(client_name: str, window_start_hour: int = 1, window_hours: int = 5) -> str:
    """A daily schedule inside the window, fixed by the client's name alone.

    A stable hash (not `hash()`, which changes per process) spreads clients over the
    window, and adding a client never moves another client's time.
    """
    if not isinstance(window_start_hour, int) or not 0 <= window_start_hour <= 23:
        raise ValueError(f"window_start_hour {window_start_hour!r} must be 0-23")
    if not isinstance(window_hours, int) or not 1 <= window_hours <= 24:
        raise ValueError(f"window_hours {window_hours!r} must be 1-24")
    import hashlib  # on first use: the wizard's first screen does not stagger schedules

    digest = hashlib.sha256(client_name.encode("utf-8")).digest()
    offset_minutes = int.from_bytes(digest[:8], "big") % (window_hours * 60)
    hour = (window_start_hour + offset_minutes // 60) % 24
    return f"{offset_minutes % 60} {hour} * * *"
