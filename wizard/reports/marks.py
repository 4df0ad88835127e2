"""The marks every result line starts with, and one progress event as a line."""

from __future__ import annotations

from wizard.safe_text import safe_text

MARK_DONE, MARK_ERROR, MARK_SKIP, MARK_STEP = "✓", "✗", "-", "·"

EVENT_MARKS = {"done": MARK_DONE, "error": MARK_ERROR, "skip": MARK_SKIP}
NOTHING_TO_CHANGE = "Nothing to change: every host is already in the desired state."


def event_line(host: str, level: str, message: str) -> str:
    """One progress event (`on_event(host, level, message)`) as a log line."""
    mark = EVENT_MARKS.get(level, MARK_STEP)
    message = safe_text(message, keep_newlines=False)
    if not host:
        return f"{mark} {message}"
    return f"{mark} {host}: {message.removeprefix(f'{host}: ')}"  # a step error names it
