"""Gather reads an existing Borg setup with round 2's own script, run here by a real `sh`:
the login's borgmatic configs (an include costs one more round, none without), its
default public keys, never through a link; Borgkeep's own config is read once, as a
managed file, and discovery knows it as Borgkeep's."""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

from wizard.pipeline.existing_setup import discover_client_configs
from wizard.pipeline.facts import HostFacts
from wizard.pipeline.gather import client_read_script, parse_paths_output, read_existing_includes
from wizard.remote.transport import CommandResult

CONFIG = """\
source_directories: [/etc]
repositories:
  - path: ssh://borg@nas.lan:2222/./host1
    label: nas
encryption_passphrase: SECRETVALUE
keep_daily: 7
"""


class LocalShell:
    """A connection whose host is this machine, counting the rounds."""

    def __init__(self) -> None:
        self.runs = 0

    def run(self, command: str, check: bool = False, **_: object) -> CommandResult:
        self.runs += 1
        done = subprocess.run(["sh", "-c", command], capture_output=True, check=check)
        return CommandResult(done.returncode, done.stdout, done.stderr)


def login_facts(home: Path) -> HostFacts:
    """This machine's own account, but not root: every path discovery reads is below
    `home` (besides /etc's, which a test machine usually lacks)."""
    return HostFacts(
        host="host1", login_user=getpass.getuser(), uid=1000, home=str(home),
        borgmatic_version="2.1.10",
    )  # fmt: skip


def round_two(home: Path) -> HostFacts:
    facts = login_facts(home)
    script = client_read_script(facts, "host1")
    output = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout
    facts, _ = parse_paths_output(facts, output.decode())
    return facts


def config_dir(home: Path) -> Path:
    directory = home / ".config" / "borgmatic.d"
    directory.mkdir(parents=True)
    return directory


def test_round_two_reads_the_configs_and_a_client_without_includes_needs_no_more(tmp_path):
    (config_dir(tmp_path) / "home.yaml").write_text(CONFIG)
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_ed25519.pub").write_text("ssh-ed25519 AAAA old@host1\n")
    facts = round_two(tmp_path)
    home_yaml = str(tmp_path / ".config/borgmatic.d/home.yaml")
    assert facts.existing_setup_files[home_yaml] == CONFIG.encode()
    assert facts.existing_setup_files[str(tmp_path / ".ssh/id_ed25519.pub")].startswith(b"ssh-")
    assert facts.existing_setup_missing[str(tmp_path / ".config/borgmatic/config.yaml")] == (
        "absent"
    )
    assert not facts.problems  # the user's files never refuse a plan
    shell = LocalShell()
    facts = read_existing_includes(shell, facts, "host1")
    assert shell.runs == 0
    discovery = discover_client_configs(facts, "host1")
    assert discovery.complete
    (config,) = discovery.configs
    assert config.path == home_yaml and config.options.retention == {"keep_daily": 7}


def test_an_include_is_read_in_one_more_round(tmp_path):
    common = tmp_path / "common.yaml"
    common.write_text("keep_weekly: 4\n")
    (config_dir(tmp_path) / "home.yaml").write_text(CONFIG + f"<<: !include {common}\n")
    facts = round_two(tmp_path)
    assert not discover_client_configs(facts, "host1").complete
    shell = LocalShell()
    facts = read_existing_includes(shell, facts, "host1")
    assert shell.runs == 1
    discovery = discover_client_configs(facts, "host1")
    assert discovery.complete
    assert discovery.configs[0].options.retention == {"keep_daily": 7, "keep_weekly": 4}


def test_a_link_is_never_followed_and_borgkeeps_own_config_is_known_as_its_own(tmp_path):
    directory = config_dir(tmp_path)
    secret = tmp_path / "elsewhere.yaml"
    secret.write_text(CONFIG)
    os.symlink(secret, directory / "linked.yaml")
    (directory / "borgkeep-host1.yaml").write_text("# Managed by borgkeep\n" + CONFIG)
    facts = round_two(tmp_path)
    linked = str(directory / "linked.yaml")
    assert facts.existing_setup_missing[linked] == "link"
    assert linked not in facts.existing_setup_files and not facts.problems
    ours = str(directory / "borgkeep-host1.yaml")
    assert ours not in facts.existing_setup_files and facts.file(ours).content  # read once
    discovery = discover_client_configs(facts, "host1")
    assert [c.managed_by_borgkeep for c in discovery.configs] == [True]
    assert any(error.path == linked for error in discovery.errors)


def test_the_public_key_a_configs_ssh_command_names_is_read_in_one_more_round(tmp_path):
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_backup.pub").write_text("ssh-ed25519 AAAA backup@host1\n")
    config = CONFIG + "ssh_command: ssh -i ~/.ssh/id_backup\n"
    (config_dir(tmp_path) / "home.yaml").write_text(config)
    shell = LocalShell()
    facts = read_existing_includes(shell, round_two(tmp_path), "host1")
    assert shell.runs == 1
    key = str(tmp_path / ".ssh/id_backup.pub")
    assert facts.existing_setup_files[key] == b"ssh-ed25519 AAAA backup@host1\n"
    again = LocalShell()
    assert read_existing_includes(again, facts, "host1") == facts and again.runs == 0
