"""The paramiko floor under Borgkeep: `floor_paramiko.py [--nodelay] HOSTS_JSON [COMMAND]`.

One paramiko connection per host of HOSTS_JSON (`{"known_hosts": ..., "key": ...,
"hosts": [{"port": ..., "user": ...}, ...]}`, written by bench_fleet.py), 8 threads, host
keys checked against known_hosts, the operator's ed25519 key, one `exec_command` each
(default `true`), output read, connection closed. Run as its own process, like the CLI,
so the floor includes Python's and paramiko's start-up too. Exit 1 if any command failed.

By default the socket is paramiko's own (Nagle on), the floor issue 11 measures against.
`--nodelay` opens it with TCP_NODELAY, as Borgkeep's transport does: with Nagle on, a small
message sent while the previous one is unacknowledged waits for the host's delayed ACK
(40 ms on Linux), so this is the lower floor of the two.
"""

from __future__ import annotations

import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

import paramiko

PARALLEL = 8


def run_one(
    host: dict, known_hosts: str, key: paramiko.PKey, command: str, nodelay: bool = False
) -> int:
    """Connect, run `command`, read its output, close; its exit status."""
    sock = None
    if nodelay:
        sock = socket.create_connection(("127.0.0.1", host["port"]), timeout=15)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=host["port"],
        username=host["user"],
        pkey=key,
        allow_agent=False,
        look_for_keys=False,
        timeout=15,
        sock=sock,
    )
    try:
        _, stdout, stderr = client.exec_command(command)
        stdout.read()
        stderr.read()
        return stdout.channel.recv_exit_status()
    finally:
        client.close()


def main(argv: list[str]) -> int:
    nodelay = argv[:1] == ["--nodelay"]
    argv = argv[1:] if nodelay else argv
    with open(argv[0]) as handle:
        spec = json.load(handle)
    command = argv[1] if len(argv) > 1 else "true"
    key = paramiko.Ed25519Key.from_private_key_file(spec["key"])
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        codes = list(
            pool.map(
                lambda h: run_one(h, spec["known_hosts"], key, command, nodelay), spec["hosts"]
            )
        )
    return 1 if any(codes) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
