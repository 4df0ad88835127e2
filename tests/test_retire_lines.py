"""Taking a host over retires its old jobs and key lines as comments, keeping every other byte."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from wizard.artefacts.authorized_keys import render_authorized_keys
from wizard.artefacts.authorized_keys_audit import (
    REMOVED_KEY_PREFIX,
    fingerprint,
    key_lines,
    remove_key_lines,
    removed_key_lines,
)
from wizard.artefacts.crontab import (
    RETIRED_PREFIX,
    client_cron_line,
    render_crontab,
    retire_cron_lines,
    retired_cron_lines,
)
from wizard.artefacts.managed_block import (
    BEGIN_MARKER,
    END_MARKER,
    ManagedBlockError,
    lines_in_managed_block,
    numbered_lines,
)

OLD_JOB = "0 3 * * * /usr/bin/borgmatic --verbosity 0"
OTHER_JOB = "30 4 * * * /usr/local/bin/rotate-logs"
NEW_LINE = client_cron_line("15 2 * * *", "/usr/bin/borgmatic", "/etc/borgmatic/config.yaml")


def block(lines: list[str], newline: str = "\n") -> str:
    return "".join(line + newline for line in [BEGIN_MARKER, *lines, END_MARKER])


# --- crontab: unit tests ----------------------------------------------------------------


def test_a_job_line_becomes_a_comment_that_keeps_the_whole_line():
    text = f"MAILTO=root\n{OLD_JOB}\n{OTHER_JOB}\n"
    assert retire_cron_lines(text, [2]) == (
        f"MAILTO=root\n# borgkeep took over: {OLD_JOB}\n{OTHER_JOB}\n"
    )


def test_leading_spaces_crlf_and_a_missing_final_newline_are_kept():
    text = f"  {OLD_JOB}\r\n{OTHER_JOB}"
    assert retire_cron_lines(text, [1, 2]) == (
        f"{RETIRED_PREFIX}  {OLD_JOB}\r\n{RETIRED_PREFIX}{OTHER_JOB}"
    )


def test_a_cron_d_line_with_its_user_field_is_retired_the_same_way():
    text = f"SHELL=/bin/sh\n0 3 * * * root {OLD_JOB[10:]}\n"
    assert (
        retire_cron_lines(text, [2]).splitlines()[1]
        == f"{RETIRED_PREFIX}0 3 * * * root " + (OLD_JOB[10:])
    )


def test_retiring_again_changes_nothing_and_comments_and_blanks_stay():
    text = f"# nightly\n\n   \n{OLD_JOB}\n"
    once = retire_cron_lines(text, [1, 2, 3, 4])
    assert once == f"# nightly\n\n   \n{RETIRED_PREFIX}{OLD_JOB}\n"
    assert retire_cron_lines(once, [1, 2, 3, 4]) == once


def test_no_numbers_and_no_text():
    assert retire_cron_lines(f"{OLD_JOB}\n", []) == f"{OLD_JOB}\n"
    assert retire_cron_lines(None, []) == ""
    assert retired_cron_lines(None) == {}


@pytest.mark.parametrize("number", [0, -1, 4, 99])
def test_a_number_out_of_range_is_refused(number):
    with pytest.raises(ValueError, match=f"no line {number}"):
        retire_cron_lines(f"a\n{OLD_JOB}\nb\n", [number])


@pytest.mark.parametrize("number", [True, 1.0, "1"])
def test_a_number_that_is_not_an_int_is_refused(number):
    with pytest.raises(ValueError, match="not an integer"):
        retire_cron_lines(f"{OLD_JOB}\n", [number])


@pytest.mark.parametrize("number", [2, 3, 4, 5])
def test_a_line_of_borgkeeps_block_is_refused_markers_included(number):
    text = f"{OLD_JOB}\n" + block([NEW_LINE, ""]) + f"{OTHER_JOB}\n"
    with pytest.raises(ValueError, match=f"line {number} is in Borgkeep's own block"):
        retire_cron_lines(text, [1, number])
    assert retire_cron_lines(text, [1, 6]) == (
        f"{RETIRED_PREFIX}{OLD_JOB}\n" + block([NEW_LINE, ""]) + f"{RETIRED_PREFIX}{OTHER_JOB}\n"
    )


def test_an_indented_marker_counts_as_the_block_as_job_discovery_reads_it():
    text = f"  {BEGIN_MARKER}\n{OLD_JOB}\n{END_MARKER}  \n"
    assert lines_in_managed_block(text) == {1, 2, 3}
    with pytest.raises(ValueError, match="Borgkeep's own block"):
        retire_cron_lines(text, [2])


def test_broken_markers_are_refused():
    with pytest.raises(ManagedBlockError):
        retire_cron_lines(f"{BEGIN_MARKER}\n{OLD_JOB}\n", [2])


def test_an_environment_line_is_refused():
    with pytest.raises(ValueError, match="line 1 sets a variable"):
        retire_cron_lines(f"MAILTO=root\n{OLD_JOB}\n", [1, 2])


@pytest.mark.parametrize("separator", ["\r", "\x0c", "\x1c", "\u2028"])
def test_a_line_split_only_by_python_is_refused(separator):
    # cron reads "a<sep>JOB" as one line: a "#" in front of JOB would not comment it out.
    text = f"a{separator}{OLD_JOB}\n{OTHER_JOB}\n"
    assert numbered_lines(text)[1] == f"{OLD_JOB}\n"
    with pytest.raises(ValueError, match="line 2 shares its line"):
        retire_cron_lines(text, [2])
    assert retire_cron_lines(text, [3]) == f"a{separator}{OLD_JOB}\n{RETIRED_PREFIX}{OTHER_JOB}\n"


def test_retired_lines_are_read_back_with_their_original_text():
    text = f"{OLD_JOB}\n# {OTHER_JOB}\n{OTHER_JOB}\r\n" + block([RETIRED_PREFIX + "inside"])
    retired = retire_cron_lines(text, [1, 3])
    assert retired_cron_lines(retired) == {1: OLD_JOB, 3: OTHER_JOB}
    assert retired_cron_lines(text) == {}


def test_retire_then_render_is_stable():
    existing = f"MAILTO=ops@example.org\n{OLD_JOB}\n{OTHER_JOB}"
    first = render_crontab(retire_cron_lines(existing, [2]), [NEW_LINE])
    assert first == (
        f"MAILTO=ops@example.org\n{RETIRED_PREFIX}{OLD_JOB}\n{OTHER_JOB}\n" + block([NEW_LINE])
    )
    assert render_crontab(retire_cron_lines(first, [2]), [NEW_LINE]) == first


@pytest.mark.skipif(shutil.which("crontab") is None, reason="needs cron's crontab")
def test_debians_crontab_accepts_the_retired_and_rendered_crontab(tmp_path):
    good = tmp_path / "good"
    good.write_text("0 3 * * * /bin/true\n")
    if subprocess.run(["crontab", "-n", str(good)], capture_output=True).returncode != 0:
        pytest.skip("this crontab has no -n (check the syntax, install nothing): not Debian's")
    existing = f"MAILTO=root\n# mine\n{OLD_JOB}\n{OTHER_JOB}\n@daily /usr/bin/borg --version\n"
    text = render_crontab(retire_cron_lines(existing, [3, 5]), [NEW_LINE], "ops@example.org")
    path = tmp_path / "crontab"
    path.write_text(text)
    result = subprocess.run(["crontab", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    bad = tmp_path / "bad"
    bad.write_text("3 * * * /bin/true\n")
    assert subprocess.run(["crontab", "-n", str(bad)], capture_output=True).returncode != 0


# --- authorized_keys: unit tests --------------------------------------------------------

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIASJXHANsE56MUyQy75Lms+8DogtvpPsa9lNg7iDLXIr"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM4CIn5slujYWUT9x9ODqjENUQU5ioT/VcTShKT66ohx"
KEY_C = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH9ZhEKzl+OqftACceUtdOYYr6iUtlr2nPUgM/pmaDx/"
KEY_ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFoxDEuKI8JFjShItAh"
    "YLMLyNZbsF3hlDDMp1OffiwGuAROMeYyM9gEMCMjmTWbW0/XsEsnm6gyUEcbCFrsZn5o="
)
BORG = "/usr/bin/borg"
READ_WRITE = (
    f'command="borg serve --restrict-to-path /srv/backups/web-1",restrict {KEY_A} web-1@old'
)
APPEND_ONLY = f'command="/usr/bin/borg serve --append-only",no-pty {KEY_B}'
SHELL = f"{KEY_C} admin@laptop"
OTHER = f'command="/usr/bin/rrsync -ro /srv",restrict {KEY_ECDSA} rsync'
ENTRIES = {"web-1": (KEY_A, "/srv/backups/web-1"), "db": (KEY_ECDSA, "/srv/backups/db")}
PINNED_LINES = [line for line in render_authorized_keys(None, ENTRIES, BORG).text.splitlines()][
    1:-1
]


def blob(key: str) -> str:
    return key.split()[1]


def test_a_read_write_line_is_replaced_by_a_comment_without_key_or_options():
    text = f"# admin keys\n{SHELL}\n{READ_WRITE}\n"
    removed = remove_key_lines(text, [3])
    fp = fingerprint(blob(KEY_A))
    assert removed == (
        f"# admin keys\n{SHELL}\n"
        f"# borgkeep took over, removed: read-write borg serve line of ssh-ed25519 {fp} web-1@old\n"
    )
    assert blob(KEY_A) not in removed
    assert "command=" not in removed
    assert [line.number for line in key_lines(removed)] == [2]


def test_the_comment_says_what_each_kind_of_line_allowed():
    text = "\n".join([READ_WRITE, APPEND_ONLY, SHELL, OTHER]) + "\n"
    assert list(removed_key_lines(remove_key_lines(text, [1, 2, 3, 4])).values()) == [
        f"read-write borg serve line of ssh-ed25519 {fingerprint(blob(KEY_A))} web-1@old",
        f"append-only borg serve line of ssh-ed25519 {fingerprint(blob(KEY_B))}",
        "unrestricted key line (no forced command) of ssh-ed25519 "
        f"{fingerprint(blob(KEY_C))} admin@laptop",
        f"forced-command key line of ecdsa-sha2-nistp256 {fingerprint(blob(KEY_ECDSA))} rsync",
    ]


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
def test_the_fingerprint_is_the_one_ssh_keygen_prints(tmp_path):
    path = tmp_path / "key.pub"
    path.write_text(KEY_ECDSA + "\n")
    listing = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listing.stdout.split()[1] == fingerprint(blob(KEY_ECDSA))
    assert fingerprint("not base64!") == "SHA256:?"


def test_removing_again_changes_nothing_and_comments_and_blanks_stay():
    text = f"# note\n\n{READ_WRITE}\r\n{SHELL}"
    once = remove_key_lines(text, [1, 2, 3, 4])
    assert numbered_lines(once)[:2] == ["# note\n", "\n"]
    assert numbered_lines(once)[2].endswith("web-1@old\r\n")
    assert not numbered_lines(once)[3].endswith("\n")
    assert remove_key_lines(once, [1, 2, 3, 4]) == once
    assert sorted(removed_key_lines(once)) == [3, 4]


def test_a_line_without_a_readable_key_is_refused():
    with pytest.raises(ValueError, match="line 1 holds no key"):
        remove_key_lines("ssh-dss AAAAB3NzaC1kc3MAAACBAP x\n", [1])


@pytest.mark.parametrize("number", [0, 5])
def test_a_key_number_out_of_range_is_refused(number):
    with pytest.raises(ValueError, match=f"no line {number}"):
        remove_key_lines(f"{READ_WRITE}\n{SHELL}\n\n# x\n", [number])


def test_a_line_of_borgkeeps_block_is_refused():
    text = render_authorized_keys(f"{READ_WRITE}\n", ENTRIES, BORG).text
    numbers = [line.number for line in key_lines(text) if line.in_block]
    assert numbers == [3, 4]
    for number in [2, *numbers, 5]:
        with pytest.raises(ValueError, match="Borgkeep's own block"):
            remove_key_lines(text, [number])


def test_remove_then_render_is_stable_and_the_client_is_no_longer_shadowed():
    existing = f"{READ_WRITE}\n{SHELL}"
    before = render_authorized_keys(existing, ENTRIES, BORG)
    assert before.shadowed == ["web-1"]
    first = render_authorized_keys(remove_key_lines(existing, [1]), ENTRIES, BORG)
    assert first.shadowed == []
    again = render_authorized_keys(remove_key_lines(first.text, [1]), ENTRIES, BORG)
    assert again.text == first.text
    assert first.text.startswith(REMOVED_KEY_PREFIX)
    assert numbered_lines(first.text)[1] == f"{SHELL}\n"


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
def test_openssh_reads_every_remaining_key_of_the_file(tmp_path):
    existing = "\n".join(["# admin", READ_WRITE, APPEND_ONLY, SHELL, OTHER]) + "\n"
    text = render_authorized_keys(remove_key_lines(existing, [2, 3]), ENTRIES, BORG).text
    path = tmp_path / "authorized_keys"
    path.write_text(text)
    listing = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(path)], capture_output=True, text=True, check=True
    )
    fingerprints = [line.split()[1] for line in listing.stdout.splitlines()]
    assert fingerprints == [
        fingerprint(blob(KEY_C)),
        fingerprint(blob(KEY_ECDSA)),
        fingerprint(blob(KEY_ECDSA)),  # db's pinned line in the block
        fingerprint(blob(KEY_A)),  # web-1's pinned line in the block
    ]


# --- property tests ---------------------------------------------------------------------

any_line = st.text(st.characters(exclude_characters="\n", exclude_categories=("Cs",)), max_size=30)
endings = st.sampled_from(["\n", "\r\n"])
cron_lines = st.one_of(
    any_line,
    st.sampled_from(
        ["", "  ", "# c", "MAILTO=root", OLD_JOB, OTHER_JOB, f"  {OLD_JOB}", RETIRED_PREFIX + "x"]
    ),
)
key_file_lines = st.one_of(
    any_line,
    st.sampled_from(["", "# c", READ_WRITE, APPEND_ONLY, SHELL, OTHER, f"  {SHELL}"]),
)


@st.composite
def shared_files(draw, lines, block_lines):
    """A file of `lines`, maybe with a managed block of `block_lines` somewhere in it."""
    contents = draw(st.lists(lines, max_size=8))
    text = "".join(content + draw(endings) for content in contents)
    if contents and draw(st.booleans()):
        text = text.removesuffix("\r\n").removesuffix("\n")
    if draw(st.booleans()):
        cut = sum(len(line) for line in numbered_lines(text)[: draw(st.integers(0, 8))])
        if cut == 0 or text[cut - 1] == "\n":
            text = text[:cut] + block(block_lines, draw(endings)) + text[cut:]
    return text


def chosen_numbers(draw, text: str) -> list[int]:
    outside = [
        number
        for number in range(1, len(numbered_lines(text)) + 1)
        if number not in lines_in_managed_block(text)
    ]
    return draw(st.lists(st.sampled_from(outside), max_size=4)) if outside else []


def assert_only_chosen_lines_changed(text, result, chosen, expected):
    before, after = numbered_lines(text), numbered_lines(result)
    assert len(after) == len(before)
    for number, (old, new) in enumerate(zip(before, after, strict=True), start=1):
        if number not in chosen or old.strip() == "" or old.lstrip().startswith("#"):
            assert new == old
        else:
            assert new == expected(number, old)


@given(st.data())
def test_retire_keeps_every_other_byte_is_idempotent_and_composes_with_render(data):
    text = data.draw(shared_files(cron_lines, [NEW_LINE]))
    chosen = chosen_numbers(data.draw, text)
    try:
        retired = retire_cron_lines(text, chosen)
    except ValueError as error:
        assert "sets a variable" in str(error) or "shares its line" in str(error)
        event("refused")
        return
    event(f"retired {len(retired_cron_lines(retired)) - len(retired_cron_lines(text))} lines")

    def expected(number: int, old: str) -> str:
        ending = "\r\n" if old.endswith("\r\n") else "\n" if old.endswith("\n") else ""
        return RETIRED_PREFIX + old.removesuffix(ending) + ending

    assert_only_chosen_lines_changed(text, retired, set(chosen), expected)
    assert retire_cron_lines(retired, chosen) == retired
    assert set(retired_cron_lines(text)) <= set(retired_cron_lines(retired))
    rendered = render_crontab(retired, [NEW_LINE])
    # The block already held the same lines, so no line moved: the same numbers again.
    assert render_crontab(retire_cron_lines(rendered, chosen), [NEW_LINE]) == rendered
    # A rerun that knows only what it retired (lines below a grown block move down).
    again = render_crontab(rendered, [NEW_LINE, OTHER_JOB])
    rerun = retire_cron_lines(again, retired_cron_lines(again))
    assert render_crontab(rerun, [NEW_LINE, OTHER_JOB]) == again


@given(st.data())
def test_remove_keeps_every_other_byte_is_idempotent_and_composes_with_render(data):
    text = data.draw(shared_files(key_file_lines, PINNED_LINES))
    chosen = chosen_numbers(data.draw, text)
    try:
        removed = remove_key_lines(text, chosen)
    except ValueError as error:
        assert "holds no key" in str(error) or "shares its line" in str(error)
        event("refused")
        return
    event(f"removed {len(removed_key_lines(removed)) - len(removed_key_lines(text))} lines")
    by_number = {line.number: line for line in key_lines(text)}

    def expected(number: int, old: str) -> str:
        ending = "\r\n" if old.endswith("\r\n") else "\n" if old.endswith("\n") else ""
        return REMOVED_KEY_PREFIX + removed_key_lines(removed)[number] + ending

    assert_only_chosen_lines_changed(text, removed, set(chosen), expected)
    for number in set(chosen) & set(by_number):
        assert by_number[number].blob not in numbered_lines(removed)[number - 1]
    assert key_lines(removed) == [
        line for number, line in by_number.items() if number not in chosen
    ]
    assert remove_key_lines(removed, chosen) == removed
    rendered = render_authorized_keys(removed, ENTRIES, BORG).text
    # The block already held the same lines, so no line moved: the same numbers again.
    again = render_authorized_keys(remove_key_lines(rendered, chosen), ENTRIES, BORG).text
    assert again == rendered
    # A rerun that knows only what it removed, after the block lost a client.
    fewer = {"web-1": ENTRIES["web-1"]}
    shrunk = render_authorized_keys(rendered, fewer, BORG, prune_orphans=True).text
    rerun = remove_key_lines(shrunk, removed_key_lines(shrunk))
    assert render_authorized_keys(rerun, fewer, BORG, prune_orphans=True).text == shrunk
