"""The cheap borgmatic version lookup agrees with `importlib.metadata` (what borgmatic's
`--version` prints) wherever it answers, and leaves every unusual layout to it."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from wizard.pipeline.version_code import BORGMATIC_LOOKUP, version_program

PYTHON = "/usr/bin/python3"
PROBE = """
import importlib.metadata, json, sys
sys.path[:] = json.loads(sys.argv[1])
{lookup}
cheap = _borgmatic()
try:
    real = importlib.metadata.version("borgmatic")
except Exception as error:
    real = type(error).__name__
print(json.dumps([cheap, real]))
"""


def lookup(*entries: Path | str) -> tuple[str | None, str]:
    """(the cheap answer, importlib.metadata's) with exactly `entries` as sys.path."""
    paths = json.dumps([str(entry) for entry in entries])
    probe = PROBE.format(lookup=BORGMATIC_LOOKUP)
    done = subprocess.run(
        [PYTHON, "-I", "-c", probe, paths], capture_output=True, text=True, check=True
    )
    cheap, real = json.loads(done.stdout)
    return cheap, real


def dist(where: Path, name: str, metadata: str, file: str = "METADATA") -> Path:
    directory = where / name
    directory.mkdir(parents=True)
    (directory / file).write_text(metadata)
    return directory


META = "Metadata-Version: 2.1\nName: borgmatic\nVersion: {}\n\nSummary in the body\nVersion: 0\n"


def test_a_plain_dist_info_is_read_and_agrees(tmp_path: Path):
    dist(tmp_path, "borgmatic-9.9.9.dist-info", META.format("9.9.9"))
    assert lookup(tmp_path) == ("9.9.9", "9.9.9")


def test_the_first_path_entry_with_a_candidate_wins_as_for_importlib(tmp_path: Path):
    first, second = tmp_path / "first", tmp_path / "second"
    second.mkdir()
    dist(first, "Borgmatic-1.0.0.EGG-INFO", META.format("1.0.0"), "PKG-INFO")
    dist(second, "borgmatic-2.0.0.dist-info", META.format("2.0.0"))
    assert lookup(tmp_path / "missing", first, second) == ("1.0.0", "1.0.0")


def test_an_egg_info_file_is_its_own_metadata(tmp_path: Path):
    (tmp_path / "borgmatic-3.1.egg-info").write_text(META.format("3.1"))
    assert lookup(tmp_path) == ("3.1", "3.1")


def test_another_distribution_with_a_longer_name_is_not_borgmatic(tmp_path: Path):
    dist(tmp_path, "borgmatic_extra-1.0.dist-info", META.format("1.0"))
    dist(tmp_path, "borgmaticx-1.0.dist-info", META.format("1.0"))
    assert lookup(tmp_path) == (None, "PackageNotFoundError")


@pytest.mark.parametrize(
    "metadata",
    [
        "Name: borgmatic\nVersion: 1.0\nVersion: 2.0\n",  # which one is first is the parser's
        "Name: borgmatic\nVersion: 1.0\n  continued\n",
        "Name: borgmatic\nVersion: 1.0 beta\n",
        "Name: borgmatic\nVersion:\n",
        "Name: borgmatic\n",
    ],
    ids=["two", "folded", "space", "empty", "none"],
)
def test_a_version_header_that_is_not_one_plain_line_is_left_to_importlib(tmp_path, metadata):
    dist(tmp_path, "borgmatic-1.0.dist-info", metadata)
    cheap, _ = lookup(tmp_path)
    assert cheap is None


def test_two_candidates_in_one_entry_are_left_to_importlib(tmp_path: Path):
    dist(tmp_path, "borgmatic-1.7.6.dist-info", META.format("1.7.6"))
    dist(tmp_path, "borgmatic-1.7.7.dist-info", META.format("1.7.7"))
    cheap, real = lookup(tmp_path)
    assert cheap is None and real in ("1.7.6", "1.7.7")


def test_a_zip_or_an_egg_on_the_path_is_left_to_importlib(tmp_path: Path):
    archive = tmp_path / "packed.zip"
    with zipfile.ZipFile(archive, "w") as packed:
        packed.writestr("borgmatic-4.0.dist-info/METADATA", META.format("4.0"))
    plain = tmp_path / "plain"
    dist(plain, "borgmatic-5.0.dist-info", META.format("5.0"))
    assert lookup(archive, plain) == (None, "4.0")
    egg = tmp_path / "borgmatic-6.0-py3.11.egg"
    dist(egg, "EGG-INFO", META.format("6.0"), "PKG-INFO")
    assert lookup(egg, plain)[0] is None


def test_one_program_answers_each_tool_on_its_own(tmp_path: Path):
    """A tool whose module is missing prints nothing; the other is still answered."""
    dist(tmp_path, "borgmatic-7.0.dist-info", META.format("7.0"))
    program = version_program(["borg", "borgmatic"])
    probe = f"import sys\nsys.path[:] = [{str(tmp_path)!r}]\n{program}"
    done = subprocess.run([PYTHON, "-I", "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "borgmatic_version=7.0\n"
