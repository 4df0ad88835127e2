"""Text the guard prints: hostile archive names escaped, lists capped, times in ISO 8601 UTC.

Archive names come from a possibly compromised client. Every name that reaches a message,
the state's `last_result` or a notification goes through `safe_name`, so a name cannot
forge a line, move the terminal's cursor or hide behind a right-to-left override.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from datetime import timezone

MESSAGE_PREFIX = "borgkeep-guard"
NAMES_SHOWN = 3


def safe_name(text: str) -> str:
    """`text` with every non-printable character as `\\xNN`/`\\uNNNN`/`\\UNNNNNNNN` and `\\`
    doubled, so the result is one printable line that still tells names apart."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            if code < 0x100:
                out.append(f"\\x{code:02x}")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    return "".join(out)


def is_safe_name(text: str) -> bool:
    """True when a name prints as itself: no control, format, surrogate or unassigned
    characters (C0, DEL, C1, bidi overrides, undecodable bytes, line separators)."""
    return text.isprintable()


def capped_names(names: Sequence[str], shown: int = NAMES_SHOWN) -> str:
    """ "a, b, c and 17 more": the first few names, escaped, then how many were left out."""
    escaped = [safe_name(name) for name in names[:shown]]
    rest = len(names) - len(escaped)
    if rest > 0:
        return f"{', '.join(escaped)} and {rest} more"
    return ", ".join(escaped)


def iso_utc(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC ("2026-01-01T03:00:00+00:00")."""
    return moment.astimezone(timezone.utc).isoformat()


def parse_iso_utc(text: str) -> datetime:
    """The inverse of `iso_utc`; a naive time is taken as UTC (borg prints UTC under TZ=timezone.utc)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
