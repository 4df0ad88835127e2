"""A lab host's private tree: the /etc, /root, /home, /srv and cron spool its sshd sees,
its host key, its accounts and some sample data to back up."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from wizard.lab.host import LabHost
from wizard.lab.tools import LabError, run_checked

SAMPLE_FILES: dict[str, bytes] = {
    "hello.txt": b"Hello from the Borgkeep lab.\n",
    "notes/todo.txt": b"- back up this file\n- then prune on the server only\n",
    "notes/numbers.csv": b"n,square\n" + b"".join(f"{n},{n * n}\n".encode() for n in range(1, 21)),
    "blob.bin": bytes(range(256)) * 16,
}


def copy_live_tree(source: Path, target: Path) -> None:
    """`cp -a` a live directory (`/etc`) that other processes may be changing right now: a
    file that vanishes mid-copy (a `useradd` lock, say) is skipped instead of failing the
    lab; any other error still stops it."""
    result = subprocess.run(
        ["cp", "-a", "--", str(source), str(target)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
    )
    problems = [
        line
        for line in result.stderr.decode(errors="replace").splitlines()
        if line.strip() and not line.endswith("No such file or directory")
    ]
    if result.returncode != 0 and (problems or not target.exists()):
        raise LabError(f"cannot copy {source} for the lab: {'; '.join(problems[:3])}")


def prepare_template(template_dir: Path) -> None:
    """The /etc and cron spool every host starts from, copied once per lab."""
    template_dir.mkdir(mode=0o700)
    copy_live_tree(Path("/etc"), template_dir / "etc")
    copy_live_tree(Path("/var/spool/cron"), template_dir / "spool-cron")


def prepare_host_tree(
    host: LabHost, template_dir: Path, operator_public_key: bytes, uid: int | None
) -> None:
    """Everything a host's bind mounts show, plus its host key and accounts."""
    root_dir = host.root_dir
    root_dir.mkdir(mode=0o755)
    run_checked(["cp", "-a", str(template_dir / "etc"), str(root_dir / "etc")])
    run_checked(["cp", "-a", str(template_dir / "spool-cron"), str(root_dir / "spool-cron")])
    (root_dir / "root").mkdir(mode=0o700)
    (root_dir / "home").mkdir(mode=0o755)
    (root_dir / "srv").mkdir(mode=0o755)
    generate_key(root_dir / "ssh_host_ed25519_key", comment=f"lab-{host.name}")
    copy_skeleton(root_dir / "etc" / "skel", root_dir / "root", 0, 0)
    if host.login == "root":
        install_authorized_key(root_dir / "root", operator_public_key, 0, 0)
        owner = (0, 0)
    else:
        assert uid is not None
        add_account(root_dir / "etc", host.login_user, uid, f"/home/{host.login_user}")
        home = root_dir / "home" / host.login_user
        home.mkdir(mode=0o750)
        os.chown(home, uid, uid)
        copy_skeleton(root_dir / "etc" / "skel", home, uid, uid)
        install_authorized_key(home, operator_public_key, uid, uid)
        write_sample_data(home / "data", uid, uid)
        owner = (uid, uid)
    if host.role == "client":
        write_sample_data(root_dir / "srv" / "data", *owner)
    elif host.login == "user":
        # A non-root server login with passwordless sudo, as on many real servers.
        sudoers = root_dir / "etc" / "sudoers.d" / "borgkeep-lab"
        sudoers.parent.mkdir(mode=0o750, exist_ok=True)
        sudoers.write_text(f"{host.login_user} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        sudoers.chmod(0o440)


def generate_key(path: Path, comment: str) -> None:
    run_checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def uids_in(passwd: Path) -> set[int]:
    return {
        int(fields[2])
        for fields in (line.split(":") for line in passwd.read_text().splitlines())
        if len(fields) >= 3 and fields[2].isdigit()
    }


def add_account(etc: Path, user: str, uid: int, home: str) -> None:
    """Add a login-able account to a host's /etc copy (shadow `*`: no password, keys work)."""
    days_since_epoch = int(time.time() // 86400)
    append_line(etc / "passwd", f"{user}:x:{uid}:{uid}:Borgkeep lab user:{home}:/bin/bash")
    append_line(etc / "group", f"{user}:x:{uid}:")
    append_line(etc / "shadow", f"{user}:*:{days_since_epoch}:0:99999:7:::")
    if (etc / "gshadow").exists():
        append_line(etc / "gshadow", f"{user}:!::")


def append_line(path: Path, line: str) -> None:
    text = path.read_text()
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + line + "\n")


def copy_skeleton(skel: Path, home: Path, uid: int, gid: int) -> None:
    if not skel.is_dir():
        return
    for entry in skel.iterdir():
        if entry.is_file() and not entry.is_symlink():
            target = home / entry.name
            shutil.copy2(entry, target)
            os.chown(target, uid, gid)


def install_authorized_key(home: Path, public_key: bytes, uid: int, gid: int) -> None:
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    authorized_keys = ssh_dir / "authorized_keys"
    authorized_keys.write_bytes(public_key)
    authorized_keys.chmod(0o600)
    for path in (ssh_dir, authorized_keys):
        os.chown(path, uid, gid)


def write_sample_data(directory: Path, uid: int, gid: int) -> None:
    directory.mkdir(mode=0o755)
    os.chown(directory, uid, gid)
    for relative, content in SAMPLE_FILES.items():
        path = directory / relative
        if not path.parent.exists():
            path.parent.mkdir(mode=0o755, parents=True)
            os.chown(path.parent, uid, gid)
        path.write_bytes(content)
        os.chown(path, uid, gid)


@dataclass(frozen=True)
class Account:
    uid: int
    gid: int
    home: str
    shell: str


def account_of(host: LabHost, user: str) -> Account:
    """Look `user` up in the host's own /etc/passwd (the bind mount's source)."""
    for line in (host.root_dir / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[0] == user:
            return Account(int(fields[2]), int(fields[3]), fields[5], fields[6] or "/bin/sh")
    raise LabError(f"no user {user!r} on lab host {host.name}")
