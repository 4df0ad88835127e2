"""The remote write primitive, run locally with the real sh: atomic, stale-refusing, and
never leaving half a file or a temp file behind."""

from __future__ import annotations

import hashlib
import os
import subprocess

from wizard.remote import scripts


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(script: str, stdin: bytes, close_stderr: bool = False) -> int:
    proc = subprocess.Popen(
        ["sh", "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if close_stderr:
        proc.stderr.close()
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.wait(30)
    return proc.returncode


def script_for(path, old: bytes | None, new: bytes) -> str:
    return scripts.write_file_script(
        str(path), None if old is None else sha(old), 0o600, None, None, 0o700, False, sha(new), "T"
    )


def temp_files(directory) -> list[str]:
    return [n for n in os.listdir(directory) if n.startswith(".borgkeep.")]


def test_write_creates_parents_sets_mode_and_keeps_a_backup(tmp_path):
    target = tmp_path / "a" / "b" / "file"
    assert run(script_for(target, None, b"one\n"), b"one\n") == 0
    assert target.read_bytes() == b"one\n"
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert oct(target.parent.stat().st_mode & 0o777) == "0o700"
    assert run(script_for(target, b"one\n", b"two\n"), b"two\n") == 0
    assert target.read_bytes() == b"two\n"
    assert (target.parent / "file.borgkeep-T.bak").read_bytes() == b"one\n"
    assert not temp_files(target.parent)


def test_changed_file_is_refused_and_untouched(tmp_path):
    target = tmp_path / "file"
    target.write_bytes(b"edited by hand\n")
    assert run(script_for(target, b"what the plan saw\n", b"new\n"), b"new\n") == scripts.STALE_EXIT
    assert target.read_bytes() == b"edited by hand\n"


def test_truncated_upload_installs_nothing(tmp_path):
    target = tmp_path / "file"
    target.write_bytes(b"old\n")
    full = b"x" * 10000
    assert run(script_for(target, b"old\n", full), full[:5000]) == 1
    assert target.read_bytes() == b"old\n"
    assert not temp_files(tmp_path)


def test_truncated_upload_with_a_dead_connection_leaves_no_temp_file(tmp_path):
    target = tmp_path / "file"
    target.write_bytes(b"old\n")
    full = b"y" * 10000
    code = run(script_for(target, b"old\n", full), full[:100], close_stderr=True)
    assert code != 0
    assert target.read_bytes() == b"old\n"
    assert not temp_files(tmp_path)
