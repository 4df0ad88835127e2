"""`exec_within`: paramiko waits for the answer to a command request without a limit; a
real paramiko SSH server on loopback that accepts the channel but holds the request shows
the step is stopped within its limit, with a clear error, and that a prompt answer passes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import paramiko
import pytest

from wizard.remote.start_command import StartTimeout, exec_within


class HoldingServer(paramiko.ServerInterface):
    """Accepts anyone and any session; answers a command request after `release` is set
    (at once when it already is)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def get_allowed_auths(self, username: str) -> str:
        return "none"

    def check_auth_none(self, username: str) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel, command: bytes) -> bool:
        self.release.wait(30)
        return True


@pytest.fixture(scope="module")
def host_key() -> paramiko.RSAKey:
    return paramiko.RSAKey.generate(1024)


def session(host_key: paramiko.RSAKey, release: threading.Event) -> Iterator[paramiko.Channel]:
    listener = socket.create_server(("127.0.0.1", 0))
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        conn, _ = listener.accept()
        server = paramiko.Transport(conn)
        transports.append(server)
        server.add_server_key(host_key)
        server.start_server(server=HoldingServer(release))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = paramiko.Transport(socket.create_connection(listener.getsockname()))
    transports.append(client)
    try:
        client.start_client(timeout=10)
        client.auth_none("tester")
        yield client.open_session(timeout=10)
    finally:
        release.set()
        for transport in transports:
            transport.close()
        listener.close()


def test_a_request_the_server_never_answers_stops_within_the_limit(host_key) -> None:
    release = threading.Event()
    for channel in session(host_key, release):
        started = time.monotonic()
        with pytest.raises(StartTimeout) as stopped:
            exec_within(channel, "true", 1.0)
        assert time.monotonic() - started < 5
        assert "did not answer the command request within 1 s" in str(stopped.value)
        assert channel.closed


def test_a_prompt_answer_starts_the_command(host_key) -> None:
    release = threading.Event()
    release.set()
    for channel in session(host_key, release):
        exec_within(channel, "true", 5.0)
        assert not channel.closed
