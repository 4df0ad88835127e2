"""A few-message Borg RPC client for probes: ask a `borg serve` to open repositories.

`borg serve` (1.2 and 1.4) reads msgpack maps `{i: ID, m: METHOD, a: ARGS}` on stdin and
answers each in turn on one connection: an `open` outside its `--restrict-to-repository`
with an exception map naming `PathNotAllowed`, an `open` it allows with `{i: ID, r: the
repository's ID}`. Sending both requests through a client's key (`printf ... | ssh ...`)
proves the pin and that the key reaches its own repository without starting a borg client
on the host: the server's `borg serve` is the only borg that runs. Every string is
msgpack's *str* type: the server refuses *bin*.
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


def _fixint(message_id: int) -> bytes:
    if not 0 <= message_id < 128:
        raise ValueError("message_id must be a positive fixint")
    return bytes([message_id])


def open_request(path: str, message_id: int = 1, *, lock: bool = True) -> bytes:
    """`{i: message_id, m: "open", a: {path: path}}` in msgpack; with `lock=False`,
    `a` also holds `lock: false` (open without touching the repository's lock: a probe
    that only reads never waits for, or holds up, a running backup)."""
    args = b"\x81" + _str("path") + _str(path)
    if not lock:
        args = b"\x82" + _str("path") + _str(path) + _str("lock") + b"\xc2"
    return b"\x83" + _str("i") + _fixint(message_id) + _str("m") + _str("open") + _str("a") + args


OTHER_ID, OWN_ID = 1, 2
"""The message IDs of `probe_request`'s two opens."""


def probe_request(other: str, own: str) -> bytes:
    """Open `other` (a pinned key is refused), then `own` without its lock (a pinned key
    gets in): the verify probe's whole exchange, answered on one connection."""
    return open_request(other, OTHER_ID) + open_request(own, OWN_ID, lock=False)


def opened(answer: bytes, message_id: int = OWN_ID) -> bool:
    """Whether `borg serve`'s answer holds a result (not an exception) for `message_id`:
    `{i: message_id, r: ...}`, as borg packs it."""
    return b"\x82" + _str("i") + _fixint(message_id) + _str("r") in answer


def printf_command(data: bytes) -> str:
    """A POSIX `printf` that writes `data` exactly (every byte an octal escape)."""
    return "printf '" + "".join(f"\\{byte:03o}" for byte in data) + "'"


def refused_open(answer: bytes, path: str) -> bool:
    """Whether `borg serve`'s answer is a `PathNotAllowed` for `path`."""
    return REFUSED in answer and path.encode("utf-8", "surrogateescape") in answer


def exception_class(answer: bytes, message_id: int) -> str | None:
    """The exception class `borg serve` answered `message_id` with (`DoesNotExist`, ...),
    or None when the answer holds none for it."""
    mark = _str("i") + _fixint(message_id) + _str("exception_class")
    start = answer.find(mark) + len(mark)
    if start < len(mark) or start >= len(answer) or not 0xA0 <= answer[start] < 0xC0:
        return None
    name = answer[start + 1 : start + 1 + (answer[start] & 0x1F)]
    return name.decode("ascii", "replace")
