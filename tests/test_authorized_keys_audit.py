"""Lines outside Borgkeep's block that would undo a pin are found and named by line number."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wizard.artefacts.authorized_keys import authorized_keys_line, render_authorized_keys
from wizard.artefacts.authorized_keys_audit import (
    audit_authorized_keys,
    key_lines,
    option_value,
    runs_borg_serve,
    split_options,
)

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIASJXHANsE56MUyQy75Lms+8DogtvpPsa9lNg7iDLXIr"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM4CIn5slujYWUT9x9ODqjENUQU5ioT/VcTShKT66ohx"
BLOB_A, BLOB_B = KEY_A.split()[1], KEY_B.split()[1]
BORG = "/usr/bin/borg"


def pinned(*foreign_before: str, foreign_after: tuple[str, ...] = ()) -> str:
    text = "".join(line + "\n" for line in foreign_before)
    text = render_authorized_keys(text, {"host1": (KEY_A, "/b/host1")}, BORG).text
    return text + "".join(line + "\n" for line in foreign_after)


def test_a_clean_file_has_no_findings():
    text = pinned("# admin", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGadmin admin@laptop")
    assert audit_authorized_keys(text, {BLOB_A: "host1"}) == []


def test_the_same_key_above_the_block_is_named_with_its_line():
    text = pinned("# old manual setup", f"{KEY_A} host1-by-hand")
    (finding,) = audit_authorized_keys(text, {BLOB_A: "host1"})
    assert finding.startswith("line 2 carries the key of client host1 with no forced command")


def test_the_same_key_with_another_forced_command_after_the_block_is_found_too():
    text = pinned(foreign_after=(f'command="borg serve --append-only" {KEY_A} x',))
    findings = audit_authorized_keys(text, {BLOB_A: "host1"})
    assert len(findings) == 1 and "outside borgkeep's block" in findings[0]
    assert findings[0].startswith(f"line {len(text.splitlines())} ")


def test_any_borg_serve_without_append_only_is_found_whoever_it_is_for():
    text = pinned(
        f'command="/usr/local/bin/borg serve --restrict-to-repository /b/x",restrict {KEY_B} ops'
    )
    (finding,) = audit_authorized_keys(text, {BLOB_A: "host1"})
    assert finding.startswith("line 1 runs borg serve without --append-only")
    assert "'ops'" in finding


def test_append_only_as_a_word_inside_a_path_does_not_count():
    text = f'command="borg serve --restrict-to-repository /b/--append-only" {KEY_B} x\n'
    assert audit_authorized_keys(text, {}) != []


def test_options_with_quoted_commas_and_escaped_quotes():
    options = 'from="10.0.0.1,10.0.0.2",command="echo \\"a,b\\"",no-pty'
    assert split_options(options) == [
        'from="10.0.0.1,10.0.0.2"',
        'command="echo \\"a,b\\""',
        "no-pty",
    ]
    assert option_value(options, "command") == 'echo "a,b"'
    assert option_value("restrict", "command") is None


def test_key_lines_know_which_are_in_the_block():
    lines = key_lines(pinned(f"{KEY_B} admin"))
    assert [(line.number, line.in_block, line.blob) for line in lines] == [
        (1, False, BLOB_B),
        (3, True, BLOB_A),
    ]


def test_runs_borg_serve_reads_words_not_substrings():
    assert runs_borg_serve("/opt/borg/bin/borg serve --append-only")
    assert not runs_borg_serve("echo borg serve-ish")
    assert not runs_borg_serve("borgmatic serve")


def test_the_pinned_line_uses_the_servers_borg_and_the_quota():
    line = authorized_keys_line("host1", KEY_A, "/b/host1", "/opt/borg-1.4/bin/borg", "50G")
    assert line.startswith(
        'command="/opt/borg-1.4/bin/borg serve --append-only --restrict-to-repository /b/host1 '
        '--storage-quota 50G",restrict '
    )
    assert audit_authorized_keys(pinned(), {BLOB_A: "host1"}) == []


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_any_text_is_audited_without_error(text: str):
    audit_authorized_keys(text, {BLOB_A: "host1"})
