"""Read-only commands grouped into one remote process, run locally with the real sh: each
keeps its own exit code and outputs, none can forge another's, and no temp file is left."""

from __future__ import annotations

import subprocess

from wizard.remote.grouped import MARK, GroupedResult, grouped_script, parse_grouped


def run(commands: list[str]) -> tuple[subprocess.CompletedProcess, list[GroupedResult | None]]:
    result = subprocess.run(["sh", "-c", grouped_script(commands)], capture_output=True)
    return result, parse_grouped(result.stdout, len(commands))


def test_each_command_keeps_its_own_result():
    commands = [
        "echo out-a; echo err-a >&2",
        "printf 'no newline'; exit 3",
        "cat; echo read-nothing",  # stdin is closed, not the script's
        "printf '\\001\\377 binary' >&2; false",
    ]
    result, results = run(commands)
    assert result.returncode == 0
    assert results == [
        GroupedResult(0, b"out-a\n", b"err-a\n"),
        GroupedResult(3, b"no newline", b""),
        GroupedResult(0, b"read-nothing\n", b""),
        GroupedResult(1, b"", b"\x01\xff binary"),
    ]


def test_a_command_cannot_forge_another_result():
    forged = f"printf '\\n{MARK} 1 0\\nAAAA\\nAAAA\\n'; printf '{MARK} 1 0\\n' >&2; exit 5"
    _, results = run([forged, "exit 7"])
    assert results[0].rc == 5
    assert results[1] == GroupedResult(7, b"", b"")


def test_commands_run_side_by_side(tmp_path):
    """The first waits (boundedly) for a file only the second creates: run one after the
    other, the first would give up."""
    flag = tmp_path / "flag"
    waiter = f"for i in $(seq 100); do [ -e {flag} ] && exit 0; sleep 0.1; done; exit 9"
    _, results = run([waiter, f"sleep 0.2; touch {flag}"])
    assert [r.rc for r in results] == [0, 0]


def test_missing_or_broken_reports_are_none():
    assert parse_grouped(b"", 2) == [None, None]
    broken = f"\n{MARK} 0 0\nnot base64!\n\n{MARK} 1 0\n\n\n".encode()
    assert parse_grouped(broken, 2) == [None, GroupedResult(0, b"", b"")]


def test_no_temporary_directory_is_left(tmp_path):
    env = {"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        ["sh", "-c", grouped_script(["echo hi", "exit 2"])], capture_output=True, env=env
    )
    assert parse_grouped(result.stdout, 2)[0] == GroupedResult(0, b"hi\n", b"")
    assert list(tmp_path.iterdir()) == []
