"""Unit tests of the client borgmatic config renderer and the version table it relies on."""

from __future__ import annotations

import shlex

import pytest
import yaml

from wizard.artefacts import borgmatic_versions as versions
from wizard.artefacts.borgmatic_client import (
    MANAGED_HEADER,
    archive_match_glob,
    archive_name_format,
    archive_prefix,
    render_client_config,
)

SECTIONED = "1.7.7"
FLAT_WITHOUT_SKIP = "1.8.4"
FLAT = "2.1.10"

BASE = {
    "client_name": "web-01.lan",
    "source_directories": ["/etc", "/home"],
    "exclude_patterns": ["*.pyc", "/home/*/.cache"],
    "repository_url": "ssh://borg@127.0.0.1:2201/srv/backups/web-01.lan",
    "passphrase_file": "/root/.config/borgkeep/web-01.lan.passphrase",
    "ssh_key_file": "/root/.ssh/borgkeep_ed25519",
    "known_hosts_file": "/root/.ssh/borgkeep_known_hosts",
    "borg_path": "/usr/bin/borg",
}


def render(version: str, **overrides: object) -> dict:
    text = render_client_config(borgmatic_version=version, **{**BASE, **overrides})
    assert text.startswith(MANAGED_HEADER)
    return yaml.safe_load(text)


def all_keys(node: object) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in all_keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in all_keys(v)}
    return set()


# --- version table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.7.7", (1, 7, 7)),
        ("2.1.10", (2, 1, 10)),
        ("1.8", (1, 8, 0)),
        ("borgmatic 1.9.3\n", (1, 9, 3)),
        ("1.8.0.dev0", (1, 8, 0)),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert versions.parse_version(text) == expected


@pytest.mark.parametrize("text", ["", "one.two", "1", "v1.7.7", "1.7.7 extra words"])
def test_parse_version_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        versions.parse_version(text)


def test_versions_older_than_1_7_are_refused() -> None:
    with pytest.raises(ValueError, match="too old"):
        versions.is_sectioned("1.6.6")


@pytest.mark.parametrize(
    ("version", "sectioned", "skip_actions", "match_archives"),
    [
        ("1.7.7", True, False, False),
        ("1.7.11", True, False, True),
        ("1.8.0", False, False, True),
        ("1.8.4", False, False, True),
        ("1.8.5", False, True, True),
        ("2.1.10", False, True, True),
    ],
)
def test_version_predicates(
    version: str, sectioned: bool, skip_actions: bool, match_archives: bool
) -> None:
    assert versions.is_sectioned(version) is sectioned
    assert versions.supports_skip_actions(version) is skip_actions
    assert versions.supports_match_archives(version) is match_archives


def test_validate_command_per_version() -> None:
    assert versions.validate_config_command(
        borgmatic_version="1.7.7", borgmatic_path="/usr/bin/borgmatic", config_path="/etc/x.yaml"
    ) == ["/usr/bin/validate-borgmatic-config", "-c", "/etc/x.yaml"]
    assert versions.validate_config_command(
        borgmatic_version="2.1.10",
        borgmatic_path="/opt/venv/bin/borgmatic",
        config_path="/etc/x.yaml",
    ) == ["/opt/venv/bin/borgmatic", "config", "validate", "-c", "/etc/x.yaml"]


# --- naming --------------------------------------------------------------------------------------


def test_archive_names_use_the_literal_client_name() -> None:
    assert archive_name_format("client1") == "client1-{now:%Y-%m-%dT%H:%M:%S}"
    assert archive_match_glob("web-01.lan") == "sh:web-01.lan-*"
    assert archive_prefix("web-01.lan") == "web-01.lan-"
    assert "{hostname}" not in archive_name_format("client1")


@pytest.mark.parametrize("name", ["", "Web", "-x", "a b", "{hostname}", "a/b", "x;rm"])
def test_bad_client_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        archive_name_format(name)
    with pytest.raises(ValueError):
        render_client_config(borgmatic_version=FLAT, **{**BASE, "client_name": name})


# --- flat (>= 1.8) -----------------------------------------------------------------------------


def test_flat_config_structure() -> None:
    config = render(FLAT)
    assert list(config) == [
        "source_directories",
        "exclude_patterns",
        "repositories",
        "local_path",
        "encryption_passcommand",
        "compression",
        "archive_name_format",
        "match_archives",
        "ssh_command",
        "checks",
        "skip_actions",
    ]
    assert config["local_path"] == "/usr/bin/borg"
    assert config["source_directories"] == ["/etc", "/home"]
    assert config["exclude_patterns"] == ["*.pyc", "/home/*/.cache"]
    assert config["repositories"] == [
        {"path": "ssh://borg@127.0.0.1:2201/srv/backups/web-01.lan", "label": "web-01.lan"}
    ]
    assert config["encryption_passcommand"] == ("cat /root/.config/borgkeep/web-01.lan.passphrase")
    assert "zstd" in config["compression"]
    assert config["archive_name_format"] == "web-01.lan-{now:%Y-%m-%dT%H:%M:%S}"
    assert config["match_archives"] == "sh:web-01.lan-*"
    assert config["checks"] == [
        {"name": "repository", "frequency": "2 weeks"},
        {"name": "archives", "frequency": "2 weeks"},
    ]
    assert config["skip_actions"] == ["prune", "compact"]


def test_ssh_command_pins_key_and_host_key() -> None:
    words = shlex.split(render(FLAT)["ssh_command"])
    assert words[:3] == ["ssh", "-i", "/root/.ssh/borgkeep_ed25519"]
    options = [words[i + 1] for i, word in enumerate(words) if word == "-o"]
    assert options == [
        "IdentitiesOnly=yes",
        "UserKnownHostsFile=/root/.ssh/borgkeep_known_hosts",
        "StrictHostKeyChecking=yes",
        "BatchMode=yes",
    ]


@pytest.mark.parametrize("version", [SECTIONED, FLAT_WITHOUT_SKIP, FLAT])
def test_no_retention_anywhere(version: str) -> None:
    keys = all_keys(render(version))
    assert not {k for k in keys if k.startswith("keep_")}
    assert "retention" not in keys


@pytest.mark.parametrize("version", [SECTIONED, FLAT_WITHOUT_SKIP, FLAT])
def test_empty_excludes_are_omitted(version: str) -> None:
    assert "exclude_patterns" not in all_keys(render(version, exclude_patterns=[]))


def test_flat_without_skip_actions_guards_prune_with_failing_hooks() -> None:
    config = render(FLAT_WITHOUT_SKIP)
    assert "skip_actions" not in config
    for hook in ("before_prune", "before_compact"):
        (command,) = config[hook]
        assert command.endswith("exit 1")
        assert "borgkeep:" in command


def test_check_frequency_is_passed_and_checked() -> None:
    config = render(FLAT, check_frequency="1 month")
    assert {c["frequency"] for c in config["checks"]} == {"1 month"}
    with pytest.raises(ValueError, match="check_frequency"):
        render(FLAT, check_frequency="soon; rm -rf /")


def test_local_repository_path_is_accepted() -> None:
    config = render(FLAT, repository_url="/var/backups/web-01.lan")
    assert config["repositories"][0]["path"] == "/var/backups/web-01.lan"


# --- sectioned (1.7) ----------------------------------------------------------------------------


def test_sectioned_config_structure() -> None:
    config = render(SECTIONED)
    assert list(config) == ["location", "storage", "consistency", "hooks"]
    assert config["location"] == {
        "source_directories": ["/etc", "/home"],
        "repositories": ["ssh://borg@127.0.0.1:2201/srv/backups/web-01.lan"],
        "local_path": "/usr/bin/borg",
        "exclude_patterns": ["*.pyc", "/home/*/.cache"],
    }
    storage = config["storage"]
    assert storage["encryption_passcommand"] == "cat /root/.config/borgkeep/web-01.lan.passphrase"
    assert storage["archive_name_format"] == "web-01.lan-{now:%Y-%m-%dT%H:%M:%S}"
    assert "StrictHostKeyChecking=yes" in storage["ssh_command"]
    assert "match_archives" not in storage
    assert config["consistency"]["prefix"] == "web-01.lan-"
    assert [c["name"] for c in config["consistency"]["checks"]] == ["repository", "archives"]
    assert "skip_actions" not in all_keys(config)
    assert set(config["hooks"]) == {"before_prune", "before_compact"}


def test_sectioned_1_7_11_uses_match_archives_instead_of_prefix() -> None:
    config = render("1.7.11")
    assert config["storage"]["match_archives"] == "sh:web-01.lan-*"
    assert "prefix" not in all_keys(config)


# --- defensive validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["passphrase_file", "ssh_key_file", "known_hosts_file", "repository_url"]
)
@pytest.mark.parametrize(
    "bad", ["relative/path", "/with space", "/quote'd", '/dq"x', "/ctl\nx", "/$(id)", ""]
)
def test_unsafe_paths_are_refused(field: str, bad: str) -> None:
    with pytest.raises(ValueError):
        render(FLAT, **{field: bad})


@pytest.mark.parametrize(
    "bad",
    [
        "borg@host:/srv/x",
        "ssh://borg@host:2201/srv/x y",
        "ssh://borg@host:2201/srv/$(x)",
        "ssh://borg@host;id/srv/x",
        "http://host/srv/x",
        "ssh://borg@host:2201relative",
    ],
)
def test_bad_repository_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="repository_url"):
        render(FLAT, repository_url=bad)


def test_source_directories_must_be_absolute_and_present() -> None:
    with pytest.raises(ValueError):
        render(FLAT, source_directories=["etc"])
    with pytest.raises(ValueError):
        render(FLAT, source_directories=[])


def test_exclude_pattern_with_newline_is_refused() -> None:
    with pytest.raises(ValueError):
        render(FLAT, exclude_patterns=["*.pyc\nsource_directories: [/]"])


def test_rendering_is_deterministic() -> None:
    first = render_client_config(borgmatic_version=FLAT, **BASE)
    assert first == render_client_config(borgmatic_version=FLAT, **BASE)
    assert first.count("\n# ") == 0 and first.startswith("# Managed by borgkeep")


@pytest.mark.parametrize("version", [SECTIONED, FLAT])
def test_borgmatic_runs_the_borg_the_facts_found(version: str) -> None:
    config = render(version, borg_path="/opt/borg-1.4/bin/borg")
    section = config["location"] if version == SECTIONED else config
    assert section["local_path"] == "/opt/borg-1.4/bin/borg"
    with pytest.raises(ValueError):
        render(version, borg_path="borg")


@pytest.mark.parametrize("version", [SECTIONED, FLAT])
def test_monitoring_hooks_ping_on_failure_only(version: str) -> None:
    config = render(
        version,
        healthchecks="https://hc.example/ping/abc",
        ntfy="https://ntfy.example/fleet-alerts",
    )
    hooks = config["hooks"] if version == SECTIONED else config
    assert hooks["healthchecks"] == {"ping_url": "https://hc.example/ping/abc", "states": ["fail"]}
    assert hooks["ntfy"]["server"] == "https://ntfy.example"
    assert hooks["ntfy"]["topic"] == "fleet-alerts" and hooks["ntfy"]["states"] == ["fail"]
    assert "web-01.lan" in hooks["ntfy"]["fail"]["title"]
