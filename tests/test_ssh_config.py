"""Destination parsing and ssh config resolution (no network)."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from wizard.remote.ssh_config import (
    SSHTarget,
    list_config_hosts,
    operator_known_hosts_path,
    operator_ssh_config_path,
    parse_destination,
    resolve_target,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host1", (None, "host1", None)),
        ("root@nas.lan", ("root", "nas.lan", None)),
        ("root@nas.lan:2222", ("root", "nas.lan", 2222)),
        ("nas.lan:22", (None, "nas.lan", 22)),
        ("127.0.0.1:65535", (None, "127.0.0.1", 65535)),
        ("backup_user@10.0.0.5:1", ("backup_user", "10.0.0.5", 1)),
        ("[::1]:2201", (None, "::1", 2201)),
        ("admin@[fe80::1]", ("admin", "fe80::1", None)),
        ("admin@[nas.lan]:2022", ("admin", "nas.lan", 2022)),
        ("::1", (None, "::1", None)),
        ("Host-A_1.example", (None, "Host-A_1.example", None)),
        ("_svc@h", ("_svc", "h", None)),
    ],
)
def test_parse_destination_accepts(text: str, expected: tuple) -> None:
    assert parse_destination(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("a;b", "may only contain"),
        ("$(x)", "may only contain"),
        ("`id`", "may only contain"),
        ("-oProxyCommand=x", "must not start with '-'"),
        ("root@-oProxyCommand=x", "must not start with '-'"),
        ("host name", "whitespace"),
        ("host\nname", "whitespace"),
        (" host", "whitespace"),
        ("host\x00", "control character"),
        ("host\x7f", "control character"),
        ("@host", "empty user"),
        ("root@", "no host"),
        ("root@:22", "no host"),
        ("host:", "empty port"),
        ("host:0", "out of range"),
        ("host:65536", "out of range"),
        ("host:22x", "not a number"),
        ("host:-1", "not a number"),
        ("host:٣", "not a number"),
        ("Root@host", "not a valid login name"),
        ("r$oot@host", "not a valid login name"),
        ("1root@host", "not a valid login name"),
        ("a@b@c", "not a valid login name"),
        ("[::1", "without ']'"),
        ("[]:22", "empty host"),
        ("[::1]22", "expected ':PORT'"),
        ("[::1]:", "expected ':PORT'"),
        ("[::g]:22", "not an IPv6 address"),
        ("host:22:33", "not an IPv6 address"),
        ("h/../x", "may only contain"),
        ("host,other", "may only contain"),
        ("a" * 254, "longer than"),
    ],
)
def test_parse_destination_refuses(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_destination(text)
    assert fragment in str(caught.value)


def _write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return path


CONFIG = """\
# operator's config
Host nas nas-alias
    HostName 192.0.2.10
    User backup
    Port 2222
    IdentityFile ~/.ssh/nas_ed25519
    IdentityFile /keys/second
    IdentitiesOnly yes

Host web1
    HostName web1.example.org

Host *.lan !bad.lan
    User lanuser

Host *
    Port 2200
"""


def test_resolve_target_uses_config(tmp_path: Path) -> None:
    config = _write_config(tmp_path, CONFIG)
    target = resolve_target("nas", config_path=config)
    assert target == SSHTarget(
        destination="nas",
        hostname="192.0.2.10",
        port=2222,
        user="backup",
        identity_files=(str(Path.home() / ".ssh/nas_ed25519"), "/keys/second"),
        identities_only=True,
        alias="nas",
    )
    assert target.display == "backup@192.0.2.10:2222"


def test_destination_user_and_port_win_over_config(tmp_path: Path) -> None:
    config = _write_config(tmp_path, CONFIG)
    target = resolve_target("root@nas-alias:2022", config_path=config)
    assert (target.user, target.hostname, target.port) == ("root", "192.0.2.10", 2022)
    assert target.alias == "nas-alias"


def test_wildcards_and_defaults(tmp_path: Path) -> None:
    config = _write_config(tmp_path, CONFIG)
    lan = resolve_target("box.lan", config_path=config, default_user="fallback")
    assert (lan.user, lan.hostname, lan.port, lan.alias) == ("lanuser", "box.lan", 2200, None)
    assert lan.identity_files == ()
    assert lan.identities_only is False
    negated = resolve_target("bad.lan", config_path=config, default_user="fallback")
    assert negated.user == "fallback"
    web = resolve_target("web1", config_path=config)
    assert (web.hostname, web.user, web.port) == ("web1.example.org", getpass.getuser(), 2200)


def test_missing_config_is_empty(tmp_path: Path) -> None:
    target = resolve_target("[::1]:2201", config_path=tmp_path / "absent")
    assert (target.hostname, target.port, target.user) == ("::1", 2201, getpass.getuser())
    assert target.display == f"{getpass.getuser()}@[::1]:2201"


def test_hostname_from_config_is_validated(tmp_path: Path) -> None:
    config = _write_config(tmp_path, "Host evil\n    HostName a;b\n")
    with pytest.raises(ValueError, match="may only contain"):
        resolve_target("evil", config_path=config)


def test_list_config_hosts(tmp_path: Path) -> None:
    config = _write_config(tmp_path, CONFIG + "Host web1 db2\nHost=eq\n")
    assert list_config_hosts(config) == ["nas", "nas-alias", "web1", "db2", "eq"]
    assert list_config_hosts(tmp_path / "absent") == []


def test_operator_paths_follow_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BORGKEEP_SSH_CONFIG", str(tmp_path / "cfg"))
    monkeypatch.setenv("BORGKEEP_KNOWN_HOSTS", str(tmp_path / "kh"))
    assert operator_ssh_config_path() == tmp_path / "cfg"
    assert operator_known_hosts_path() == tmp_path / "kh"
    (tmp_path / "cfg").write_text("Host fromenv\n    Port 2345\n")
    assert resolve_target("fromenv").port == 2345
    monkeypatch.delenv("BORGKEEP_SSH_CONFIG")
    monkeypatch.delenv("BORGKEEP_KNOWN_HOSTS")
    assert operator_ssh_config_path() == Path.home() / ".ssh" / "config"
    assert operator_known_hosts_path() == Path.home() / ".ssh" / "known_hosts"
