"""The managed block keeps every byte outside its markers and round-trips its lines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wizard.artefacts.managed_block import (
    BEGIN_MARKER,
    END_MARKER,
    ManagedBlockError,
    detect_newline,
    merge_managed_block,
    parse_managed_block,
)

MARKERS = (BEGIN_MARKER, END_MARKER)


def block(lines: list[str], newline: str = "\n") -> str:
    return "".join(line + newline for line in [BEGIN_MARKER, *lines, END_MARKER])


# --- unit tests -------------------------------------------------------------------------


def test_markers_are_ascii_comments():
    for marker in MARKERS:
        assert marker.isascii()
        assert marker.startswith("# ")


def test_absent_file_gets_just_the_block():
    assert merge_managed_block(None, ["a", "b"]) == block(["a", "b"])
    assert merge_managed_block("", ["a"]) == block(["a"])


def test_block_is_appended_after_existing_text():
    assert merge_managed_block("x\n# c\n\n", ["a"]) == "x\n# c\n\n" + block(["a"])


def test_missing_final_newline_gets_one_before_the_block():
    assert merge_managed_block("x\ny", ["a"]) == "x\ny\n" + block(["a"])


def test_crlf_file_gets_crlf_block():
    assert merge_managed_block("x\r\ny\r\n", ["a"]) == "x\r\ny\r\n" + block(["a"], "\r\n")
    assert merge_managed_block("x\r\ny", ["a"]) == "x\r\ny\r\n" + block(["a"], "\r\n")


def test_first_line_ending_decides_the_newline():
    assert detect_newline("a\r\nb\nc\n") == "\r\n"
    assert detect_newline("a\nb\r\nc\r\n") == "\n"
    assert detect_newline("no newline") == "\n"
    assert detect_newline("") == "\n"
    assert detect_newline("\r\n") == "\r\n"


def test_trailing_carriage_return_without_newline_stays_idempotent():
    merged = merge_managed_block("x\r", ["a"])
    assert merged == "x\r\n" + block(["a"], "\r\n")
    assert merge_managed_block(merged, ["a"]) == merged


def test_block_is_replaced_in_place():
    existing = "top\n" + block(["old1", "old2"]) + "bottom\n"
    assert merge_managed_block(existing, ["new"]) == "top\n" + block(["new"]) + "bottom\n"


def test_block_in_crlf_file_keeps_surroundings_byte_for_byte():
    before = "  weird \t whitespace  \r\n\r\n# comment\r\n"
    after = "tail line without final newline \x0b\x1c"
    existing = before + block(["old"], "\r\n") + after
    merged = merge_managed_block(existing, ["one", "two"])
    assert merged == before + block(["one", "two"], "\r\n") + after


def test_block_at_end_without_final_newline_is_replaced():
    existing = "x\n" + BEGIN_MARKER + "\nold\n" + END_MARKER
    assert merge_managed_block(existing, ["new"]) == "x\n" + block(["new"])


def test_empty_lines_keep_an_empty_block():
    existing = "x\n" + block(["old"]) + "y\n"
    merged = merge_managed_block(existing, [])
    assert merged == "x\n" + block([]) + "y\n"
    parsed = parse_managed_block(merged)
    assert parsed.has_block
    assert parsed.block_lines == []


def test_parse_without_block():
    parsed = parse_managed_block("a\r\nb")
    assert not parsed.has_block
    assert parsed.before == "a\r\nb"
    assert parsed.after == ""
    assert parsed.block_lines == []
    assert parsed.newline == "\r\n"


def test_parse_returns_lines_without_endings():
    parsed = parse_managed_block("a\n" + BEGIN_MARKER + "\r\n  x \r\n\r\ny\n" + END_MARKER + "\nz")
    assert parsed.before == "a\n"
    assert parsed.block_lines == ["  x ", "", "y"]
    assert parsed.after == "z"
    assert parsed.newline == "\n"


def test_marker_must_be_the_whole_line():
    text = " " + BEGIN_MARKER + "\n" + BEGIN_MARKER + " trailing\n" + "# " + END_MARKER + "\n"
    parsed = parse_managed_block(text)
    assert not parsed.has_block
    assert merge_managed_block(text, ["a"]) == text + block(["a"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x\n" + BEGIN_MARKER + "\ny\n", "line 2: borgkeep BEGIN marker without an END"),
        ("x\n" + END_MARKER + "\n" + BEGIN_MARKER + "\n", "line 2: borgkeep END marker without"),
        (block(["a"]) + block(["b"]), "line 4: a second borgkeep managed block"),
        (BEGIN_MARKER + "\n" + BEGIN_MARKER + "\n" + END_MARKER + "\n", "second borgkeep BEGIN"),
        (block(["a"]) + END_MARKER + "\n", "line 4: a second borgkeep END marker"),
    ],
)
def test_broken_markers_are_refused_with_the_line(text, message):
    with pytest.raises(ManagedBlockError, match=message):
        parse_managed_block(text)
    with pytest.raises(ManagedBlockError):
        merge_managed_block(text, ["a"])


@pytest.mark.parametrize("bad_line", ["a\nb", "a\r", "\r\nx", "nul\x00", BEGIN_MARKER, END_MARKER])
def test_lines_that_would_break_the_block_are_refused(bad_line):
    with pytest.raises(ValueError, match="managed line 2"):
        merge_managed_block("x\n", ["fine", bad_line])


def test_only_newline_splits_lines():
    """str.splitlines would also split on \\x0b, \\x1c, \\u2028...; the block must not."""
    weird = "a\x0bb\x1cc\u2028d\x85e\n"
    merged = merge_managed_block(weird, ["k"])
    assert merged == weird + block(["k"])
    assert parse_managed_block(merged).before == weird


# --- property tests ---------------------------------------------------------------------

line_contents = st.one_of(
    st.text(st.characters(exclude_characters="\n", exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(
        [
            "",
            "   ",
            "\t",
            "# comment",
            "MAILTO=root",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIASJXHANsE56 borgkeep:host1",
            'command="borg serve",restrict ssh-rsa AAAA borgkeep:x',
            "0 3 * * * /usr/bin/borgmatic",
            " " + BEGIN_MARKER,
            BEGIN_MARKER + " ",
            "#" + END_MARKER,
            END_MARKER + "\t",
        ]
    ),
).filter(lambda line: line.rstrip("\r") not in MARKERS)
block_line_contents = st.text(
    st.characters(exclude_characters="\r\n\x00", exclude_categories=("Cs",)), max_size=40
).filter(lambda line: line not in MARKERS)
endings = st.sampled_from(["\n", "\r\n"])


@st.composite
def foreign_text(draw, final_line_may_lack_newline: bool) -> str:
    contents = draw(st.lists(line_contents, max_size=6))
    lines = [content + draw(endings) for content in contents]
    if lines and final_line_may_lack_newline and draw(st.booleans()):
        lines[-1] = contents[-1]
    return "".join(lines)


@st.composite
def existing_texts(draw):
    """(text, before, block lines or None, after) with the split known by construction."""
    if not draw(st.booleans()):
        text = draw(foreign_text(final_line_may_lack_newline=True))
        return text, text, None, ""
    before = draw(foreign_text(final_line_may_lack_newline=False))
    block_lines = draw(st.lists(block_line_contents, max_size=5))
    block_text = "".join(line + draw(endings) for line in [BEGIN_MARKER, *block_lines])
    after = draw(foreign_text(final_line_may_lack_newline=True))
    end_ending = draw(endings) if after else draw(st.sampled_from(["\n", "\r\n", ""]))
    text = before + block_text + END_MARKER + end_ending + after
    return text, before, block_lines, after


new_lines = st.lists(block_line_contents, max_size=6)


@given(existing_texts())
def test_parse_finds_exactly_the_generated_split(case):
    text, before, block_lines, after = case
    parsed = parse_managed_block(text)
    assert parsed.has_block == (block_lines is not None)
    assert parsed.before == before
    assert parsed.after == after
    assert parsed.block_lines == (block_lines or [])


@given(existing_texts(), new_lines)
def test_merge_keeps_every_foreign_byte(case, lines):
    text, before, block_lines, after = case
    merged = merge_managed_block(text, lines)
    parsed = parse_managed_block(merged)
    if block_lines is None:
        expected_before = text if text == "" or text.endswith("\n") else text + parsed.newline
        assert parsed.before == expected_before
        assert parsed.before.startswith(text)
        assert parsed.after == ""
    else:
        assert parsed.before == before
        assert parsed.after == after


@given(existing_texts(), new_lines)
def test_merge_then_parse_returns_the_lines(case, lines):
    merged = merge_managed_block(case[0], lines)
    parsed = parse_managed_block(merged)
    assert parsed.has_block
    assert parsed.block_lines == lines


@given(existing_texts(), new_lines)
def test_merge_is_idempotent(case, lines):
    merged = merge_managed_block(case[0], lines)
    assert merge_managed_block(merged, lines) == merged


@given(existing_texts(), new_lines)
def test_block_is_written_with_the_files_newline(case, lines):
    merged = merge_managed_block(case[0], lines)
    parsed = parse_managed_block(merged)
    if case[0] == "" or case[0].endswith("\n"):
        assert parsed.newline == detect_newline(case[0])
    assert merged == parsed.before + block(lines, parsed.newline) + parsed.after


@given(existing_texts(), new_lines, new_lines)
def test_remerging_with_other_lines_only_changes_the_block(case, first, second):
    once = merge_managed_block(case[0], first)
    twice = merge_managed_block(once, second)
    assert twice == merge_managed_block(case[0], second)


def test_removing_the_block_keeps_every_other_byte():
    from wizard.artefacts.managed_block import remove_managed_block

    owner = "MAILTO=me\r\n# mine\r\n"
    with_block = merge_managed_block(owner, ["0 3 * * * /usr/bin/borgmatic"]) + "tail\r\n"
    assert remove_managed_block(with_block) == owner + "tail\r\n"
    assert remove_managed_block(owner) is None
    assert remove_managed_block(None) is None
