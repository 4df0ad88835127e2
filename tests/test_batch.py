"""Batches of write steps, run locally with the real sh: each step gets exactly its own stdin,
keeps its own refusals, and the batch stops at the first failure and says which step it was."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from wizard.remote import batch, scripts


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_step(path: Path, old: bytes | None, new: bytes) -> tuple[str, bytes]:
    script = scripts.write_file_script(
        str(path), None if old is None else sha(old), 0o600, sha(new), str(path.parent), 0o700
    )
    return script, new


def run_batch(steps: list[tuple[str, bytes]]) -> tuple[int, list[batch.StepRun]]:
    script = batch.batch_script([(text, len(data)) for text, data in steps])
    result = subprocess.run(
        ["sh", "-c", script], input=b"".join(data for _, data in steps), capture_output=True
    )
    runs = batch.parse_batch(result.stdout.decode(), result.stderr.decode(), len(steps))
    return result.returncode, runs


def test_each_step_reads_exactly_its_own_content(tmp_path):
    contents = [b"first\n", b"", b"third has\nno newline at the end", os.urandom(3000)]
    steps = [write_step(tmp_path / f"f{i}", None, data) for i, data in enumerate(contents)]
    steps.insert(1, (scripts.ensure_dir_script(str(tmp_path / "d"), 0o750, str(tmp_path)), b""))
    rc, runs = run_batch(steps)
    assert rc == 0
    assert [run.rc for run in runs] == [0] * 5
    for i, data in enumerate(contents):
        assert (tmp_path / f"f{i}").read_bytes() == data
        assert oct((tmp_path / f"f{i}").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "d").stat().st_mode & 0o777) == "0o750"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".borgkeep.")]


def test_a_stale_step_stops_the_batch_and_keeps_its_own_message(tmp_path):
    (tmp_path / "b").write_bytes(b"edited by hand\n")
    steps = [
        write_step(tmp_path / "a", None, b"A\n"),
        write_step(tmp_path / "b", b"what the plan saw\n", b"B\n"),
        write_step(tmp_path / "c", None, b"C\n"),
    ]
    rc, runs = run_batch(steps)
    assert rc == scripts.STALE_EXIT
    assert [run.rc for run in runs] == [0, scripts.STALE_EXIT]
    assert runs[0].stderr == ""
    assert "changed since the plan was made" in runs[1].stderr
    assert str(tmp_path / "b") in runs[1].stderr
    assert (tmp_path / "a").read_bytes() == b"A\n"
    assert (tmp_path / "b").read_bytes() == b"edited by hand\n"
    assert not (tmp_path / "c").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".borgkeep.")]


def test_a_link_is_refused_inside_a_batch(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"secret\n")
    (tmp_path / "link").symlink_to(target)
    steps = [write_step(tmp_path / "link", None, b"x\n"), write_step(tmp_path / "z", None, b"z")]
    rc, runs = run_batch(steps)
    assert rc == scripts.STALE_EXIT
    assert [run.rc for run in runs] == [scripts.STALE_EXIT]
    assert "symbolic link" in runs[0].stderr
    assert target.read_bytes() == b"secret\n"
    assert not (tmp_path / "z").exists()


def test_a_truncated_upload_installs_nothing(tmp_path):
    """The stdin ends early (a cut connection): the step short of its bytes fails its hash
    check, and nothing after it runs."""
    steps = [write_step(tmp_path / "a", None, b"A" * 100), write_step(tmp_path / "b", None, b"B")]
    script = batch.batch_script([(text, len(data)) for text, data in steps])
    result = subprocess.run(["sh", "-c", script], input=b"A" * 60, capture_output=True)
    runs = batch.parse_batch(result.stdout.decode(), result.stderr.decode(), 2)
    assert [run.rc for run in runs] == [1]
    assert "upload was incomplete" in runs[0].stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_parse_stops_where_the_output_stops():
    out = f"\n{batch.END} 0 0\n"
    err = f"\n{batch.BEGIN} 0\n\n{batch.BEGIN} 1\npartial\n"
    assert batch.parse_batch(out, err, 3) == [batch.StepRun(0, "")]


def test_batches_stay_below_one_command_line():
    texts = ["x" * 9000] * 12
    groups = batch.split_batches(texts)
    assert sorted(i for group in groups for i in group) == list(range(12))
    assert all(sum(len(texts[i]) for i in group) <= batch.MAX_BATCH_CHARS for group in groups)
    assert len(groups) > 1
    assert batch.split_batches(["y" * 50_000]) == [[0]]


def test_a_step_that_reads_nothing_leaves_the_next_share_aligned(tmp_path):
    """A large file already holding the content (only its mode changes) exits before reading
    its stdin; the next step must still get exactly its own bytes."""
    big = os.urandom(300_000)
    (tmp_path / "big").write_bytes(big)
    os.chmod(tmp_path / "big", 0o644)
    steps = [write_step(tmp_path / "big", big, big), write_step(tmp_path / "next", None, b"N\n")]
    rc, runs = run_batch(steps)
    assert rc == 0, runs
    assert [run.rc for run in runs] == [0, 0]
    assert oct((tmp_path / "big").stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "big").read_bytes() == big
    assert (tmp_path / "next").read_bytes() == b"N\n"


def test_a_step_without_stdin_reads_nothing_of_the_next_share(tmp_path):
    """A step with no bytes of its own runs with stdin closed: even one that reads (here a
    `cat` into a file) gets nothing, and the next step still gets exactly its own bytes."""
    greedy = f"set -eu\ncat > {tmp_path / 'greedy'}\n"
    steps = [(greedy, b""), write_step(tmp_path / "next", None, b"its own\n")]
    rc, runs = run_batch(steps)
    assert rc == 0, runs
    assert (tmp_path / "greedy").read_bytes() == b""
    assert (tmp_path / "next").read_bytes() == b"its own\n"
