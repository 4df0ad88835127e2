"""A block of lines that borgkeep owns inside a file it shares with people.

authorized_keys and crontabs hold other people's lines too, so borgkeep only ever rewrites
the lines between its two marker comments and keeps every other byte as it was: CRLF
endings, a missing final newline, blank lines, odd whitespace. The markers are ASCII so
that cron, sshd and any editor read them without surprises.
"""

from __future__ import annotations

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
