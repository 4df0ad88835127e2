"""Who runs what (`wizard.pipeline.identity`), how gather reports links without following
them, and the plan's refusal of any such path."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.planning import client_facts, fresh_fleet, plan_for, server_facts
from wizard.inventory.parse import parse_inventory
from wizard.inventory.settings import resolve_server
from wizard.pipeline.facts import DirState, UserInfo, link_problem
from wizard.pipeline.gather import parse_paths_output, read_paths_script, repo_root_link_problems
from wizard.pipeline.identity import client_identity, server_identity
from wizard.pipeline.plan import UnsafePaths
from wizard.remote.identity import DIRECT, RUNUSER, SUDO
from wizard.session import FleetSession

BORG = UserInfo("borg", 998, 998, "/home/borg")
SECRET_CANARY = "root:$y$j9T$canary-only-root-may-read:19000:0:99999:7:::"


def settings_for(login: str, borg_user: str | None = None, repo_root: str | None = None):
    server = f"  ssh: {login}@nas.lan\n"
    if borg_user:
        server += f"  borg_user: {borg_user}\n"
    if repo_root:
        server += f"  repo_root: {repo_root}\n"
    inventory = parse_inventory(
        f"version: 1\nserver:\n  name: nas\n{server}retention: {{keep_daily: 7}}\nclients: []\n"
    )
    return resolve_server(inventory, login, "nas.lan", 22)


def test_root_login_runs_the_borg_users_files_as_borg_and_keeps_root_for_the_rest():
    facts = server_facts(users={"borg": BORG})
    identity = server_identity(facts, settings_for("root", repo_root="/srv/backups"))
    borg = identity.as_user("borg")
    assert (borg.user, borg.home, borg.via) == ("borg", "/home/borg", RUNUSER)
    assert identity.admin.via == DIRECT and identity.admin.user == "root"
    assert identity.controller("/home/borg/.ssh/authorized_keys") == "borg"
    assert identity.base("/home/borg/.config/borgkeep/prune-a.yaml") == "/home/borg"
    assert identity.controller("/srv/backups") is None  # /srv is not the borg user's
    assert identity.controller("/srv/backups/host1") == "borg"
    assert identity.base("/srv/backups") == "/srv"


def test_a_repo_root_in_a_directory_the_borg_user_owns_is_the_borg_users():
    facts = server_facts(
        users={"borg": BORG},
        dirs={"/srv/space": DirState("/srv/space", True, 0o755, "borg", "borg", "dir")},
    )
    identity = server_identity(facts, settings_for("root", repo_root="/srv/space/sub/backups"))
    assert identity.controller("/srv/space/sub/backups") == "borg"
    assert identity.base("/srv/space/sub/backups") == "/srv/space"
    in_home = server_identity(facts, settings_for("root", repo_root="/home/borg/backups"))
    assert in_home.controller("/home/borg/backups") == "borg"


def test_a_sudo_login_reaches_the_borg_user_and_root_through_sudo():
    facts = server_facts(login_user="admin", uid=1000, home="/home/admin", sudo=True)
    facts = replace(facts, users={"borg": BORG})
    identity = server_identity(facts, settings_for("admin", borg_user="borg"))
    assert identity.as_user("borg").via == SUDO
    assert (identity.admin.user, identity.admin.via) == ("root", SUDO)
    assert identity.as_user("admin").via == DIRECT


def test_a_login_that_is_the_borg_user_does_everything_itself():
    facts = server_facts(login_user="borg", uid=1000, home="/home/borg")
    identity = server_identity(facts, settings_for("borg"))
    assert identity.as_user("borg").via == DIRECT and identity.admin.via == DIRECT
    assert identity.controller("/home/borg/backups") == "borg"
    with pytest.raises(PermissionError):
        identity.as_user("root")


def test_a_client_runs_everything_as_its_login():
    identity = client_identity(client_facts("host2", "alice"))
    assert identity.as_user("alice").via == DIRECT
    assert identity.base("/home/alice/.config/borgkeep/host2.passphrase") == "/home/alice"
    root = client_identity(client_facts("host1"))
    assert root.base("/etc/borgkeep/host1.passphrase") == "/etc/borgkeep"


# --- gather: links are reported, never read through -------------------------------------------


def read_locally(script: str) -> str:
    result = subprocess.run(["sh", "-c", script], capture_output=True, check=True)
    return result.stdout.decode()


def test_gather_reports_links_and_never_reads_through_them(tmp_path: Path):
    shadow = tmp_path / "shadow"
    shadow.write_text(SECRET_CANARY + "\n")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "authorized_keys").symlink_to(shadow)
    (home / ".config").symlink_to(tmp_path)  # a linked parent directory
    (home / "fifo").mkdir()
    plain = home / "plain"
    plain.write_text("hello\n")
    files = [
        home / ".ssh" / "authorized_keys",
        home / ".config" / "shadow",
        home / "fifo",
        plain,
    ]
    script = read_paths_script(
        files=[(str(p), str(home)) for p in files], dirs=[(str(home / ".config"), str(home))]
    )

    output = read_locally(script)
    facts, present = parse_paths_output(server_facts(), output, "borg")

    encoded = base64.b64encode(SECRET_CANARY.encode()).decode()[:24]
    assert encoded not in output and SECRET_CANARY not in str(facts)
    problems = {p.path: p.what for p in facts.problems}
    assert problems[str(home / ".ssh" / "authorized_keys")].startswith("is a symbolic link")
    assert problems[str(home / ".config")].startswith("is a symbolic link")
    assert problems[str(home / "fifo")].startswith("is not a regular file")
    assert str(plain) not in problems
    assert str(home / ".config" / "shadow") not in facts.files  # never looked at
    assert facts.file(str(home / ".ssh" / "authorized_keys")).kind == "symlink"
    assert facts.file(str(home / ".ssh" / "authorized_keys")).content is None
    assert facts.file(str(plain)).text == "hello\n"
    assert str(home / ".ssh" / "authorized_keys") in present


def test_links_above_the_repo_root_count_only_in_the_borg_users_tree(tmp_path: Path):
    settings = settings_for("root", repo_root="/srv/space/link/backups")
    dirs = {
        "/srv": DirState("/srv", True, 0o755, "root", None, "dir"),
        "/srv/space": DirState("/srv/space", True, 0o755, "borg", None, "dir"),
        "/srv/space/link": DirState("/srv/space/link", False, 0o777, "root", None, "symlink"),
    }
    facts = server_facts(users={"borg": BORG}, dirs=dirs)
    identity = server_identity(facts, settings)
    problems = repo_root_link_problems(facts, identity, "borg", "/srv/space/link/backups")
    assert [p.path for p in problems] == ["/srv/space/link"]
    # a root-owned link outside the borg user's tree is the administrator's own business
    dirs["/srv/space"] = DirState("/srv/space", True, 0o755, "root", None, "dir")
    facts = server_facts(users={"borg": BORG}, dirs=dirs)
    identity = server_identity(facts, settings)
    assert repo_root_link_problems(facts, identity, "borg", "/srv/space/link/backups") == ()


# --- the plan refuses ---------------------------------------------------------------------


def test_the_plan_refuses_a_link_naming_the_host_and_the_path():
    inventory, settings, facts, passphrases = fresh_fleet()
    path = "/home/borg/.config/borgkeep/prune-host1.yaml"
    facts["nas"] = replace(facts["nas"], problems=(link_problem(path),))
    with pytest.raises(UnsafePaths) as refused:
        plan_for(inventory, settings, facts, passphrases)
    assert str(refused.value) == (
        f"nas: {path} is a symbolic link; Borgkeep never writes through links — "
        "remove it and run again"
    )


def test_a_left_out_clients_link_does_not_block_the_others():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts["host2"] = replace(
        facts["host2"], problems=(link_problem("/home/alice/.ssh/borgkeep_known_hosts"),)
    )
    session = FleetSession(inventory)
    session.settings, session.facts, session.passphrases = settings, facts, passphrases
    with pytest.raises(UnsafePaths, match="host2: /home/alice/.ssh/borgkeep_known_hosts"):
        session.plan()
    plan = session.plan(leave_out={"host2"})
    assert plan.changes and not plan.for_host("host2")
