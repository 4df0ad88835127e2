"""The SSH transport against a real sshd on loopback (see conftest.py)."""

from __future__ import annotations

import hashlib
import os
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wizard.remote.host_keys import (
    HostKeyChanged,
    HostKeyUnknown,
    check_host_key,
    fingerprint_sha256,
)
from wizard.remote.ssh_config import SSHTarget, resolve_target
from wizard.remote.step_timeouts import BORG, DATA, QUICK, STEP_TIMEOUT_ENV
from wizard.remote.transport import (
    AuthenticationFailed,
    CommandResult,
    Connection,
    HostUnreachable,
    RemoteCommandError,
    RemoteCommandTimeout,
    wrap_command,
)

from .conftest import SshdServer, free_port, generate_key, public_key

pytestmark = pytest.mark.lab


@pytest.fixture
def target(sshd: SshdServer, tmp_path: Path) -> SSHTarget:
    config = sshd.write_ssh_config(tmp_path / "ssh_config")
    return resolve_target("lab", config_path=config)


@pytest.fixture
def known_hosts(sshd: SshdServer, tmp_path: Path) -> Path:
    """A known_hosts that already trusts the lab sshd's host key."""
    path = tmp_path / "known_hosts"
    path.write_text(
        f"[127.0.0.1]:{sshd.port} {sshd.host_key.get_name()} {sshd.host_key.get_base64()}\n"
    )
    return path


@pytest.fixture
def connection(target: SSHTarget, known_hosts: Path) -> Iterator[Connection]:
    with Connection.connect(target, known_hosts) as conn:
        yield conn


def test_connects_with_identity_file_from_ssh_config(
    connection: Connection, sshd: SshdServer
) -> None:
    assert connection.is_active
    assert connection.target.identity_files == (str(sshd.client_key),)
    assert connection.host_key_fingerprint == fingerprint_sha256(sshd.host_key)
    assert connection.is_root is True
    assert connection.login_user == "root"


def test_unknown_host_key_refused_without_callback(
    target: SSHTarget, sshd: SshdServer, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "empty_known_hosts"
    with pytest.raises(HostKeyUnknown) as refused:
        Connection.connect(target, known_hosts)
    assert refused.value.fingerprint == fingerprint_sha256(sshd.host_key)
    assert (refused.value.hostname, refused.value.port) == ("127.0.0.1", sshd.port)
    assert not known_hosts.exists()


def test_unknown_host_key_declined_by_callback(
    target: SSHTarget, sshd: SshdServer, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    with pytest.raises(HostKeyUnknown):
        Connection.connect(target, known_hosts, on_unknown=lambda *args: False)
    assert not known_hosts.exists()


def test_unknown_host_key_accepted_by_callback_is_recorded(
    target: SSHTarget, sshd: SshdServer, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    asked: list[tuple] = []

    def accept(*args: object) -> bool:
        asked.append(args)
        return True

    with Connection.connect(target, known_hosts, on_unknown=accept) as conn:
        assert conn.run("echo hi").text == "hi\n"
    assert asked == [("127.0.0.1", sshd.port, "ssh-ed25519", fingerprint_sha256(sshd.host_key))]
    assert check_host_key(known_hosts, "127.0.0.1", sshd.port, sshd.host_key).status == "known"

    # Second contact: known, so nobody is asked.
    with Connection.connect(target, known_hosts, on_unknown=accept) as conn:
        assert conn.run("true").rc == 0
    assert len(asked) == 1
    assert len(known_hosts.read_text().splitlines()) == 1


def test_accept_new_records_unknown_key(
    target: SSHTarget, sshd: SshdServer, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "dir" / "known_hosts"
    with Connection.connect(target, known_hosts, accept_new=True) as conn:
        assert conn.is_active
    assert check_host_key(known_hosts, "127.0.0.1", sshd.port, sshd.host_key).status == "known"


def test_changed_host_key_is_a_hard_stop(
    target: SSHTarget, sshd: SshdServer, tmp_path: Path
) -> None:
    other = public_key(generate_key(tmp_path / "impostor"))
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {other.get_name()} {other.get_base64()}\n")
    before = known_hosts.read_bytes()
    with pytest.raises(HostKeyChanged) as stopped:
        Connection.connect(target, known_hosts, on_unknown=lambda *a: True, accept_new=True)
    message = str(stopped.value)
    assert f"[127.0.0.1]:{sshd.port}" in message
    assert fingerprint_sha256(other) in message
    assert fingerprint_sha256(sshd.host_key) in message
    assert known_hosts.read_bytes() == before


def test_host_known_by_another_key_type_is_recognised(
    target: SSHTarget, sshd: SshdServer, tmp_path: Path
) -> None:
    """Like OpenSSH, ask the server for the key type on file (paramiko alone prefers ed25519)."""
    key = sshd.ecdsa_host_key
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {key.get_name()} {key.get_base64()}\n")
    with Connection.connect(target, known_hosts) as conn:
        assert conn.host_key_fingerprint == fingerprint_sha256(key)
    assert len(known_hosts.read_text().splitlines()) == 1


def test_run_returns_status_and_both_streams(connection: Connection) -> None:
    result = connection.run("echo out; echo err >&2; exit 3")
    assert result == CommandResult(rc=3, stdout=b"out\n", stderr=b"err\n")
    assert not result.ok


def test_quoted_words_arrive_verbatim(connection: Connection) -> None:
    hostile = 'it\'s $(id) `id` "x"; rm -rf /nonexistent\n\\ *'
    result = connection.run(f"printf %s {shlex.quote(hostile)}", check=True)
    assert result.stdout.decode() == hostile


def test_sudo_as_root_runs_plain(connection: Connection) -> None:
    assert connection.run("id -u", sudo=True, check=True).text == "0\n"
    assert wrap_command("id -u", use_sudo=True) == "sudo -n sh -c 'id -u'"
    assert wrap_command("echo 'a'", use_sudo=False) == "sh -c 'echo '\"'\"'a'\"'\"''"


def test_large_stdin_round_trips(connection: Connection) -> None:
    data = os.urandom(5 * 1024 * 1024)
    result = connection.run("cat", stdin=data, check=True)
    assert len(result.stdout) == len(data)
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(data).digest()


def test_large_stdout_and_stderr_do_not_deadlock(connection: Connection) -> None:
    result = connection.run(
        "head -c 8000000 /dev/zero >&2 & head -c 9000000 /dev/zero; wait", check=True
    )
    assert (len(result.stdout), len(result.stderr)) == (9_000_000, 8_000_000)


def test_stdin_not_read_by_command(connection: Connection) -> None:
    result = connection.run("echo done", stdin=os.urandom(4 * 1024 * 1024))
    assert (result.rc, result.text) == (0, "done\n")


def test_check_raises_with_stderr(connection: Connection, sshd: SshdServer) -> None:
    with pytest.raises(RemoteCommandError) as failed:
        connection.run("echo boom >&2; exit 7", check=True)
    assert failed.value.rc == 7
    assert failed.value.stderr == b"boom\n"
    message = str(failed.value)
    assert "boom" in message and "7" in message
    assert f"root@127.0.0.1:{sshd.port}" in message


def test_timeout_closes_the_command(connection: Connection) -> None:
    with pytest.raises(RemoteCommandTimeout):
        connection.run("sleep 5", timeout=1)
    assert connection.run("echo still usable").text == "still usable\n"


def test_a_silent_command_is_stopped_and_named(connection: Connection, sshd: SshdServer) -> None:
    started = time.monotonic()
    with pytest.raises(RemoteCommandTimeout) as stopped:
        connection.run("echo started; sleep 30", silence=1)
    assert time.monotonic() - started < 5
    assert stopped.value.silent and stopped.value.what == "no answer for 1 s"
    assert str(stopped.value) == (
        f"on root@127.0.0.1:{sshd.port}: `echo started; sleep 30`: no answer for 1 s"
    )
    assert connection.run("echo still usable").text == "still usable\n"


def test_a_command_that_keeps_talking_outlives_its_silence_limit(connection: Connection) -> None:
    result = connection.run("for i in 1 2 3 4 5; do echo $i >&2; sleep 0.4; done", silence=1)
    assert (result.rc, result.stderr) == (0, b"1\n2\n3\n4\n5\n")


def test_the_step_timeout_variable_sets_every_kind_of_limit(
    connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STEP_TIMEOUT_ENV, "1")
    for kind in (QUICK, BORG, DATA):
        with pytest.raises(RemoteCommandTimeout) as stopped:
            connection.run("sleep 30", kind=kind)
        assert stopped.value.what == "no answer for 1 s"
    monkeypatch.setenv(STEP_TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="BORGKEEP_STEP_TIMEOUT: 'soon' is not a number"):
        connection.run("true")


def test_one_connection_serves_many_commands(
    target: SSHTarget, known_hosts: Path, sshd: SshdServer
) -> None:
    before = sshd.connections_logged()
    with Connection.connect(target, known_hosts) as conn:
        transport = conn.transport
        outputs = [conn.run(f"echo {n}", check=True).text for n in range(20)]
        assert conn.transport is transport
    assert outputs == [f"{n}\n" for n in range(20)]
    assert sshd.connections_logged() - before == 1


def test_unreachable_port(sshd: SshdServer, tmp_path: Path, known_hosts: Path) -> None:
    port = free_port()
    target = resolve_target(f"root@127.0.0.1:{port}", config_path=tmp_path / "none")
    with pytest.raises(HostUnreachable) as unreachable:
        Connection.connect(target, known_hosts, timeout=5)
    assert unreachable.value.address == f"127.0.0.1:{port}"
    assert "refused" in str(unreachable.value).lower()


def test_wrong_key_is_authentication_failed(
    sshd: SshdServer, tmp_path: Path, known_hosts: Path
) -> None:
    wrong = generate_key(tmp_path / "wrong_ed25519")
    config = sshd.write_ssh_config(tmp_path / "ssh_config", identity=wrong)
    target = resolve_target("lab", config_path=config)
    with pytest.raises(AuthenticationFailed) as refused:
        Connection.connect(target, known_hosts)
    message = str(refused.value)
    assert f"root@127.0.0.1:{sshd.port}" in message
    assert str(wrong) in message
    assert fingerprint_sha256(public_key(wrong)) in message


def test_too_many_wrong_keys_is_still_authentication_failed(
    sshd: SshdServer, tmp_path: Path, known_hosts: Path
) -> None:
    wrong_keys = [generate_key(tmp_path / f"wrong{n}") for n in range(8)]
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host lab\n    HostName 127.0.0.1\n    Port {sshd.port}\n    User root\n"
        + "".join(f"    IdentityFile {key}\n" for key in wrong_keys)
        + "    IdentitiesOnly yes\n"
    )
    target = resolve_target("lab", config_path=config)
    with pytest.raises(AuthenticationFailed) as refused:
        Connection.connect(target, known_hosts)
    assert str(wrong_keys[0]) in str(refused.value)


def test_missing_identity_file_is_named(
    sshd: SshdServer, tmp_path: Path, known_hosts: Path
) -> None:
    config = sshd.write_ssh_config(tmp_path / "ssh_config", identity=tmp_path / "absent_key")
    target = resolve_target("lab", config_path=config)
    with pytest.raises(AuthenticationFailed) as refused:
        Connection.connect(target, known_hosts)
    assert f"{tmp_path / 'absent_key'} (missing)" in str(refused.value)


def test_an_unreachable_host_is_one_clear_error(
    target: SSHTarget, known_hosts: Path, tmp_path: Path
) -> None:
    dead = resolve_target(f"root@127.0.0.1:{free_port()}", config_path=tmp_path / "none")
    with pytest.raises(HostUnreachable) as refused:
        Connection.connect(dead, known_hosts, timeout=5)
    assert f"127.0.0.1:{dead.port}" in str(refused.value)
    with Connection.connect(target, known_hosts, timeout=5) as alive:
        assert alive.run("echo ok").text == "ok\n"


def test_remembered_identity_costs_no_round_trip(connection: Connection) -> None:
    """Fact gathering tells the connection who the login is; it is not asked again."""
    connection.remember_identity(4321, "someone-else")
    assert connection.is_root is False
    assert connection.login_user == "someone-else"  # the remote would have said root
