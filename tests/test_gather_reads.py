"""Fact gathering reads every managed file of a round in one `cat`, cut apart by the sizes
one `stat` reported; a file that changed size in between is read again, never misread."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from wizard.pipeline.facts import HostFacts
from wizard.pipeline.gather import ReadRace, cut, parse_paths_output, read_paths_script, run_reads
from wizard.pipeline.host_basics import FactsError
from wizard.remote.transport import CommandResult


def _facts() -> HostFacts:
    return HostFacts(host="h", login_user="root", uid=0, home="/root")


def test_many_files_come_back_byte_for_byte(tmp_path: Path):
    contents = {
        "empty": b"",
        "text": b"line one\nline two\n",
        "binary": bytes(range(256)) * 3,
        "no newline": b"last",
    }
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "text").chmod(0o640)
    paths = [str(tmp_path / name) for name in contents] + [str(tmp_path / "absent")]
    script = read_paths_script(files=[(p, str(tmp_path)) for p in paths])
    assert 'cat -- "$@" | base64' in script and "base64 -w0 -- " not in script
    assert script.count("\nstat_paths ") == 1  # one stat for every mode, owner and size
    output = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout
    facts, _ = parse_paths_output(_facts(), output.decode())
    for name, data in contents.items():
        assert facts.file(str(tmp_path / name)).content == data
    assert facts.file(str(tmp_path / "text")).mode == 0o640
    assert facts.file(str(tmp_path / "absent")).content is None


def test_sizes_that_disagree_with_the_bytes_are_a_race():
    assert cut(b"abcdef", ["a", "b"], {"a": 2, "b": 4}) == [b"ab", b"cdef"]
    with pytest.raises(ReadRace):
        cut(b"abcdef", ["a", "b"], {"a": 2, "b": 3})
    with pytest.raises(ReadRace):
        cut(b"ab", ["a", "b"], {"a": 2})


class Replaying:
    """A connection whose host answers with the given outputs in turn."""

    def __init__(self, outputs: list[bytes]) -> None:
        self.outputs = outputs
        self.runs = 0

    def run(self, command: str, check: bool = False, **_: object) -> CommandResult:
        self.runs += 1
        return CommandResult(0, self.outputs.pop(0), b"")


def test_a_file_growing_while_read_is_read_again(tmp_path: Path):
    target = tmp_path / "config"
    target.write_bytes(b"old\n")
    script = read_paths_script(files=[(str(target), str(tmp_path))])
    consistent = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout
    grown = re.sub(rb" 4 (\d+ )", rb" 9 \1", consistent)
    assert grown != consistent
    conn = Replaying([grown, consistent])
    facts, _ = run_reads(conn, script, "", _facts())
    assert conn.runs == 2 and facts.file(str(target)).content == b"old\n"
    with pytest.raises(FactsError, match="kept changing"):
        run_reads(Replaying([grown, grown, grown]), script, "", _facts())
