"""A one-message Borg RPC client for probes: ask a `borg serve` to open a repository.

`borg serve` (1.2 and 1.4) reads msgpack maps `{i: ID, m: METHOD, a: ARGS}` on stdin and
answers an `open` outside its `--restrict-to-repository` with an exception map naming
`PathNotAllowed`. Sending that one request through a client's key (`printf ... | ssh ...`)
proves the pin without starting a borg client on the host: the server's `borg serve` is
the only borg that runs. Every string is msgpack's *str* type: the server refuses *bin*.
"""

from __future__ import annotations

REFUSED = b"\xafexception_class\xaePathNotAllowed"
"""The answer's `exception_class: "PathNotAllowed"` pair, as msgpack encodes it."""


def _str(value: str) -> bytes:
    data = value.encode("utf-8", "surrogateescape")
    if len(data) < 32:
        return bytes([0xA0 | len(data)]) + data
    if len(data) < 256:
        return b"\xd9" + bytes([len(data)]) + data
    if len(data) < 65536:
        return b"\xda" + len(data).to_bytes(2, "big") + data
    raise ValueError(f"path too long for a probe: {len(data)} bytes")


def open_request(path: str, message_id: int = 1) -> bytes:
    """`{i: message_id, m: "open", a: {path: path}}` in msgpack."""
    if not 0 <= message_id < 128:
        raise ValueError("message_id must be a positive fixint")
    return (
        b"\x83"
        + _str("i")
        + bytes([message_id])
        + _str("m")
        + _str("open")
        + _str("a")
        + b"\x81"
        + _str("path")
        + _str(path)
    )


def printf_command(data: bytes) -> str:
    """A POSIX `printf` that writes `data` exactly (every byte an octal escape)."""
    return "printf '" + "".join(f"\\{byte:03o}" for byte in data) + "'"


def refused_open(answer: bytes, path: str) -> bool:
    """Whether `borg serve`'s answer is a `PathNotAllowed` for `path`."""
    return REFUSED in answer and path.encode("utf-8", "surrogateescape") in answer
