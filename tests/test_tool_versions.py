"""Tool versions are learned once per identity: a converged plan starts no borg or borgmatic
(no Python start-up) on any host, and any change to a tool's files makes it ask again."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wizard.pipeline.host_basics import gather_basic
from wizard.pipeline.tool_versions import (
    VERSIONS_MARK,
    VersionCache,
    parse_version,
    python_command,
    tool_identities,
    version_script,
)
from wizard.remote.transport import CommandResult


class LocalConnection:
    """Runs each command with this machine's `sh`, as a host would, and records them."""

    host_key = None

    def __init__(self, path: str) -> None:
        self.commands: list[str] = []
        self.path = path

    def run(
        self, command, stdin=None, sudo=False, timeout=None, check=False, **_: object
    ) -> CommandResult:
        self.commands.append(command)
        done = subprocess.run(
            ["sh", "-c", command], capture_output=True, env={"PATH": self.path, "HOME": "/root"}
        )
        return CommandResult(done.returncode, done.stdout, done.stderr)

    @property
    def version_runs(self) -> int:
        return sum(command.startswith(VERSIONS_MARK) for command in self.commands)


class FakeKey:
    def get_name(self) -> str:
        return "ssh-ed25519"

    def get_base64(self) -> str:
        return "AAAAlocalhost"


def _connection(path: str) -> LocalConnection:
    conn = LocalConnection(path)
    conn.host_key = FakeKey()
    return conn


@pytest.fixture
def cache(tmp_path: Path) -> VersionCache:
    return VersionCache(tmp_path / "cache" / "tool-versions.json")


def test_the_second_gather_starts_no_tool(cache: VersionCache):
    first = _connection("/usr/bin:/bin")
    facts = gather_basic(first, "local", versions=cache)
    assert facts.borg_version == "1.2.4" and facts.borgmatic_version == "1.7.7"
    assert first.version_runs == 1
    again = _connection("/usr/bin:/bin")
    facts_again = gather_basic(again, "local", versions=cache)
    assert again.version_runs == 0 and len(again.commands) == 1
    assert (facts_again.borg_version, facts_again.borgmatic_version) == ("1.2.4", "1.7.7")


def test_another_installation_at_another_path_is_asked_again(cache: VersionCache):
    venv = "/opt/borgkeep-lab/borg-1.4/bin"
    if not Path(venv, "borg").exists():
        pytest.skip("the lab's Borg 1.4 is not built")
    gather_basic(_connection("/usr/bin:/bin"), "local", versions=cache)
    moved = _connection(f"{venv}:/usr/bin:/bin")
    facts = gather_basic(moved, "local", versions=cache)
    assert facts.borg_version.startswith("1.4.") and moved.version_runs == 1


def test_a_tool_changed_in_place_is_asked_again(tmp_path: Path, cache: VersionCache):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("borg", "borgmatic"):
        shutil.copy2(f"/usr/bin/{tool}", bin_dir / tool)
    path = f"{bin_dir}:/usr/bin:/bin"
    gather_basic(_connection(path), "local", versions=cache)
    (bin_dir / "borg").write_text((bin_dir / "borg").read_text() + "\n# patched\n")
    touched = _connection(path)
    gather_basic(touched, "local", versions=cache)
    assert touched.version_runs == 1
    assert "borgmatic" not in touched.commands[-1]  # only the changed tool is asked


def test_without_an_identity_nothing_is_cached(cache: VersionCache):
    cache.put("key", "borg", None, "1.2.4")
    cache.put("key", "borg", "", "1.2.4")
    assert cache.get("key", "borg", None) is None
    assert not cache.path.exists()


def test_versions_are_read_like_the_tools_print_them():
    assert parse_version("borg", "borg 1.4.0b1") == "1.4.0b1"
    assert parse_version("borgmatic", "2.1.10") == "2.1.10"
    assert parse_version("borgmatic", "error") is None
    script = version_script({"borg": "/opt/my borg/bin/borg"})
    assert "'/opt/my borg/bin/borg' --version" in script


def test_a_reinstalled_package_is_asked_again(tmp_path: Path, cache: VersionCache):
    """The package metadata beside the tool's interpreter is part of its identity: an
    upgrade that rewrites only the library (pip into the same venv) is seen."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python3").symlink_to("/usr/bin/python3")
    meta = venv / "lib" / "python3.11" / "site-packages" / "borgbackup-1.2.4.dist-info"
    meta.mkdir(parents=True)
    script = Path("/usr/bin/borg").read_text().split("\n", 1)[1]
    (venv / "bin" / "borg").write_text(f"#!{venv}/bin/python3\n{script}")
    (venv / "bin" / "borg").chmod(0o755)
    path = f"{venv}/bin:/usr/bin:/bin"
    facts = gather_basic(_connection(path), "local", versions=cache)
    assert f"meta={meta}:" in facts.tool_identities["borg"]
    assert f"interp={venv}/bin/python3:" in facts.tool_identities["borg"]
    assert gather_basic(_connection(path), "local", versions=cache).borg_version == "1.2.4"
    (meta / "RECORD").write_text("upgraded\n")
    again = _connection(path)
    assert gather_basic(again, "local", versions=cache).borg_version == "1.2.4"
    assert again.version_runs == 1 and "borgmatic" not in again.commands[-1]


def test_a_file_stat_could_not_read_leaves_the_tool_without_identity():
    lines = [
        ("borg_file", "/usr/bin/borg"),
        ("borg_interp", "/usr/bin/python3"),
        ("stat", "1-2-3-4.0-5.0 /usr/bin/borg"),
        ("borgmatic_file", "/usr/bin/borgmatic"),
        ("stat", "1-9-3-4.0-5.0 /usr/bin/borgmatic"),
    ]
    identities = tool_identities(lines)
    assert "borg" not in identities  # its interpreter has no stamp: always asked
    assert identities["borgmatic"] == "file=/usr/bin/borgmatic:1-9-3-4.0-5.0"


def _installed_tools() -> list[tuple[str, str]]:
    found = [("borg", "/usr/bin/borg"), ("borgmatic", "/usr/bin/borgmatic")]
    for tool in ("borg", "borgmatic"):
        found += [
            (tool, str(path)) for path in sorted(Path("/opt/borgkeep-lab").glob(f"*/bin/{tool}"))
        ]
    return [(tool, path) for tool, path in found if Path(path).exists()]


@pytest.mark.parametrize(("tool", "path"), _installed_tools())
def test_the_cheap_answer_is_what_version_prints(tool: str, path: str, tmp_path: Path):
    """Every borg and borgmatic the lab has: the version asked of the tool's interpreter is
    the one `--version` prints; a `borg` or `borgmatic` module in the login's working
    directory does not change it (the script's own directory comes first, as for the tool)."""
    resolved = str(Path(path).resolve())
    shebang = Path(resolved).read_bytes().split(b"\n", 1)[0].decode()
    assert python_command(shebang), f"{path} is not a Python script: {shebang!r}"
    decoy = tmp_path / tool
    decoy.mkdir()
    (decoy / "__init__.py").write_text("__version__ = '0.0.1'\nraise SystemExit('decoy')\n")
    script = version_script({tool: path}, {tool: (resolved, shebang)})
    cheap = subprocess.run(["sh", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    asked = subprocess.run([path, "--version"], capture_output=True, text=True)
    expected = parse_version(tool, asked.stdout + asked.stderr)
    assert expected and f"{tool}_version={expected}\n" in cheap.stdout


def test_without_a_python_shebang_version_is_asked():
    assert python_command("#!/usr/bin/env python3") is None
    assert python_command("#!/bin/sh") is None
    assert python_command("") is None
    assert python_command("#!/usr/bin/python3 -s -E") == ["/usr/bin/python3", "-s", "-E"]
    script = version_script({"borg": "/usr/local/bin/borg"}, {"borg": ("/usr/local/bin/borg", "")})
    assert "from borg import" not in script and "'/usr/local/bin/borg' --version" not in script
    assert "/usr/local/bin/borg --version" in script
