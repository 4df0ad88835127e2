"""The verify probe's one-message Borg RPC client against real `borg serve` (1.2, and 1.4
when the lab built it): refused exactly when the forced command pins another repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wizard.pipeline.verify import PROBE_COMMAND, SHELL_PROBE
from wizard.remote.borg_rpc import open_request, printf_command, refused_open

BORGS = [
    borg for borg in ("/usr/bin/borg", "/opt/borgkeep-lab/borg-1.4/bin/borg") if Path(borg).exists()
]


def _serve(borg: str, request_path: str, *serve_args: str) -> bytes:
    command = f"{printf_command(open_request(request_path))} | {borg} serve {' '.join(serve_args)}"
    done = subprocess.run(["sh", "-c", command], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("borg", BORGS)
def test_a_pinned_serve_refuses_another_repository(borg: str, tmp_path: Path):
    own, other = str(tmp_path / "own"), str(tmp_path / "other")
    answer = _serve(borg, other, "--append-only", "--restrict-to-repository", own)
    assert refused_open(answer, other)


@pytest.mark.parametrize("borg", BORGS)
def test_serve_without_the_pin_is_not_taken_for_refusal(borg: str, tmp_path: Path):
    other = str(tmp_path / "other")
    # restricted to a parent path only: another repository is not refused (it is missing)
    answer = _serve(borg, other, "--append-only", "--restrict-to-path", str(tmp_path))
    assert b"DoesNotExist" in answer and not refused_open(answer, other)
    # and the own repository's path is not refused either
    own = str(tmp_path / "own")
    answer = _serve(borg, own, "--append-only", "--restrict-to-repository", own)
    assert not refused_open(answer, own)


def test_the_request_is_msgpack_str_only():
    request = open_request("/srv/backups/" + "x" * 40)
    assert request.startswith(b"\x83\xa1i\x01\xa1m\xa4open\xa1a\x81\xa4path\xd9\x35")
    assert printf_command(b"a'\n") == "printf '\\141\\047\\012'"


@pytest.mark.parametrize("borg", BORGS)
def test_the_probe_command_tells_a_shell_from_a_forced_serve(borg: str, tmp_path: Path):
    """What ssh sends (its arguments joined by spaces) prints the marker in a shell; a forced
    `borg serve` accepts it as the client's command and serves the request, and nothing it
    prints (its sysinfo quotes SSH_ORIGINAL_COMMAND) contains the marker."""
    remote = " ".join(PROBE_COMMAND)
    shell = subprocess.run(["sh", "-c", remote], capture_output=True, text=True)
    assert SHELL_PROBE in shell.stdout
    own, other = str(tmp_path / "own"), str(tmp_path / "other")
    command = (
        f"{printf_command(open_request(other))} | "
        f"{borg} serve --append-only --restrict-to-repository {own}"
    )
    served = subprocess.run(
        ["sh", "-c", command],
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": remote},
        timeout=60,
    )
    assert refused_open(served.stdout, other)
    assert remote.encode() in served.stdout  # borg quotes the command it was sent...
    assert SHELL_PROBE.encode() not in served.stdout + served.stderr  # ...never the marker
