"""A block of lines that borgkeep owns inside a file it shares with people.

authorized_keys and crontabs hold other people's lines too, so borgkeep only ever rewrites
the lines between its two marker comments and keeps every other byte as it was: CRLF
endings, a missing final newline, blank lines, odd whitespace. The markers are ASCII so
that cron, sshd and any editor read them without surprises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

MANAGED_MARK = "# Managed by borgkeep"
MANAGED_HEADER = f"{MANAGED_MARK} — changes here are overwritten on the next apply.\n"
"""The first line of every file Borgkeep writes whole (configs, scripts)."""
BEGIN_MARKER = "# >>> borgkeep managed block >>> do not edit by hand"
END_MARKER = "# <<< borgkeep managed block <<<"


class ManagedBlockError(ValueError):
    """The file's markers are broken, so borgkeep cannot tell its lines from the owner's."""


@dataclass(frozen=True)
class BlockParse:
    """A file split around its managed block.

    `before` and `after` are the exact bytes outside the block (`after` starts right after
    the END marker's line ending). `newline` is the file's first line ending ("\\n" when it
    has none) and is what new block lines are written with. `has_block` tells an empty
    block (markers only) from no block at all.
    """

    before: str
    block_lines: list[str]
    after: str
    newline: str
    has_block: bool = False


def _split_lines(text: str) -> list[str]:
    """Lines with their endings; only "\\n" ends a line (unlike str.splitlines)."""
    lines = text.split("\n")
    with_ends = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        with_ends.append(lines[-1])
    return with_ends


def _content(line: str) -> str:
    """A line without its "\\n" or "\\r\\n" ending."""
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith("\n"):
        return line[:-1]
    return line


def detect_newline(text: str) -> str:
    """The first line ending in `text`: "\\r\\n" or "\\n" (also for text without any).

    The first ending, not the most frequent one: rewriting the block must not be able to
    change the answer, or merging would stop being idempotent.
    """
    index = text.find("\n")
    if index > 0 and text[index - 1] == "\r":
        return "\r\n"
    return "\n"


def parse_managed_block(text: str) -> BlockParse:
    """Split `text` around its managed block; a marker must be a whole line, exactly.

    Raises ManagedBlockError for a BEGIN without END, an END without a BEGIN before it,
    or more than one block, because guessing there could eat the owner's lines.
    """
    newline = detect_newline(text)
    lines = _split_lines(text)
    begin_index: int | None = None
    end_index: int | None = None
    for number, line in enumerate(lines, start=1):
        content = _content(line)
        if content == BEGIN_MARKER:
            if begin_index is not None and end_index is None:
                raise ManagedBlockError(
                    f"line {number}: a second borgkeep BEGIN marker before the END of the "
                    f"block opened on line {begin_index + 1}"
                )
            if end_index is not None:
                raise ManagedBlockError(
                    f"line {number}: a second borgkeep managed block (the first one is on "
                    f"lines {begin_index + 1}-{end_index + 1}); remove one of them by hand"
                )
            begin_index = number - 1
        elif content == END_MARKER:
            if begin_index is None:
                raise ManagedBlockError(
                    f"line {number}: borgkeep END marker without a BEGIN marker before it"
                )
            if end_index is not None:
                raise ManagedBlockError(
                    f"line {number}: a second borgkeep END marker (the block ends on line "
                    f"{end_index + 1})"
                )
            end_index = number - 1
    if begin_index is None:
        return BlockParse(before=text, block_lines=[], after="", newline=newline)
    if end_index is None:
        raise ManagedBlockError(
            f"line {begin_index + 1}: borgkeep BEGIN marker without an END marker; "
            "fix the file by hand so borgkeep knows where its block ends"
        )
    return BlockParse(
        before="".join(lines[:begin_index]),
        block_lines=[_content(line) for line in lines[begin_index + 1 : end_index]],
        after="".join(lines[end_index + 1 :]),
        newline=newline,
        has_block=True,
    )


def _check_block_lines(lines: list[str]) -> None:
    for index, line in enumerate(lines):
        if "\n" in line or "\r" in line or "\x00" in line:
            raise ValueError(f"managed line {index + 1} contains a newline or NUL: {line!r}")
        if line in (BEGIN_MARKER, END_MARKER):
            raise ValueError(f"managed line {index + 1} is a borgkeep marker: {line!r}")


def merge_managed_block(existing: str | None, lines: list[str]) -> str:
    """`existing` with its managed block holding exactly `lines`, every other byte kept.

    No block yet: the block is appended (after a newline if the text lacks a final one).
    A block already there is replaced in place. An empty `lines` keeps an empty block so
    that the place of borgkeep's lines stays visible.
    """
    _check_block_lines(lines)
    text = existing or ""
    parsed = parse_managed_block(text)
    if parsed.has_block:
        return parsed.before + _render_block(lines, parsed.newline) + parsed.after
    if text and not text.endswith("\n"):
        text += parsed.newline
    # Adding that newline can create the file's first line ending ("...\r" + "\n"), so ask
    # again: the block must use what a later parse of the result will report.
    return text + _render_block(lines, detect_newline(text))


def remove_managed_block(existing: str | None) -> str | None:
    """`existing` without borgkeep's block (markers included), every other byte kept; None
    when there was nothing to remove."""
    parsed = parse_managed_block(existing or "")
    if not parsed.has_block:
        return None
    return parsed.before + parsed.after


def _render_block(lines: list[str], newline: str) -> str:
    return "".join(line + newline for line in [BEGIN_MARKER, *lines, END_MARKER])


def is_managed_file(text: str | None) -> bool:
    """Whether a whole file carries Borgkeep's header (so replacing it needs no warning)."""
    return bool(text) and text.startswith(MANAGED_MARK)


# --- numbered lines outside the block (the takeover retires foreign ones) ---------------

_LINE_ENDING_RE = re.compile(r"\r?\n\Z")


def numbered_lines(text: str) -> list[str]:
    """The lines (with their endings) as the takeover numbers them: `str.splitlines`.

    Job discovery and the authorized_keys audit count lines this way, so a number they
    report is an index here; joining the list gives `text` back byte for byte.
    """
    return text.splitlines(keepends=True)


def content_and_ending(line: str) -> tuple[str, str]:
    ending = _LINE_ENDING_RE.search(line)
    return (line[: ending.start()], ending.group()) if ending else (line, "")


def _whole_line(lines: list[str], index: int, number: int, what: str) -> None:
    """Refuse a line that cron or sshd (which split at "\\n" only) read as part of another.

    `str.splitlines` also splits at "\\r", form feeds and other separators; commenting such
    a piece would put the "#" in the middle of the line cron or sshd really reads.
    """
    starts_whole = index == 0 or lines[index - 1].endswith("\n")
    ends_whole = lines[index].endswith("\n") or index == len(lines) - 1
    if not (starts_whole and ends_whole):
        raise ValueError(
            f"{what} line {number} shares its line with a neighbour (a carriage return or "
            "another separator splits it); fix the file by hand"
        )


def lines_in_managed_block(text: str) -> frozenset[int]:
    """1-based numbers of Borgkeep's markers and every line between them.

    A marker is recognised with surrounding spaces too, as job discovery and the audit do,
    so no line they call Borgkeep's can be retired; broken markers raise
    ManagedBlockError (a ValueError).
    """
    parse_managed_block(text)
    inside: set[int] = set()
    in_block = False
    for number, line in enumerate(numbered_lines(text), start=1):
        stripped = line.strip()
        if stripped == BEGIN_MARKER:
            in_block = True
        if in_block:
            inside.add(number)
        if stripped == END_MARKER:
            in_block = False
    return frozenset(inside)


def replace_foreign_lines(
    text: str | None,
    line_numbers: Collection[int],
    replace: Callable[[int, str], str | None],
    what: str,
) -> str:
    """`text` with each given line's content replaced by `replace(number, content)`.

    `replace` returns None to leave a line as it is. Every other byte is kept, each
    replaced line keeps its own ending, and the line count never changes, so the numbers
    of every other line stay valid. Numbers out of range and lines in Borgkeep's block
    raise ValueError before anything is replaced.
    """
    text = text or ""
    lines = numbered_lines(text)
    inside = lines_in_managed_block(text)
    for number in line_numbers:
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError(f"{what} line number {number!r} is not an integer")
    for number in sorted(set(line_numbers)):
        if not 1 <= number <= len(lines):
            raise ValueError(f"{what} has no line {number} (it has {len(lines)} lines)")
        if number in inside:
            raise ValueError(f"{what} line {number} is in Borgkeep's own block, not foreign")
    replaced = list(lines)
    for number in sorted(set(line_numbers)):
        content, ending = content_and_ending(lines[number - 1])
        new_content = replace(number, content)
        if new_content is None or new_content == content:
            continue
        _whole_line(lines, number - 1, number, what)
        if len(numbered_lines(new_content + ending)) != 1:
            raise ValueError(f"the new {what} line {number} would be more than one line")
        replaced[number - 1] = new_content + ending
    return "".join(replaced)


def foreign_lines_with_prefix(text: str | None, prefix: str) -> dict[int, str]:
    """1-based line number -> the rest of the line, for each line outside the managed
    block that starts with `prefix` (what Borgkeep left where it retired or removed one)."""
    text = text or ""
    inside = lines_in_managed_block(text)
    found = {}
    for number, line in enumerate(numbered_lines(text), start=1):
        content = content_and_ending(line)[0]
        if number not in inside and content.startswith(prefix):
            found[number] = content.removeprefix(prefix)
    return found
