"""Passphrases are strong, one line, and written to owner-only files."""

from __future__ import annotations

import re
import stat

import pytest

from wizard.artefacts.passphrase_file import (
    PASSPHRASE_FILE_MODE,
    generate_passphrase,
    render_passphrase_file,
)


def test_generated_passphrases_are_long_url_safe_and_different():
    passphrases = {generate_passphrase() for _ in range(20)}
    assert len(passphrases) == 20
    for passphrase in passphrases:
        assert len(passphrase) >= 43
        assert re.fullmatch(r"[A-Za-z0-9_-]+", passphrase)


def test_file_is_the_passphrase_and_one_newline():
    assert render_passphrase_file("s3cret pass") == "s3cret pass\n"
    passphrase = generate_passphrase()
    assert render_passphrase_file(passphrase).splitlines() == [passphrase]


@pytest.mark.parametrize("bad", ["", "two\nlines", "trailing\n", "cr\r", "nul\x00"])
def test_empty_or_multiline_passphrases_are_refused(bad):
    with pytest.raises(ValueError, match="passphrase"):
        render_passphrase_file(bad)


def test_error_never_echoes_the_passphrase():
    with pytest.raises(ValueError) as raised:
        render_passphrase_file("topsecret\nvalue")
    assert "topsecret" not in str(raised.value)


def test_mode_is_owner_read_write_only():
    assert PASSPHRASE_FILE_MODE == stat.S_IRUSR | stat.S_IWUSR
