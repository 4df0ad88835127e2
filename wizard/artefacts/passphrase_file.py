"""Repository passphrase files, read by borgmatic's `encryption_passcommand`.

The passphrase travels in a 0600 file, never in argv or a config file, so it does not
show up in `ps`, diffs or logs.
"""

from __future__ import annotations

import secrets

PASSPHRASE_FILE_MODE = 0o600


def generate_passphrase() -> str:
    """256 bits from the OS's CSPRNG, URL-safe so no quoting or newline can bite."""
    return secrets.token_urlsafe(32)


def render_passphrase_file(passphrase: str) -> str:
    """The passphrase and one newline, which borg and borgmatic drop from passcommand output."""
    if not isinstance(passphrase, str) or not passphrase:
        raise ValueError("the passphrase is empty")
    if any(ch in passphrase for ch in "\r\n\x00"):
        raise ValueError("the passphrase contains a newline or NUL character")
    return passphrase + "\n"
