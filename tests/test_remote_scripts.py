"""The remote write primitives, run locally with the real sh: atomic, stale-refusing, never
leaving half a file or a temp file behind, and never following a link."""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from wizard.remote import scripts
from wizard.remote.identity import RUNUSER, SUDO, RunAs

CANARY = b"root:$y$canary-hash:19000:0:99999:7:::\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(script: str, stdin: bytes, close_stderr: bool = False, env=None) -> int:
    proc = subprocess.Popen(
        ["sh", "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    if close_stderr:
        proc.stderr.close()
    # A script that needs no content (the same file, only its mode) may exit before
    # reading stdin: the pipe is then closed under us, which is no failure of the script.
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(stdin)
        proc.stdin.flush()
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    proc.wait(30)
    return proc.returncode


def script_for(path, old: bytes | None, new: bytes, base=None, mode: int = 0o600) -> str:
    return scripts.write_file_script(
        str(path),
        None if old is None else sha(old),
        mode,
        sha(new),
        str(base or Path(path).parent),
        0o700,
        backup_stamp="T",
    )


def run_stderr(script: str, stdin: bytes = b"", env=None) -> tuple[int, str]:
    result = subprocess.run(["sh", "-c", script], input=stdin, capture_output=True, env=env)
    return result.returncode, result.stderr.decode()


def temp_files(directory) -> list[str]:
    return [n for n in os.listdir(directory) if n.startswith(".borgkeep.")]


def backups(directory, name: str = "file") -> list[Path]:
    return sorted(Path(directory).glob(f"{name}.borgkeep-*.bak"))


def canary(tmp_path: Path) -> Path:
    """A stand-in for /etc/shadow: a file the attacker wants root to overwrite or chown."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    path = outside / "shadow"
    path.write_bytes(CANARY)
    path.chmod(0o600)
    return path


def assert_canary_intact(path: Path) -> None:
    assert path.read_bytes() == CANARY
    info = path.lstat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_nlink == 1


def test_write_creates_parents_sets_mode_and_keeps_a_backup(tmp_path):
    target = tmp_path / "a" / "b" / "file"
    assert run(script_for(target, None, b"one\n"), b"one\n") == 0
    assert target.read_bytes() == b"one\n"
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert oct(target.parent.stat().st_mode & 0o777) == "0o700"
    assert run(script_for(target, b"one\n", b"two\n"), b"two\n") == 0
    assert target.read_bytes() == b"two\n"
    [backup] = backups(target.parent)
    assert backup.read_bytes() == b"one\n"
    assert not temp_files(target.parent)


def test_a_new_file_gets_its_own_mode_from_a_private_temp_file(tmp_path):
    """mktemp's 0600 is kept as it is; any other mode is set before the rename."""
    for mode in (0o644, 0o640, 0o600, 0o400):
        target = tmp_path / f"{mode:o}" / "file"
        assert run(script_for(target, None, b"x\n", mode=mode), b"x\n") == 0
        assert stat.S_IMODE(target.stat().st_mode) == mode
        assert target.read_bytes() == b"x\n"


def test_the_parent_of_every_path_is_found_without_dirname(tmp_path):
    """`dn` is `dirname` for the absolute, normalised paths the scripts use."""
    paths = ["/", "/etc", "/etc/borgmatic.d", "/a/b/c.yaml", "relative", "rel/ative"]
    script = scripts.DIRNAME_FUNCTION + "".join(f'dn {p}; echo "$r"\n' for p in paths)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    expected = [
        subprocess.run(["dirname", p], capture_output=True, text=True).stdout for p in paths
    ]
    assert out.stdout == "".join(expected)


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


# --- links, backups and directories --------------------------------------------------------


def test_the_backup_is_a_hard_link_of_the_old_file_under_an_unpredictable_name(tmp_path):
    target = tmp_path / "file"
    names = set()
    for round_, old in enumerate([b"one\n", b"two\n", b"three\n"]):
        target.write_bytes(old)
        inode = target.stat().st_ino
        new = f"new {round_}\n".encode()
        assert run(script_for(target, old, new), new) == 0
        [backup] = [b for b in backups(tmp_path) if b.name not in names]
        names.add(backup.name)
        assert re.fullmatch(r"file\.borgkeep-T-[A-Za-z0-9]{6}\.bak", backup.name), backup.name
        assert backup.stat().st_ino == inode  # the old file itself, not a copy
        assert backup.read_bytes() == old
    assert len(names) == 3  # same stamp, three different names


def test_a_link_at_the_target_is_refused_and_nothing_follows_it(tmp_path):
    shadow = canary(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    target = home / "prune.yaml"
    target.symlink_to(shadow)

    code, stderr = run_stderr(script_for(target, CANARY, b"new\n", base=home), b"new\n")

    assert code == scripts.STALE_EXIT
    assert f"{target} is a symbolic link" in stderr and "remove it" in stderr
    assert target.is_symlink() and os.readlink(target) == str(shadow)
    assert_canary_intact(shadow)
    assert not temp_files(home) and not backups(home, "prune.yaml")


def test_a_link_at_a_parent_directory_below_the_base_is_refused(tmp_path):
    shadow = canary(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".config").symlink_to(shadow.parent)
    target = home / ".config" / "shadow"

    code, stderr = run_stderr(script_for(target, CANARY, b"x\n", base=home), b"x\n")

    assert code == scripts.STALE_EXIT
    assert f"{home / '.config'} is a symbolic link" in stderr
    assert_canary_intact(shadow)
    assert sorted(p.name for p in shadow.parent.iterdir()) == ["shadow"]


def test_a_directory_where_the_file_should_be_is_refused(tmp_path):
    target = tmp_path / "file"
    target.mkdir()
    code, stderr = run_stderr(script_for(target, None, b"x\n"), b"x\n")
    assert code == scripts.STALE_EXIT and "is not a regular file" in stderr
    assert target.is_dir() and not list(target.iterdir())


def test_links_planted_at_every_guessable_backup_or_temp_name_are_never_followed(tmp_path):
    shadow = canary(tmp_path)
    target = tmp_path / "file"
    target.write_bytes(b"old\n")
    planted = [tmp_path / "file.borgkeep-T.bak", tmp_path / ".borgkeep.XXXXXXXX"]
    planted += [tmp_path / f"file.borgkeep-T-{n:06d}.bak" for n in range(50)]
    planted += [tmp_path / f".borgkeep.{n:08d}" for n in range(50)]
    for link in planted:
        link.symlink_to(shadow)

    assert run(script_for(target, b"old\n", b"new\n"), b"new\n") == 0

    assert target.read_bytes() == b"new\n" and not target.is_symlink()
    assert_canary_intact(shadow)
    assert all(os.readlink(link) == str(shadow) for link in planted)


def test_a_guessed_backup_name_fails_the_write_instead_of_following_the_link(tmp_path):
    """Even when the attacker wins the guess (a `mktemp -u` that always answers the same
    name), `ln` and the fallback copy (`set -C`) refuse the existing name."""
    shadow = canary(tmp_path)
    target = tmp_path / "file"
    target.write_bytes(b"old\n")
    guessed = tmp_path / "file.borgkeep-T-GUESS1"
    Path(f"{guessed}.bak").symlink_to(shadow)
    shims = tmp_path / "shims"
    shims.mkdir()
    real_mktemp = shutil.which("mktemp")
    (shims / "mktemp").write_text(
        f'#!/bin/sh\nif [ "$1" = -u ]; then echo {guessed}; else exec {real_mktemp} "$@"; fi\n'
    )
    (shims / "mktemp").chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}"}

    code, _ = run_stderr(script_for(target, b"old\n", b"new\n"), b"new\n", env=env)

    assert code != 0
    assert target.read_bytes() == b"old\n"
    assert_canary_intact(shadow)
    assert not temp_files(tmp_path)


def test_same_content_only_sets_the_mode_in_place_without_a_backup(tmp_path):
    target = tmp_path / "file"
    target.write_bytes(b"same\n")
    target.chmod(0o644)
    inode = target.stat().st_ino
    assert run(script_for(target, b"same\n", b"same\n", mode=0o600), b"same\n") == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_ino == inode and not backups(tmp_path)


def test_ensure_dir_creates_below_the_base_and_refuses_links(tmp_path):
    shadow = canary(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    made = home / "a" / "backups"
    assert run(scripts.ensure_dir_script(str(made), 0o700, str(home)), b"") == 0
    assert made.is_dir() and stat.S_IMODE(made.stat().st_mode) == 0o700

    linked = home / "linked"
    linked.symlink_to(shadow.parent)
    shadow.parent.chmod(0o755)
    code, stderr = run_stderr(scripts.ensure_dir_script(str(linked), 0o700, str(home)))
    assert code == scripts.STALE_EXIT and f"{linked} is a symbolic link" in stderr
    assert stat.S_IMODE(shadow.parent.stat().st_mode) == 0o755
    code, stderr = run_stderr(scripts.ensure_dir_script(str(linked / "sub"), 0o700, str(home)))
    assert code == scripts.STALE_EXIT and not (shadow.parent / "sub").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand a directory to another user")
def test_ensure_dir_refuses_a_directory_of_another_account(tmp_path):
    other = tmp_path / "other"
    other.mkdir(mode=0o755)
    os.chown(other, 65534, 65534)
    code, stderr = run_stderr(scripts.ensure_dir_script(str(other), 0o700, str(tmp_path)))
    assert code == 1 and "does not chown" in stderr
    assert stat.S_IMODE(other.stat().st_mode) == 0o755


def test_create_dir_as_root_refuses_a_link_and_creates_a_real_directory(tmp_path):
    shadow = canary(tmp_path)
    me = getpass.getuser()
    repo_root = tmp_path / "srv" / "backups"
    assert run(scripts.create_dir_as_root_script(str(repo_root), 0o700, me, None), b"") == 0
    assert repo_root.is_dir() and stat.S_IMODE(repo_root.stat().st_mode) == 0o700

    linked = tmp_path / "srv" / "linked"
    linked.symlink_to(shadow)
    code, stderr = run_stderr(scripts.create_dir_as_root_script(str(linked), 0o700, me, None))
    assert code == scripts.STALE_EXIT and f"{linked} is a symbolic link" in stderr
    assert_canary_intact(shadow)

    a_file = tmp_path / "srv" / "file"
    a_file.write_text("x")
    code, stderr = run_stderr(scripts.create_dir_as_root_script(str(a_file), 0o700, me, None))
    assert code == scripts.STALE_EXIT and "is not a directory" in stderr


# --- switching accounts ----------------------------------------------------------------------


def test_run_as_wraps_the_script_once_per_switch():
    script = "set -eu\necho 'it''s'\n"
    assert RunAs("borg", "/home/borg").wrap(script) == script
    runuser = RunAs("borg", "/home/borg", RUNUSER).wrap(script)
    assert runuser.startswith("exec runuser -u borg -- sh -c ")
    sudo = RunAs("borg", "/home/borg", SUDO).wrap(script)
    assert sudo.startswith("exec sudo -n -u borg -- sh -c ")
    for wrapped in (runuser, sudo):
        assert subprocess.run(["sh", "-n", "-c", wrapped]).returncode == 0


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root and runuser"
)
def test_runuser_runs_the_script_as_the_user_with_its_home_stdin_and_exit_code():
    wrapped = RunAs("nobody", "/nonexistent", RUNUSER).wrap(
        'id -un; echo "$HOME"; pwd; cat; exit 75'
    )
    result = subprocess.run(["sh", "-c", wrapped], input=b"from stdin\n", capture_output=True)
    assert result.returncode == 75
    assert result.stdout == b"nobody\n/nonexistent\n/\nfrom stdin\n"


def test_the_key_read_from_the_repository_config_is_what_borg_key_export_prints(tmp_path):
    """The exported key is taken from the repository's config on the server: byte for byte
    what `borg key export` gives, and `borg key import` takes it back."""
    env = {**os.environ, "BORG_PASSPHRASE": "pw", "BORG_BASE_DIR": str(tmp_path / "base")}
    repo = tmp_path / "repo"
    subprocess.run(["borg", "init", "-e", "repokey-blake2", str(repo)], env=env, check=True)
    exported = tmp_path / "exported"
    subprocess.run(["borg", "key", "export", str(repo), str(exported)], env=env, check=True)
    from_config = scripts.exported_key((repo / "config").read_text(), str(repo))
    assert from_config == exported.read_text()
    result = subprocess.run(
        ["sh", "-c", scripts.read_repository_config_script(str(repo))], capture_output=True
    )
    assert result.returncode == 0 and result.stdout == (repo / "config").read_bytes()
    os.rename(repo / "config", tmp_path / "config.real")
    os.symlink(tmp_path / "config.real", repo / "config")
    linked = subprocess.run(
        ["sh", "-c", scripts.read_repository_config_script(str(repo))], capture_output=True
    )
    assert linked.returncode == 1 and b"not a regular file" in linked.stderr


def delete_script(path, seen: bytes | None, base=None) -> str:
    return scripts.delete_file_script(
        str(path), None if seen is None else sha(seen), str(base or Path(path).parent)
    )


def test_a_planned_deletion_removes_the_file_it_saw_without_a_backup(tmp_path):
    path = tmp_path / "client1.passphrase"
    path.write_bytes(b"secret\n")
    assert run(delete_script(path, b"secret\n"), b"") == 0
    assert not path.exists() and os.listdir(tmp_path) == []
    assert run(delete_script(path, b"secret\n"), b"") == 0  # already gone: nothing to do


def test_a_deletion_refuses_a_file_that_changed_since_the_plan(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"edited by hand\n")
    code, error = run_stderr(delete_script(path, b"as planned\n"))
    assert code == scripts.STALE_EXIT and "changed since the plan" in error
    assert path.read_bytes() == b"edited by hand\n"


def test_a_deletion_never_follows_a_link_at_the_file_or_above_it(tmp_path):
    target = canary(tmp_path)
    link = tmp_path / "borgkeep_ed25519"
    link.symlink_to(target)
    code, error = run_stderr(delete_script(link, CANARY))
    assert code == scripts.STALE_EXIT and "symbolic link" in error
    assert link.is_symlink() and target.read_bytes() == CANARY
    home = tmp_path / "home"
    home.mkdir()
    (home / ".ssh").symlink_to(target.parent)
    code, error = run_stderr(delete_script(home / ".ssh" / "shadow", CANARY, base=home))
    assert code == scripts.STALE_EXIT and "symbolic link" in error
    assert target.read_bytes() == CANARY
    directory = tmp_path / "not-a-file"
    directory.mkdir()
    assert run_stderr(delete_script(directory, b""))[0] == scripts.STALE_EXIT
