"""The server's authorized_keys lines that carry the clients' keys (wizard/takeover/server_key_lines.py)."""

from __future__ import annotations

import json

from wizard.artefacts.authorized_keys import authorized_keys_line
from wizard.artefacts.managed_block import merge_managed_block
from wizard.takeover.server_key_lines import find_client_key_lines, parse_serve_command

KEY_A = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIASJXHANsE56MUyQy75Lms+8DogtvpPsa9lNg7iDLXIr root@host1"
)
KEY_B = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM4CIn5slujYWUT9x9ODqjENUQU5ioT/VcTShKT66ohx backup@laptop"
)
KEY_C = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH9ZhEKzl+OqftACceUtdOYYr6iUtlr2nPUgM/pmaDx/ admin@desktop"
)
KEY_D = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHkpvnFELrEi"
    "YULtqyWnZiwIjtGmf4tn2EGBPi+GTYh1jy6qu5T+L+55sHUYvdWsg1zgrsL+ZFW5NqcsGNu8hK4= root@host2"
)
FOREIGN = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFPQz6fZ7v5vYyS0FqgUGZrkIr9G3K6X5p2bu9y5y0aB other@elsewhere"
HOME = "/home/borg"


def _body(key: str) -> str:
    return " ".join(key.split()[:2])


HAND_WRITTEN = f"""\
# written by the admin, the manual procedure's first step
command="borg serve --restrict-to-path /data/backups/host1",restrict {KEY_A}
command="cd /data/backups; /usr/bin/borg serve --append-only --restrict-to-repository /data/backups/laptop --storage-quota 50G",no-pty,from="10.0.0.0/8" {KEY_B}
{KEY_C}
command="borg serve --restrict-to-path /srv/other" {FOREIGN}
command="rrsync -ro /srv" {_body(KEY_A)} second-line@host1
"""

CLIENT_KEYS = {"host1": [KEY_A], "laptop": [KEY_B], "desktop": [KEY_C], "host2": [KEY_D]}


def authorized_keys() -> str:
    managed = authorized_keys_line("host2", KEY_D, "/data/backups/host2", "/usr/bin/borg")
    return merge_managed_block(HAND_WRITTEN, [managed])


def test_each_client_line_is_classified() -> None:
    found = find_client_key_lines(authorized_keys(), CLIENT_KEYS)
    assert [(line.client, line.number, line.access) for line in found.lines] == [
        ("host1", 2, "read-write"),
        ("laptop", 3, "append-only"),
        ("desktop", 4, "shell"),
        ("host1", 6, "other command"),
        ("host2", 8, "append-only"),
    ]
    assert [line.in_borgkeep_block for line in found.lines] == [False] * 4 + [True]
    assert not found.errors


def test_sshd_uses_the_first_line_with_a_key() -> None:
    first, second = find_client_key_lines(authorized_keys(), CLIENT_KEYS).for_client("host1")
    assert first.used_by_sshd and not second.used_by_sshd
    assert "not used" in second.describe()


def test_restrict_to_path_reaches_a_directory_and_below_it_only() -> None:
    (line, _) = find_client_key_lines(authorized_keys(), CLIENT_KEYS).for_client("host1")
    assert line.options == ("restrict",)
    assert line.reaches("/data/backups/host1", HOME)
    assert line.reaches("/data/backups/host1/old", HOME)
    assert not line.reaches("/data/backups/host10", HOME)
    assert not line.reaches("/data/backups", HOME)
    assert line.reach == "below /data/backups/host1"


def test_restrict_to_repository_reaches_exactly_one_and_keeps_the_other_options() -> None:
    (line,) = find_client_key_lines(authorized_keys(), CLIENT_KEYS).for_client("laptop")
    assert line.serve.borg_path == "/usr/bin/borg"
    assert line.serve.storage_quota == "50G"
    assert line.options == ("no-pty", 'from="10.0.0.0/8"')
    assert line.reaches("/data/backups/laptop/", HOME)
    assert not line.reaches("/data/backups/laptop/inner", HOME)


def test_a_line_without_forced_command_is_a_shell_that_reaches_everything() -> None:
    (line,) = find_client_key_lines(authorized_keys(), CLIENT_KEYS).for_client("desktop")
    assert line.forced_command is None
    assert line.reaches("/anything/at/all", HOME)
    assert "no forced command" in line.reach


def test_read_write_lines_of_other_keys_are_reported_by_number() -> None:
    found = find_client_key_lines(authorized_keys(), CLIENT_KEYS)
    assert found.other_read_write == (5,)


def test_borgkeeps_own_line_reaches_only_its_repository() -> None:
    (line,) = find_client_key_lines(authorized_keys(), CLIENT_KEYS).for_client("host2")
    assert line.serve.restrict_to_repositories == ("/data/backups/host2",)
    assert line.reaches("/data/backups/host2", HOME)
    assert not line.reaches("/data/backups/host1", HOME)


def test_relative_and_home_paths_resolve_in_the_accounts_home() -> None:
    text = f'command="borg serve --restrict-to-path=backups" {KEY_A}\n'
    (line,) = find_client_key_lines(text, {"host1": [KEY_A]}).lines
    assert line.reaches("~/backups/host1", HOME)
    assert line.reaches("/home/borg/backups/host1", HOME)
    assert not line.reaches("/backups/host1", HOME)


def test_a_bad_client_key_is_an_error_value() -> None:
    found = find_client_key_lines(
        authorized_keys(), {"broken": ["ssh-ed25519 not-base64!"], **CLIENT_KEYS}
    )
    assert len(found.errors) == 1 and "broken" in found.errors[0]
    assert len(found.lines) == 5


def test_serve_commands_are_found_through_wrappers() -> None:
    serve = parse_serve_command(
        "BORG_X=1 nice -n 5 /opt/borg/bin/borg serve --append-only --restrict-to-path /a --restrict-to-path /b"
    )
    assert serve.append_only and serve.restrict_to_paths == ("/a", "/b")
    assert parse_serve_command("rrsync -ro /srv") is None


def test_json_names_what_each_line_allows() -> None:
    data = json.loads(json.dumps(find_client_key_lines(authorized_keys(), CLIENT_KEYS).to_json()))
    assert data["lines"][0]["access"] == "read-write"
    assert data["lines"][0]["restrict_to_paths"] == ["/data/backups/host1"]
    assert data["other_read_write_lines"] == [5]
