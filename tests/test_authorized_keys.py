"""authorized_keys lines pin each client to append-only access to its own repository."""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wizard.artefacts.authorized_keys import (
    AuthorizedKeysResult,
    authorized_keys_line,
    parse_authorized_keys_block,
    parse_public_key,
    render_authorized_keys,
)
from wizard.artefacts.managed_block import (
    BEGIN_MARKER,
    END_MARKER,
    ManagedBlockError,
    parse_managed_block,
)

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIASJXHANsE56MUyQy75Lms+8DogtvpPsa9lNg7iDLXIr user@a"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM4CIn5slujYWUT9x9ODqjENUQU5ioT/VcTShKT66ohx user@b"
KEY_C = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH9ZhEKzl+OqftACceUtdOYYr6iUtlr2nPUgM/pmaDx/ user@c"
KEY_ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFoxDEuKI8JFjShItAh"
    "YLMLyNZbsF3hlDDMp1OffiwGuAROMeYyM9gEMCMjmTWbW0/XsEsnm6gyUEcbCFrsZn5o= user@d"
)
KEY_RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC28HHLVwVHPp+AZd+eqXtOBDGiE8oIUA6OxZ3rUMBLYNZfOXWfwCI6"
    "iU8DWNM1pJU4cKeynhJY6PSbG/wBgnTlTx1J+KhQ9VuwbasMwooLU4j/Y2kZFEJ2ZVFwjMXzPWo2CQ7QsrYawc3hNVoe"
    "GUqDZd+0OUIvUmBlQutlsPfgbQ== user@e"
)
ALL_KEYS = [KEY_A, KEY_B, KEY_C, KEY_ECDSA, KEY_RSA]
BORG = "/usr/bin/borg"


def blob(key: str) -> str:
    return key.split()[1]


def expected_line(name: str, key: str, path: str) -> str:
    key_type, key_blob = key.split()[:2]
    return (
        f'command="/usr/bin/borg serve --append-only --restrict-to-repository {path}",restrict '
        f"{key_type} {key_blob} borgkeep:{name}"
    )


# --- one line ---------------------------------------------------------------------------


def test_line_pins_append_only_and_repository_and_replaces_the_comment():
    line = authorized_keys_line("host1", KEY_A, "/backups/host1", BORG)
    assert line == (
        'command="/usr/bin/borg serve --append-only --restrict-to-repository /backups/host1",restrict '
        f"ssh-ed25519 {blob(KEY_A)} borgkeep:host1"
    )
    assert "user@a" not in line


@pytest.mark.parametrize("key", ALL_KEYS)
def test_every_supported_key_type_is_accepted(key):
    line = authorized_keys_line("h", key, "/r/h", BORG)
    assert line.endswith(f"{key.split()[0]} {blob(key)} borgkeep:h")


def test_key_without_comment_and_with_surrounding_whitespace_is_accepted():
    bare = " ".join(KEY_A.split()[:2])
    assert authorized_keys_line("h", bare, "/r", BORG) == authorized_keys_line(
        "h", KEY_A, "/r", BORG
    )
    assert authorized_keys_line("h", f"  {KEY_A}\n", "/r", BORG) == authorized_keys_line(
        "h", KEY_A, "/r", BORG
    )


HOSTILE_NAMES = [
    "",
    "Host1",
    "-rf",
    ".hidden",
    'a"b',
    "a'b",
    "a,b",
    "a b",
    "a\nb",
    "host1\n",
    "a\rb",
    "$(id)",
    "`id`",
    "a;b",
    'x",command="sh',
    "a/b",
    "é",
    "a\x00b",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_client_names_are_refused_naming_the_value(name):
    with pytest.raises(ValueError) as raised:
        authorized_keys_line(name, KEY_A, "/backups/x", BORG)
    assert repr(name) in str(raised.value)


HOSTILE_PATHS = [
    "",
    "backups/x",
    "./x",
    "/",
    "/backups/../etc",
    "/backups/..",
    "/back ups",
    '/backups/x"',
    '/x",command="/bin/sh',
    "/x,permitopen=*",
    "/x\n",
    "/x\ny",
    "/$(id)",
    "/`id`",
    "/x;rm",
    "/x'y",
    "-/x",
    "/x\\y",
    "/x\x00",
    "~/backups",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_repository_paths_are_refused(path):
    with pytest.raises(ValueError) as raised:
        authorized_keys_line("host1", KEY_A, path, BORG)
    assert "repository path of host1" in str(raised.value)


def _blob_with(strings: list[bytes]) -> str:
    raw = b"".join(len(part).to_bytes(4, "big") + part for part in strings)
    return base64.b64encode(raw).decode()


BAD_KEYS = [
    "",
    "ssh-ed25519",
    KEY_A + "\n" + KEY_B,
    KEY_A + "\rfoo",
    "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
    'command="/bin/sh" ' + KEY_A,
    "restrict " + KEY_A,
    "ssh-ed25519 not*base64",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIASJXHANsE56MUyQy75Lms+8DogtvpPsa9lNg7iDLXI",
    "ssh-ed25519 " + blob(KEY_RSA),
    "ssh-rsa " + blob(KEY_A),
    "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519").decode(),
    "ssh-ed25519 " + _blob_with([b"ssh-ed25519", b"k" * 32])[:-4],
    "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20k").decode(),
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_public_keys_are_refused(key):
    with pytest.raises(ValueError, match="public key of host1"):
        authorized_keys_line("host1", key, "/backups/host1", BORG)


def test_key_blob_must_name_the_labelled_type():
    with pytest.raises(ValueError, match="the key data says 'ssh-rsa'"):
        parse_public_key("ssh-ed25519 " + blob(KEY_RSA))


def test_structurally_sound_blob_is_accepted():
    key = parse_public_key("ssh-ed25519 " + _blob_with([b"ssh-ed25519", b"k" * 32]) + " c")
    assert key.key_type == "ssh-ed25519"
    assert str(key) == "ssh-ed25519 " + _blob_with([b"ssh-ed25519", b"k" * 32])


# --- the block --------------------------------------------------------------------------

ENTRIES = {"host2": (KEY_B, "/backups/host2"), "host1": (KEY_A, "/backups/host1")}


def test_render_into_absent_file_sorts_by_client():
    result = render_authorized_keys(None, ENTRIES, BORG)
    assert result == AuthorizedKeysResult(
        text=BEGIN_MARKER
        + "\n"
        + expected_line("host1", KEY_A, "/backups/host1")
        + "\n"
        + expected_line("host2", KEY_B, "/backups/host2")
        + "\n"
        + END_MARKER
        + "\n",
        orphans=[],
        shadowed=[],
    )


def test_render_keeps_foreign_lines_and_is_idempotent():
    existing = "# admin\r\nssh-ed25519 AAAAforeign admin@laptop\r\n\r\nno-final-newline"
    first = render_authorized_keys(existing, ENTRIES, BORG)
    assert first.text.startswith(existing + "\r\n" + BEGIN_MARKER + "\r\n")
    assert render_authorized_keys(first.text, ENTRIES, BORG) == first


def test_adding_a_client_only_adds_its_line():
    first = render_authorized_keys("foreign\n", ENTRIES, BORG).text
    second = render_authorized_keys(
        first, {**ENTRIES, "host0": (KEY_C, "/backups/host0")}, BORG
    ).text
    new_line = expected_line("host0", KEY_C, "/backups/host0") + "\n"
    assert second == first.replace(BEGIN_MARKER + "\n", BEGIN_MARKER + "\n" + new_line)


def test_orphans_are_kept_in_sorted_place_and_reported():
    existing = render_authorized_keys(
        None, {**ENTRIES, "host15": (KEY_C, "/backups/host15")}, BORG
    ).text
    result = render_authorized_keys(existing, ENTRIES, BORG)
    assert result.orphans == ["host15"]
    assert result.text == existing
    assert list(parse_authorized_keys_block(result.text)) == ["host1", "host15", "host2"]


def test_pruning_removes_orphans_and_still_names_them():
    existing = render_authorized_keys(None, {**ENTRIES, "old": (KEY_C, "/backups/old")}, BORG).text
    result = render_authorized_keys(existing, ENTRIES, BORG, prune_orphans=True)
    assert result.orphans == ["old"]
    assert result.text == render_authorized_keys(None, ENTRIES, BORG).text


def test_orphan_line_is_kept_byte_for_byte_even_if_it_is_not_what_borgkeep_renders_today():
    odd = 'restrict,command="borg serve --append-only" ssh-ed25519 AAAAold borgkeep:legacy'
    existing = f"{BEGIN_MARKER}\n{odd}\n{END_MARKER}\n"
    result = render_authorized_keys(existing, ENTRIES, BORG)
    assert result.orphans == ["legacy"]
    assert parse_authorized_keys_block(result.text)["legacy"] == odd


def test_changed_repository_path_replaces_the_line():
    existing = render_authorized_keys(None, ENTRIES, BORG).text
    moved = {**ENTRIES, "host1": (KEY_A, "/srv/borg/host1")}
    text = render_authorized_keys(existing, moved, BORG).text
    assert parse_authorized_keys_block(text)["host1"] == expected_line(
        "host1", KEY_A, "/srv/borg/host1"
    )
    assert "/backups/host1" not in text


def test_two_clients_with_the_same_key_are_refused():
    with pytest.raises(ValueError, match="'a' and 'b' have the same public key"):
        render_authorized_keys(None, {"a": (KEY_A, "/r/a"), "b": (KEY_A + " x", "/r/b")}, BORG)


def test_renamed_client_whose_key_is_on_an_orphan_line_needs_pruning():
    existing = render_authorized_keys(None, {"old": (KEY_A, "/r/old")}, BORG).text
    with pytest.raises(ValueError, match="also on the old line of 'old'"):
        render_authorized_keys(existing, {"new": (KEY_A, "/r/new")}, BORG)
    result = render_authorized_keys(existing, {"new": (KEY_A, "/r/new")}, BORG, prune_orphans=True)
    assert list(parse_authorized_keys_block(result.text)) == ["new"]


def test_key_also_outside_the_block_is_reported_as_shadowed():
    existing = f"{KEY_B}\n# {blob(KEY_C)} mentioned\n"
    result = render_authorized_keys(existing, {**ENTRIES, "host3": (KEY_C, "/r/host3")}, BORG)
    assert result.shadowed == ["host2", "host3"]
    assert result.text.startswith(existing)


def test_parse_block_ignores_lines_outside_and_blank_lines_inside():
    text = (
        f"{expected_line('outside', KEY_C, '/r/o')}\n{BEGIN_MARKER}\n\n"
        f"{expected_line('host1', KEY_A, '/r/h')}\n  \n{END_MARKER}\n"
    )
    assert parse_authorized_keys_block(text) == {"host1": expected_line("host1", KEY_A, "/r/h")}
    assert parse_authorized_keys_block(None) == {}
    assert parse_authorized_keys_block("") == {}


@pytest.mark.parametrize(
    "inner",
    [
        KEY_A,
        "# a hand-written note",
        expected_line("x", KEY_A, "/r/x").replace("borgkeep:x", "borgkeep:X!"),
        expected_line("x", KEY_A, "/r/x") + "\n" + expected_line("x", KEY_B, "/r/x"),
    ],
)
def test_foreign_or_duplicate_lines_inside_the_block_are_refused(inner):
    text = f"{BEGIN_MARKER}\n{inner}\n{END_MARKER}\n"
    with pytest.raises(ManagedBlockError, match="borgkeep block of authorized_keys"):
        render_authorized_keys(text, ENTRIES, BORG)


def test_invalid_entry_is_refused_before_anything_is_rendered():
    with pytest.raises(ValueError, match="'bad name'"):
        render_authorized_keys(None, {**ENTRIES, "bad name": (KEY_C, "/r/x")}, BORG)


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
def test_openssh_reads_every_key_of_the_rendered_file(tmp_path):
    foreign = f"# admin\n{KEY_ECDSA}\n"
    entries = {
        "host1": (KEY_A, "/backups/host1"),
        "host2": (KEY_B, "/backups/host2"),
        "host3": (KEY_RSA, "/backups/host3"),
    }
    path = tmp_path / "authorized_keys"
    path.write_text(render_authorized_keys(foreign, entries, BORG).text)
    listing = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(path)], capture_output=True, text=True, check=True
    )
    comments = [line.split(" ", 2)[2].rsplit(" (", 1)[0] for line in listing.stdout.splitlines()]
    assert comments == ["user@d", "borgkeep:host1", "borgkeep:host2", "borgkeep:host3"]


# --- property tests ---------------------------------------------------------------------

CLIENT_POOL = {
    "a": (KEY_A, "/backups/a"),
    "b.x": (KEY_B, "/srv/b.x"),
    "c-1": (KEY_C, "/backups/c-1"),
    "d_2": (KEY_ECDSA, "/r/d_2"),
    "e": (KEY_RSA, "/backups/e"),
}
endings = st.sampled_from(["\n", "\r\n"])
foreign_line_contents = st.one_of(
    st.text(st.characters(exclude_characters="\n", exclude_categories=("Cs",)), max_size=30),
    st.sampled_from(
        [
            "",
            "# comment",
            KEY_A,
            "ssh-ed25519 AAAAnotakey borgkeep:a",
            expected_line("b.x", KEY_B, "/elsewhere"),
            'from="10.0.0.1" ' + KEY_ECDSA,
            "  \t ",
        ]
    ),
).filter(lambda line: line.rstrip("\r") not in (BEGIN_MARKER, END_MARKER))


@st.composite
def foreign_text(draw, may_lack_final_newline: bool) -> str:
    contents = draw(st.lists(foreign_line_contents, max_size=5))
    lines = [content + draw(endings) for content in contents]
    if lines and may_lack_final_newline and draw(st.booleans()):
        lines[-1] = contents[-1]
    return "".join(lines)


@st.composite
def existing_authorized_keys(draw):
    """(text, lines already in the block or None) built from foreign text and a block."""
    if not draw(st.booleans()):
        return draw(foreign_text(may_lack_final_newline=True)), None
    before = draw(foreign_text(may_lack_final_newline=False))
    names = draw(st.lists(st.sampled_from(sorted(CLIENT_POOL)), unique=True))
    block_lines = {
        name: authorized_keys_line(name, CLIENT_POOL[name][0], CLIENT_POOL[name][1], BORG)
        for name in names
    }
    newline = draw(endings)
    block = "".join(line + newline for line in [BEGIN_MARKER, *block_lines.values(), END_MARKER])
    after = draw(foreign_text(may_lack_final_newline=True))
    return before + block + after, block_lines


entry_sets = st.lists(st.sampled_from(sorted(CLIENT_POOL)), unique=True).map(
    lambda names: {name: CLIENT_POOL[name] for name in names}
)


def _outside(text: str) -> str:
    parsed = parse_managed_block(text)
    return parsed.before + parsed.after


@given(existing_authorized_keys(), entry_sets, st.booleans())
def test_render_keeps_every_foreign_byte(case, entries, prune):
    text, _ = case
    rendered = render_authorized_keys(text, entries, BORG, prune_orphans=prune).text
    outside_before, outside_after = _outside(text), _outside(rendered)
    if outside_before == "" or outside_before.endswith("\n") or parse_managed_block(text).has_block:
        assert outside_after == outside_before
    else:
        assert outside_after == outside_before + parse_managed_block(rendered).newline


@given(existing_authorized_keys(), entry_sets, st.booleans())
def test_render_is_idempotent(case, entries, prune):
    first = render_authorized_keys(case[0], entries, BORG, prune_orphans=prune)
    second = render_authorized_keys(first.text, entries, BORG, prune_orphans=prune)
    assert second.text == first.text
    assert second.orphans == (first.orphans if not prune else [])


@given(existing_authorized_keys(), entry_sets, st.booleans())
def test_block_holds_exactly_entries_plus_kept_orphans_sorted(case, entries, prune):
    text, old_block = case
    result = render_authorized_keys(text, entries, BORG, prune_orphans=prune)
    expected = {name: authorized_keys_line(name, *entries[name], BORG) for name in entries}
    orphans = sorted(set(old_block or {}) - set(entries))
    assert result.orphans == orphans
    if not prune:
        expected.update({name: old_block[name] for name in orphans})
    parsed = parse_authorized_keys_block(result.text)
    assert parsed == expected
    assert list(parsed) == sorted(expected)
    assert parse_managed_block(result.text).block_lines == [expected[n] for n in sorted(expected)]
