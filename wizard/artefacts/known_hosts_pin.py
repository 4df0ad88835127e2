"""The client's pinned known_hosts file for the backup server.

Taken from borgkeep's own verified connection and used with StrictHostKeyChecking=yes,
so a client's backups never trust a server key on first use. The whole file is
borgkeep's (it lives beside the client key), so it is rendered, not merged.
"""

from __future__ import annotations

from wizard.artefacts.authorized_keys import parse_public_key
from wizard.checks.fields import FieldError, check_host, check_port


def known_hosts_host_field(address_host: str, port: int) -> str:
    """The host as OpenSSH writes it: `host` on port 22, `[host]:port` otherwise."""
    bare = address_host
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    check_host("server address", f"[{bare}]" if ":" in bare else bare)
    checked_port = check_port("server port", port)
    return bare if checked_port == 22 else f"[{bare}]:{checked_port}"


def render_known_hosts_pin(address_host: str, port: int, host_keys: list[str]) -> str:
    """One `host keytype base64` line per server host key, sorted, comments dropped."""
    if not host_keys:
        raise FieldError("server host keys", "at least one host key is needed to pin the server")
    host = known_hosts_host_field(address_host, port)
    keys = {
        str(parse_public_key(key, f"server host key {index + 1}"))
        for index, key in enumerate(host_keys)
    }
    return "".join(f"{host} {key}\n" for key in sorted(keys))
