"""What a client can change through `borg serve --append-only` outside the segment log
(docs/append-only-rpc.md), proved on real Borg 1.2 and 1.4 (when the lab built it).

No sshd is needed: BORG_RSH is a script that ignores ssh's arguments and runs the forced
command itself (`borg serve --append-only --restrict-to-repository REPO`), so the client's
calls still go through Borg's real RPC. Raw calls (arguments no borg command sends) go
through Borg's own RemoteRepository, run with the borg install's Python. If a Borg release
changes one of these behaviours, its test fails: update the document with it.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.real_tools import isolated_env
from wizard.hostside.guard_borg import hide_repository, restore_repository

pytestmark = pytest.mark.lab

BORGS = [
    borg for borg in ("/usr/bin/borg", "/opt/borgkeep-lab/borg-1.4/bin/borg") if Path(borg).exists()
]
PASSPHRASE = "client passphrase"

RAW_CLIENT = """
import argparse, sys, os, time
from borg.logger import setup_logging
setup_logging(level="critical")
from borg.helpers import Location
from borg.remote import RemoteRepository
args = argparse.Namespace(remote_path=None, rsh=None, umask=0o077, debug_topics=[],
    remote_ratelimit=None, upload_ratelimit=None, upload_buffer=None, lock_wait=1,
    storage_quota=None, rsh_cmd=None)
repo = RemoteRepository(Location(sys.argv[1]), args=args, **eval(sys.argv[2]))
for call in sys.argv[3:]:
    name, _, kwargs = call.partition(" ")
    if name == "pause":
        while not os.path.exists(kwargs):
            time.sleep(0.1)
        continue
    try:
        print(name, "->", repr(repo.call(name, eval(kwargs) if kwargs else {}))[:100], flush=True)
    except Exception as error:
        print(name, "RAISED", getattr(error, "exception_class", type(error).__name__), flush=True)
repo.close()
"""


@dataclass
class Served:
    borg: str
    repo: Path
    location: str
    client_env: dict
    server_env: dict
    script: Path

    def client(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.borg, *args], env=self.client_env, capture_output=True, text=True, timeout=120
        )

    def server(self, *args: str, path: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.borg, *args, str(path or self.repo)],
            env=self.server_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def raw_command(self, open_kwargs: str, *calls: str) -> list[str]:
        python = Path(self.borg).read_text(errors="replace").splitlines()[0][2:].strip()
        return [python, str(self.script), self.location, open_kwargs, *calls]

    def raw(self, open_kwargs: str, *calls: str) -> str:
        done = subprocess.run(
            self.raw_command(open_kwargs, *calls),
            env=self.client_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.stdout + done.stderr


def _serve(borg: str, tmp_path: Path, serve_extra: str = "") -> Served:
    repo = tmp_path / "repos" / "client1"
    repo.parent.mkdir(parents=True)
    rsh = tmp_path / "rsh"
    rsh.write_text(
        "#!/bin/sh\n# ssh + the forced command: ssh's arguments are ignored\n"
        f"exec {borg} serve --append-only --restrict-to-repository {repo} {serve_extra}\n"
    )
    rsh.chmod(0o755)
    script = tmp_path / "raw_client.py"
    script.write_text(RAW_CLIENT)
    common = {
        "BORG_PASSPHRASE": PASSPHRASE,
        "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
        "BORG_CHECK_I_KNOW_WHAT_I_AM_DOING": "YES",
        "BORG_DELETE_I_KNOW_WHAT_I_AM_DOING": "YES",
    }
    server_env = {**isolated_env(tmp_path / "server-home"), **common}
    client_env = {**isolated_env(tmp_path / "client-home"), **common, "BORG_RSH": str(rsh)}
    served = Served(borg, repo, f"ssh://lab{repo}", client_env, server_env, script)
    assert served.server("init", "-e", "repokey").returncode == 0
    source = tmp_path / "source"
    source.mkdir()
    (source / "file").write_text("hello\n")
    made = served.client("create", f"{served.location}::a1", str(source))
    assert made.returncode == 0, made.stderr
    return served


@pytest.fixture(
    params=BORGS or [None], ids=lambda borg: "borg14" if "1.4" in str(borg) else "borg12"
)
def borg(request: pytest.FixtureRequest) -> str:
    if request.param is None:
        pytest.skip("no borg binary")
    return request.param


@pytest.fixture
def served(borg: str, tmp_path: Path) -> Served:
    return _serve(borg, tmp_path)


def _segments(repo: Path) -> list[str]:
    return sorted(os.listdir(repo / "data" / "0"), key=int)


def test_destroy_and_repair_are_refused_and_compact_is_ignored(served: Served):
    before = _segments(served.repo)
    out = served.raw(
        "{'exclusive': True}",
        "destroy",
        "check {'repair': True}",
        "put {'id': b'\\x01' * 32, 'data': b'x' * 40}",
        "commit {'compact': True, 'threshold': 0.0, 'cleanup_commits': True}",
    )
    assert "destroy RAISED ValueError" in out and "check RAISED ValueError" in out, out
    assert "commit -> None" in out, out
    assert set(before) <= set(_segments(served.repo))  # nothing compacted away
    assert (served.repo / "config").exists()
    assert "a1" in served.server("list").stdout


def test_save_key_with_a_carriage_return_leaves_a_config_no_borg_can_open(served: Served):
    out = served.raw("{}", "save_key {'keydata': b'AAAA\\rappend_only = 0'}")
    assert "save_key -> None" in out, out
    assert not (served.repo / "config.old").exists()
    listed = served.server("list")
    assert listed.returncode != 0 and "DuplicateOptionError" in listed.stderr, listed.stderr
    # the client's own borg cannot open it either: nothing but a rewrite of the file helps
    assert served.client("list", served.location).returncode != 0


def test_a_nonce_near_2_64_stops_every_encrypting_write_until_the_file_is_removed(served: Served):
    nonce_file = served.repo / "nonce"
    current = int(nonce_file.read_text().strip(), 16)
    out = served.raw(
        "{'exclusive': True}",
        f"commit_nonce_reservation {{'next_unreserved': 2**64 - 1, 'start_nonce': {current}}}",
    )
    assert "commit_nonce_reservation -> None" in out, out
    assert nonce_file.read_text().strip() == "ffffffffffffffff"
    refused = served.server("delete", path=Path(f"{served.repo}::a1"))
    assert refused.returncode != 0 and "MAX_REPRESENTABLE_NONCE" in refused.stderr
    assert "a1" in served.server("list").stdout  # reading still works
    nonce_file.unlink()  # the recovery: Borg reserves from the manifest and its own record
    assert served.server("delete", path=Path(f"{served.repo}::a1")).returncode == 0


def test_a_partial_check_writes_last_segment_checked_into_config(served: Served):
    config = served.repo / "config"
    assert "last_segment_checked" not in config.read_text()
    out = served.raw("{'exclusive': True}", "check {'max_duration': 1e-9}")
    assert "check -> True" in out, out
    assert "last_segment_checked = " in config.read_text()


def test_a_storage_quota_passed_in_open_is_ignored(borg: str, tmp_path: Path):
    served = _serve(borg, tmp_path, "--storage-quota 10M")
    out = served.raw(
        "{'exclusive': True}",
        f"open {{'path': {str(served.repo).encode()!r}, 'exclusive': True, 'storage_quota': 0}}",
        "put {'id': b'\\x04' * 32, 'data': b'q' * 11_000_000}",
        "commit",
    )
    assert "open -> " in out and "StorageQuotaExceeded" in out, out
    assert "storage_quota = 0" in (served.repo / "config").read_text()


def test_break_lock_removes_a_lock_the_server_holds(served: Served):
    holder = subprocess.Popen(
        [served.borg, "with-lock", str(served.repo), "sleep", "30"],
        env=served.server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not (served.repo / "lock.exclusive").exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        blocked = served.raw("{'exclusive': True, 'lock_wait': 1}")
        assert "LockTimeout" in blocked, blocked
        out = served.raw("{'lock': False}", "break_lock")
        assert "break_lock -> None" in out, out
        assert not (served.repo / "lock.exclusive").exists()
        assert not (served.repo / "lock.roster").exists()
        written = served.raw(
            "{'exclusive': True, 'lock_wait': 1}",
            "put {'id': b'\\x03' * 32, 'data': b'z'}",
            "commit",
        )
        assert "commit -> None" in written, written
    finally:
        holder.kill()
        holder.wait()


def test_a_connection_opened_before_the_guard_hid_the_repository_cannot_commit(
    served: Served, tmp_path: Path
):
    go = tmp_path / "go"
    hidden = served.repo.parent / f".{served.repo.name}.borgkeep-guard"
    client = subprocess.Popen(
        served.raw_command(
            "{'lock': False}",
            "put {'id': b'\\x02' * 32, 'data': b'y' * 64}",
            f"pause {go}",
            "put {'id': b'\\x06' * 32, 'data': b'w' * 64}",
            "commit",
        ),
        env=served.client_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = client.stdout.readline()  # the first put opened a segment file (kept open)
        assert first.startswith("put -> None"), first
        hide_repository(str(served.repo), str(hidden), 5)
        try:
            committed_before = sorted(os.listdir(hidden))
            go.touch()
            out, _ = client.communicate(timeout=60)
            # the second put still lands in the kept segment, but a final commit needs a new
            # segment file, opened by the path the guard renamed away
            assert "put -> None" in out and "commit RAISED FileNotFoundError" in out, out
            assert sorted(os.listdir(hidden)) == committed_before  # no index.N of a new commit
            assert "a1" in served.server("list", path=hidden).stdout
            check = served.server("check", "--repository-only", path=hidden)
            assert check.returncode == 0, check.stderr
        finally:
            restore_repository(str(served.repo), str(hidden))
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert "a1" in served.client("list", served.location).stdout


def test_a_client_borg_init_while_the_repository_is_hidden_makes_the_guard_stop(
    served: Served,
):
    hidden = served.repo.parent / f".{served.repo.name}.borgkeep-guard"
    hide_repository(str(served.repo), str(hidden), 5)
    assert "DoesNotExist" in served.raw("{}")
    made = served.client("init", "-e", "repokey", "--make-parent-dirs", served.location)
    assert made.returncode == 0, made.stderr
    with pytest.raises(Exception, match="was created again"):
        restore_repository(str(served.repo), str(hidden))
    assert (hidden / "config").exists()  # both kept, for the operator
