"""Unit tests of the server-side prune config renderer."""

from __future__ import annotations

import pytest
import yaml

from wizard.artefacts.borgmatic_client import MANAGED_HEADER
from wizard.artefacts.borgmatic_server import render_server_prune_config

RETENTION = {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6, "keep_yearly": 1}
BASE = {
    "client_name": "client1",
    "repository_path": "/srv/backups/client1",
    "passphrase_file": "/home/borg/.config/borgkeep/client1.passphrase",
    "retention": RETENTION,
    "borg_path": "/usr/bin/borg",
}


def render(version: str, **overrides: object) -> dict:
    text = render_server_prune_config(borgmatic_version=version, **{**BASE, **overrides})
    assert text.startswith(MANAGED_HEADER)
    return yaml.safe_load(text)


def test_flat_structure() -> None:
    config = render("2.1.10")
    assert config == {
        "repositories": [{"path": "/srv/backups/client1", "label": "client1"}],
        "local_path": "/usr/bin/borg",
        "encryption_passcommand": "cat /home/borg/.config/borgkeep/client1.passphrase",
        "lock_wait": 600,
        "keep_daily": 7,
        "keep_weekly": 4,
        "keep_monthly": 6,
        "keep_yearly": 1,
        "match_archives": "sh:client1-*",
        "skip_actions": ["create", "check"],
    }
    assert list(config)[0] == "repositories"


def test_flat_without_skip_actions_guards_create_and_check() -> None:
    config = render("1.8.4")
    assert "skip_actions" not in config
    assert config["match_archives"] == "sh:client1-*"
    for hook in ("before_backup", "before_check"):
        (command,) = config[hook]
        assert "borgkeep:" in command and command.endswith("exit 1")


def test_sectioned_structure_uses_prefix() -> None:
    config = render("1.7.7")
    assert list(config) == ["location", "storage", "retention", "hooks"]
    assert config["location"] == {
        "repositories": ["/srv/backups/client1"],
        "local_path": "/usr/bin/borg",
    }
    assert config["storage"] == {
        "encryption_passcommand": "cat /home/borg/.config/borgkeep/client1.passphrase",
        "lock_wait": 600,
    }
    assert config["retention"] == {**RETENTION, "prefix": "client1-"}
    assert set(config["hooks"]) == {"before_backup", "before_check"}


def test_sectioned_1_7_11_uses_match_archives() -> None:
    config = render("1.7.11")
    assert config["storage"]["match_archives"] == "sh:client1-*"
    assert "prefix" not in config["retention"]


@pytest.mark.parametrize("version", ["1.7.7", "2.1.10"])
def test_no_create_side(version: str) -> None:
    text = render_server_prune_config(borgmatic_version=version, **BASE)
    for key in ("source_directories", "exclude_patterns", "archive_name_format", "ssh_command"):
        assert key not in text


def test_retention_order_is_stable_and_keep_within_kept_as_string() -> None:
    config = render("2.1.10", retention={"keep_yearly": 2, "keep_within": "2d", "keep_hourly": 24})
    keeps = [k for k in config if k.startswith("keep_")]
    assert keeps == ["keep_within", "keep_hourly", "keep_yearly"]
    assert config["keep_within"] == "2d"


@pytest.mark.parametrize(
    "retention",
    [
        {"keep_daily": 7, "keep_forever": 1},
        {"prefix": "x-"},
        {"keep_daily": "7"},
        {"keep_daily": -1},
        {"keep_within": "two days"},
        {},
        {"keep_daily": 0},
    ],
)
def test_bad_retention_is_refused(retention: dict) -> None:
    with pytest.raises(ValueError):
        render("2.1.10", retention=retention)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("client_name", "Client1"),
        ("client_name", "c1;rm"),
        ("repository_path", "srv/backups/client1"),
        ("repository_path", "ssh://borg@host/srv/backups/client1"),
        ("repository_path", "/srv/back ups"),
        ("passphrase_file", "/tmp/pass'phrase"),
        ("passphrase_file", "/tmp/x\x07"),
    ],
)
def test_unsafe_values_are_refused(field: str, bad: str) -> None:
    with pytest.raises(ValueError):
        render("2.1.10", **{field: bad})
