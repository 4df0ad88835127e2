"""The verify probe's one-message Borg RPC client against real `borg serve` (1.2, and 1.4
when the lab built it): refused exactly when the forced command pins another repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wizard.pipeline.verify import PROBE_COMMAND, SHELL_PROBE
from wizard.remote.borg_rpc import (
    OTHER_ID,
    OWN_ID,
    exception_class,
    open_request,
    opened,
    printf_command,
    probe_request,
    refused_open,
)

BORGS = [
    borg for borg in ("/usr/bin/borg", "/opt/borgkeep-lab/borg-1.4/bin/borg") if Path(borg).exists()
]


def _serve(borg: str, request: str | bytes, *serve_args: str) -> bytes:
    data = open_request(request) if isinstance(request, str) else request
    command = f"{printf_command(data)} | {borg} serve {' '.join(serve_args)}"
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


@pytest.mark.parametrize("borg", BORGS)
def test_the_probe_exchange_refuses_another_repository_then_opens_its_own(
    borg: str, tmp_path: Path
):
    own, other = str(tmp_path / "own"), str(tmp_path / "other")
    init = [borg, "init", "--encryption", "none", own]
    subprocess.run(init, check=True, capture_output=True, timeout=60)
    pinned = ("--append-only", "--restrict-to-repository", own)
    answer = _serve(borg, probe_request(other, own), *pinned)
    assert refused_open(answer, other) and exception_class(answer, OTHER_ID) == "PathNotAllowed"
    assert opened(answer, OWN_ID) and exception_class(answer, OWN_ID) is None
    assert not opened(answer, OTHER_ID)
    # a repository that is not there is not taken for opened, and says why
    missing = str(tmp_path / "missing")
    answer = _serve(borg, probe_request(other, missing), "--restrict-to-repository", missing)
    assert not opened(answer) and exception_class(answer, OWN_ID) == "DoesNotExist"
    # and without the pin the other repository is no refusal (it is only missing)
    answer = _serve(borg, probe_request(other, own), "--restrict-to-path", str(tmp_path))
    assert not refused_open(answer, other) and opened(answer)


def test_the_request_is_msgpack_str_only():
    request = open_request("/srv/backups/" + "x" * 40)
    assert request.startswith(b"\x83\xa1i\x01\xa1m\xa4open\xa1a\x81\xa4path\xd9\x35")
    assert printf_command(b"a'\n") == "printf '\\141\\047\\012'"
    unlocked = open_request("/r", 2, lock=False)
    assert unlocked == b"\x83\xa1i\x02\xa1m\xa4open\xa1a\x82\xa4path\xa2/r\xa4lock\xc2"
    assert probe_request("/o", "/r") == open_request("/o", 1) + unlocked
    with pytest.raises(ValueError):
        open_request("/r", 128)


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
