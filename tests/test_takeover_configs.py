"""Discovery of existing borgmatic configs (wizard/takeover): real configs of borgmatic 1.7
(sections, `<<: !include` of a shared retention file) and borgmatic 2 (flat, labelled
repositories, a non-root login), each checked with that release's own validator."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.real_tools import BORGMATIC_BINARIES, isolated_env, missing
from tests.takeover_fixtures import (
    BACKUP,
    ROOT,
    SECRET,
    host_files,
    laptop_files,
    root_client_files,
)
from wizard.takeover.borgmatic_configs import Login, discover_configs
from wizard.takeover.host_files import HostFiles
from wizard.takeover.repository_urls import borgmatic_ssh_url


def test_borgmatic_17_sections_with_a_merged_retention_include() -> None:
    found = discover_configs(host_files(root_client_files()), ROOT, "1.7.7")
    assert found.complete and not found.errors
    assert found.config_paths == (
        "/etc/borgmatic.d/databases.yaml",
        "/etc/borgmatic.d/host1.yaml",
    )
    host1 = found.config("/etc/borgmatic.d/host1.yaml").options
    # the including file wins over the include; the include fills in the rest
    assert dict(host1.retention) == {"keep_daily": 14, "keep_weekly": 4, "keep_monthly": 6}
    assert host1.sectioned
    assert host1.selection["source_directories"] == ["/etc", "/home"]
    assert host1.selection["exclude_patterns"] == ["*.tmp"]
    assert (host1.one_file_system, host1.exclude_caches, host1.compression) == (
        True,
        True,
        "zstd,3",
    )
    assert host1.naming.prefix == "host1-"
    assert host1.naming.selects == "sh:host1-*"
    assert host1.ssh_command.identity_files == ("/root/.ssh/id_backup",)
    assert host1.ssh_command.port == 2222
    assert sorted(host1.hooks) == ["before_backup", "postgresql_databases"]
    assert "checks" in host1.other


def test_a_client_backing_up_to_two_repositories_keeps_both_in_order() -> None:
    found = discover_configs(host_files(root_client_files()), ROOT, "1.7.7")
    nas, usb = found.config("/etc/borgmatic.d/host1.yaml").options.repositories
    assert (nas.user, nas.host, nas.port, nas.path, nas.scheme) == (
        "borg",
        "nas",
        None,
        "/data/backups/host1",
        "ssh",
    )
    assert nas.display == "borg@nas:/data/backups/host1"
    assert (usb.host, usb.path, usb.scheme) == (None, "/mnt/usb/host1", "local")


def test_an_include_shared_by_several_configs_is_named_by_each() -> None:
    found = discover_configs(host_files(root_client_files()), ROOT, "1.7.7")
    shared = "/etc/borgmatic/common-retention.yaml"
    assert [config.includes for config in found.configs] == [(shared,), (shared,)]
    databases = found.config("/etc/borgmatic.d/databases.yaml").options
    assert databases.retention == {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6}
    (repository,) = databases.repositories
    assert (repository.port, repository.path) == (2222, "/data/backups/host1-db")


def test_the_passphrase_is_found_but_never_shown() -> None:
    found = discover_configs(host_files(root_client_files()), ROOT, "1.7.7")
    config = found.config("/etc/borgmatic.d/host1.yaml")
    passphrase = config.options.passphrase
    assert passphrase.source == "config"
    assert passphrase.value == SECRET
    assert str(passphrase) == "passphrase in config"
    for shown in (repr(found), str(passphrase), json.dumps(found.to_json())):
        assert SECRET not in shown
        assert "db-secret" not in shown


def test_borgmatic_2_flat_labelled_repositories_for_a_non_root_login() -> None:
    files = host_files(laptop_files(), unreadable={"/etc/borgmatic.d"})
    found = discover_configs(files, BACKUP, "2.1.10")
    assert found.complete and not found.errors
    (laptop,) = found.configs
    assert laptop.path == "/home/backup/.config/borgmatic.d/laptop.yaml"
    assert laptop.includes == ("/home/backup/.config/borgmatic/common.yaml",)
    options = laptop.options
    assert not options.sectioned
    nas, offsite = options.repositories
    assert (nas.label, nas.user, nas.host, nas.port, nas.path) == (
        "nas",
        "borg",
        "nas.lan",
        2222,
        "~/laptop",
    )
    assert (offsite.label, offsite.host, offsite.port, offsite.path) == (
        "offsite",
        "offsite.example.net",
        None,
        "~/laptop",
    )
    assert options.retention == {"keep_daily": 7, "keep_weekly": 4}
    assert options.selection["source_directories"] == [
        "/home/backup/Pictures",
        "/home/backup/Documents",
    ]
    assert options.selection["exclude_patterns"] == ["*.tmp"]
    assert options.passphrase.source == "passcommand"
    assert str(options.passphrase) == "passphrase from `cat /home/backup/.borg-pass`"
    assert list(options.hooks) == ["healthchecks"]


def test_archives_with_no_common_prefix_select_every_archive() -> None:
    found = discover_configs(host_files(laptop_files()), BACKUP, "2.1.10")
    naming = found.configs[0].options.naming
    assert naming.archive_name_format == "{now:%Y-%m-%d}"
    assert naming.selects is None


def test_borgmatic_17_before_1_7_11_selects_the_hostname_prefix_by_default() -> None:
    texts = {"/etc/borgmatic/config.yaml": "location:\n  repositories: [/r]\n"}
    old = discover_configs(host_files(texts), ROOT, "1.7.7").configs[0].options.naming
    new = discover_configs(host_files(texts), ROOT, "1.7.15").configs[0].options.naming
    assert old.selects == "sh:{hostname}-*"
    assert new.selects == "sh:{hostname}-*"
    texts = {
        "/etc/borgmatic/config.yaml": "location:\n  repositories: [/r]\nstorage:\n  archive_name_format: 'x-{now}'\n"
    }
    old = discover_configs(host_files(texts), ROOT, "1.7.7").configs[0].options.naming
    new = discover_configs(host_files(texts), ROOT, "1.7.15").configs[0].options.naming
    assert (old.selects, new.selects) == ("sh:{hostname}-*", "sh:x-*")


def test_the_default_order_is_etc_first_then_the_logins_own() -> None:
    texts = {
        "/etc/borgmatic/config.yaml": "location:\n  repositories: [/a]\n",
        "/etc/borgmatic.d/b.yml": "location:\n  repositories: [/b]\n",
        "/etc/borgmatic.d/a.yaml": "location:\n  repositories: [/c]\n",
        "/etc/borgmatic.d/notes.txt": "not a config",
        "/root/.config/borgmatic/config.yaml": "location:\n  repositories: [/d]\n",
    }
    found = discover_configs(host_files(texts), ROOT, "1.7.7")
    assert found.config_paths == (
        "/etc/borgmatic/config.yaml",
        "/etc/borgmatic.d/a.yaml",
        "/etc/borgmatic.d/b.yml",
        "/root/.config/borgmatic/config.yaml",
    )


def test_unreadable_etc_config_is_an_error_for_a_non_root_login() -> None:
    files = host_files(
        laptop_files(), unreadable={"/etc/borgmatic/config.yaml", "/etc/borgmatic.d"}
    )
    found = discover_configs(files, BACKUP, "2.1.10")
    assert [error.path for error in found.errors] == ["/etc/borgmatic/config.yaml"]
    assert "cannot be read" in str(found.errors[0])
    assert [config.path for config in found.configs] == [
        "/home/backup/.config/borgmatic.d/laptop.yaml"
    ]


def test_discovery_asks_for_what_it_has_not_read_round_by_round() -> None:
    everything = root_client_files()
    first = discover_configs(HostFiles(), ROOT, "1.7.7")
    assert set(first.to_list) == {"/etc/borgmatic.d", "/root/.config/borgmatic.d"}
    assert set(first.to_read) == {
        "/etc/borgmatic/config.yaml",
        "/root/.config/borgmatic/config.yaml",
    }
    listed = HostFiles(
        listings={"/etc/borgmatic.d": ("host1.yaml", "databases.yaml")},
        absent=frozenset(first.to_read) | {"/root/.config/borgmatic.d"},
    )
    second = discover_configs(listed, ROOT, "1.7.7")
    assert set(second.to_read) == {"/etc/borgmatic.d/host1.yaml", "/etc/borgmatic.d/databases.yaml"}
    assert not second.configs
    read = HostFiles(
        texts={path: text for path, text in everything.items() if "borgmatic.d" in path},
        listings=listed.listings,
        absent=listed.absent,
    )
    third = discover_configs(read, ROOT, "1.7.7")
    assert third.to_read == ("/etc/borgmatic/common-retention.yaml",)
    fourth = discover_configs(
        HostFiles(texts=everything, listings=listed.listings, absent=listed.absent), ROOT, "1.7.7"
    )
    assert fourth.complete and len(fourth.configs) == 2


def test_an_include_loop_is_an_error_value_and_the_other_configs_are_still_read() -> None:
    texts = {
        **root_client_files(),
        "/etc/borgmatic.d/loop.yaml": "location:\n  repositories: [/x]\n<<: !include /etc/borgmatic/a.yaml\n",
        "/etc/borgmatic/a.yaml": "<<: !include b.yaml\n",
        "/etc/borgmatic/b.yaml": "retention: !include /etc/borgmatic/a.yaml\n",
    }
    found = discover_configs(host_files(texts, absent=frozenset({"/root/b.yaml"})), ROOT, "1.7.7")
    (error,) = found.errors
    assert error.path == "/etc/borgmatic.d/loop.yaml"
    assert "include loop" in error.message
    assert (
        "/etc/borgmatic/a.yaml -> /etc/borgmatic/b.yaml -> /etc/borgmatic/a.yaml" in error.message
    )
    assert len(found.configs) == 2


def test_a_missing_include_and_bad_yaml_are_error_values_naming_the_file() -> None:
    texts = {
        "/etc/borgmatic.d/missing.yaml": "<<: !include nowhere.yaml\n",
        "/etc/borgmatic.d/broken.yaml": "location:\n  repositories: [/x\n",
        "/etc/borgmatic.d/good.yaml": "location:\n  repositories: [/x]\n",
    }
    absent = frozenset({"/root/nowhere.yaml", "/etc/borgmatic.d/nowhere.yaml"})
    found = discover_configs(host_files(texts, absent=absent), ROOT, "1.7.7")
    messages = {error.path: str(error) for error in found.errors}
    assert "could not find include nowhere.yaml" in messages["/etc/borgmatic.d/missing.yaml"]
    assert "/etc/borgmatic.d/nowhere.yaml" in messages["/etc/borgmatic.d/missing.yaml"]
    assert "invalid YAML" in messages["/etc/borgmatic.d/broken.yaml"]
    assert "/etc/borgmatic.d/broken.yaml" in messages["/etc/borgmatic.d/broken.yaml"]
    assert [config.path for config in found.configs] == ["/etc/borgmatic.d/good.yaml"]


def test_a_relative_include_is_looked_for_in_the_working_directory_first() -> None:
    texts = {
        "/etc/borgmatic/config.yaml": "location:\n  repositories: [/x]\n<<: !include keep.yaml\n",
        "/root/keep.yaml": "retention:\n  keep_daily: 1\n",
        "/etc/borgmatic/keep.yaml": "retention:\n  keep_daily: 2\n",
    }
    from_home = discover_configs(host_files(texts), ROOT, "1.7.7")
    from_slash = discover_configs(
        host_files(texts, absent=frozenset({"/keep.yaml"})), ROOT, "1.7.7", cwd="/"
    )
    assert from_home.configs[0].options.retention == {"keep_daily": 1}
    assert from_slash.configs[0].options.retention == {"keep_daily": 2}


def test_a_list_of_includes_needs_borgmatic_1_8_1_and_the_last_file_wins() -> None:
    texts = {
        "/etc/borgmatic/config.yaml": "repositories: [/x]\n<<: !include [/a.yaml, /b.yaml]\n",
        "/a.yaml": "keep_daily: 1\nkeep_weekly: 1\n",
        "/b.yaml": "keep_daily: 2\n",
    }
    new = discover_configs(host_files(texts), ROOT, "2.1.10")
    assert new.configs[0].options.retention == {"keep_daily": 2, "keep_weekly": 1}
    old = discover_configs(host_files(texts), ROOT, "1.7.7")
    assert "!include" in old.errors[0].message


def test_borgmatic_17_rejects_flat_options_and_2_reads_sections() -> None:
    flat = {"/etc/borgmatic/config.yaml": "repositories: [/x]\nkeep_daily: 3\n"}
    assert (
        "expects sections"
        in discover_configs(host_files(flat), ROOT, "1.7.7").configs[0].options.problems[0]
    )
    sectioned = discover_configs(host_files(root_client_files()), ROOT, "2.1.10")
    host1 = sectioned.config("/etc/borgmatic.d/host1.yaml").options
    assert host1.retention["keep_daily"] == 14
    assert "deprecated sections" in host1.problems[0]


def test_a_config_borgkeep_wrote_is_marked_as_borgkeeps() -> None:
    texts = {
        "/etc/borgmatic/config.yaml": "# Managed by borgkeep — changes here are overwritten on the next apply.\nlocation:\n  repositories: [/x]\n",
        "/etc/borgmatic.d/own.yaml": "location:\n  repositories: [/y]\n",
    }
    found = discover_configs(host_files(texts), ROOT, "1.7.7")
    assert [config.managed_by_borgkeep for config in found.configs] == [True, False]


# --- the fixtures, checked by each release's own validator ----------------------------------------


def _binary(key: str) -> str:
    variable, default = BORGMATIC_BINARIES[key]
    path = os.environ.get(variable, default)
    if key == "1.7":
        path = os.path.join(os.path.dirname(path), "validate-borgmatic-config")
    if not os.access(path, os.X_OK):
        missing(f"{path} not found")
    return path


def _write(root: Path, texts: dict[str, str]) -> None:
    for path, text in texts.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def test_the_17_fixtures_are_valid_for_borgmatic_17(tmp_path: Path) -> None:
    validator = _binary("1.7")
    texts = root_client_files(str(tmp_path))
    _write(Path("/"), texts)
    for path in texts:
        if "borgmatic.d" in path:
            result = subprocess.run(
                [validator, "-c", path],
                capture_output=True,
                text=True,
                env=isolated_env(tmp_path / "home"),
            )
            assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("fixture", ["laptop", "root-client"])
def test_the_fixtures_are_valid_for_borgmatic_2_and_merge_as_it_merges(
    tmp_path: Path, fixture: str
) -> None:
    borgmatic = _binary("2")
    home = tmp_path / "home"
    env = isolated_env(home)
    if fixture == "laptop":
        texts, config = laptop_files(str(home)), f"{home}/.config/borgmatic.d/laptop.yaml"
        login = Login("backup", str(home))
    else:
        texts, config = root_client_files(str(tmp_path)), f"{tmp_path}/etc/borgmatic.d/host1.yaml"
        login = Login("root", str(home))
    _write(Path("/"), texts)
    result = subprocess.run(
        [borgmatic, "config", "validate", "--show", "-c", config],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shown = yaml.safe_load(result.stdout.split("\nAll configuration files are valid")[0])

    ours = discover_configs(host_files(texts), login, "2.1.10", config_paths=[config]).configs[0]
    options = ours.options
    for key in ("source_directories", "exclude_patterns"):
        assert options.selection.get(key) == shown.get(key), key
    assert dict(options.retention) == {k: v for k, v in shown.items() if k.startswith("keep_")}
    assert [(r.label, borgmatic_ssh_url(r.raw)) for r in options.repositories] == [
        (r.get("label"), r["path"]) for r in shown["repositories"]
    ]
    hooks_shown = {"healthchecks", "postgresql_databases"} & set(shown)
    assert hooks_shown <= set(options.hooks)
    assert hooks_shown == ({"healthchecks"} if fixture == "laptop" else {"postgresql_databases"})


def test_constants_are_put_in_place_from_the_release_that_knows_them() -> None:
    text = (
        "constants:\n  server: nas.lan\n  days: 7\n"
        "location:\n  repositories: ['ssh://borg@{server}/data/{unknown}']\n"
        "retention:\n  keep_daily: '{days}'\n"
    )
    files = host_files({"/etc/borgmatic/config.yaml": text})
    old = discover_configs(files, ROOT, "1.7.7").configs[0].options
    new = discover_configs(files, ROOT, "2.1.10").configs[0].options
    assert old.repositories[0].host == "{server}" and "constants" in old.other
    assert new.repositories[0].host == "nas.lan"
    assert new.repositories[0].path == "/data/{unknown}"
    assert new.retention == {"keep_daily": 7}
    assert "constants" not in new.other


def test_a_config_that_is_not_a_mapping_is_an_error() -> None:
    files = host_files({"/etc/borgmatic/config.yaml": "- just\n- a list\n"})
    (error,) = discover_configs(files, ROOT, "2.1.10").errors
    assert "does not contain any options" in str(error)


def test_borgmatic_2_applies_constants_as_discovery_does(tmp_path: Path) -> None:
    borgmatic = _binary("2")
    text = (
        "constants:\n  server: nas.lan\n  days: 7\n"
        "source_directories: [/etc]\n"
        "repositories:\n  - path: 'ssh://borg@{server}/data/host1'\n"
        "keep_daily: '{days}'\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(text)
    result = subprocess.run(
        [borgmatic, "config", "validate", "--show", "-c", str(config)],
        capture_output=True,
        text=True,
        env=isolated_env(tmp_path / "home"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shown = yaml.safe_load(result.stdout.split("\nAll configuration files are valid")[0])
    files = host_files({str(config): text})
    ours = discover_configs(files, ROOT, "2.1.10", config_paths=[str(config)]).configs[0].options
    assert shown["keep_daily"] == ours.retention["keep_daily"] == 7
    assert shown["repositories"][0]["path"] == ours.repositories[0].raw


def test_prune_selects_with_the_retention_prefix_even_when_check_has_another() -> None:
    text = (
        "location:\n  repositories: [/r]\n"
        "retention:\n  keep_daily: 1\n  prefix: 'web-'\n"
        "consistency:\n  prefix: 'all-'\n"
    )
    options = discover_configs(host_files({"/etc/borgmatic/config.yaml": text}), ROOT, "1.7.7")
    naming = options.configs[0].options.naming
    assert (naming.prefix, naming.selects) == ("web-", "sh:web-*")
    assert "prefixes differ" in options.configs[0].options.problems[0]


def test_where_a_keyfile_key_would_be_looked_for() -> None:
    found = discover_configs(host_files(root_client_files()), ROOT, "1.7.7")
    assert found.configs[0].options.keys_directory == "/root/.config/borg/keys"
    assert found.configs[0].options.key_file is None
    text = (
        "repositories: [/r]\nborg_base_directory: /srv/borg\nborg_key_file: /root/keys/host1.key\n"
    )
    options = discover_configs(host_files({"/etc/borgmatic/config.yaml": text}), ROOT, "2.1.10")
    (config,) = options.configs
    assert config.options.keys_directory == "/srv/borg/.config/borg/keys"
    assert config.to_json()["key_file"] == "/root/keys/host1.key"
    assert "borg_key_file" not in config.options.other
