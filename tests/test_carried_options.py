"""Taking over a client that backed up with borgmatic: the archive prefix on both sides,
and what Borgkeep's client config carries over from the old config (wizard/artefacts/
carried_options.py). Old configs in 1.7 sections and in 2.x flat form are parsed as
discovery parses them, rendered with what they carry, and checked by that release's own
validator; a hostile old config cannot touch Borgkeep's own keys."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.real_tools import Borgmatic, borgmatic_fixture, isolated_env  # noqa: F401 (fixture)
from tests.takeover_fixtures import ROOT, SECRET, host_files, root_client_files
from wizard.artefacts.borgmatic_client import (
    archive_match_glob,
    archive_name_format,
    archive_prefix,
    render_client_config,
)
from wizard.artefacts.borgmatic_server import render_server_prune_config
from wizard.artefacts.borgmatic_versions import parse_version, validate_config_command
from wizard.artefacts.carried_options import (
    CARRYABLE,
    CarriedOptions,
    carried_options,
    merge_carried,
)
from wizard.takeover.borgmatic_configs import discover_configs
from wizard.takeover.borgmatic_options import ConfigOptions, read_options

CLIENT = {
    "client_name": "web01",
    "source_directories": ["/etc", "/var/www"],
    "exclude_patterns": ["*.pyc"],
    "repository_url": "ssh://borg@backup.lan:2201/srv/backups/web01",
    "passphrase_file": "/root/.config/borgkeep/web01.passphrase",
    "ssh_key_file": "/root/.ssh/borgkeep_ed25519",
    "known_hosts_file": "/root/.ssh/borgkeep_known_hosts",
    "borg_path": "/usr/bin/borg",
}
SERVER = {
    "client_name": "web01",
    "repository_path": "/srv/backups/web01",
    "passphrase_file": "/home/borg/.config/borgkeep/web01.passphrase",
    "retention": {"keep_daily": 7},
    "borg_path": "/usr/bin/borg",
}
VERSIONS = ["1.7.7", "1.7.11", "1.8.4", "2.1.10"]
SECRETS = ("s3cret-old-passphrase", "ssh-s3cret", "pg-s3cret", "my-s3cret", "old-uuid")


def options_of(text: str, version: str) -> ConfigOptions:
    """An old config's options, as discovery reads them for `version`."""
    return read_options(yaml.safe_load(text), parse_version(version), "/root")


def render(version: str, carried: CarriedOptions | None = None, **overrides: object) -> dict:
    text = render_client_config(
        borgmatic_version=version, **{**CLIENT, **overrides}, carried=carried
    )
    return yaml.safe_load(text)


def flat(config: dict) -> dict:
    """A rendered config with its 1.7 sections (if any) lifted to the top."""
    sections = ("location", "storage", "consistency", "output", "hooks")
    lifted = {key: value for key, value in config.items() if key not in sections}
    for name in sections:
        lifted |= config.get(name, {})
    return lifted


def carry(text: str, version: str, **kwargs: object) -> CarriedOptions:
    return carried_options(options_of(text, version), version, **kwargs)


# --- archive_prefix -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_without_an_archive_prefix_the_output_is_as_before(version: str) -> None:
    default = render_client_config(borgmatic_version=version, **CLIENT)
    assert render_client_config(borgmatic_version=version, **CLIENT, archive_prefix=None) == default
    assert render_client_config(borgmatic_version=version, **CLIENT, carried=None) == default
    # the default prefix spelled out names the archives the same way, byte for byte
    assert render_client_config(borgmatic_version=version, **CLIENT, archive_prefix="web01-") == (
        default
    )
    server = render_server_prune_config(borgmatic_version=version, **SERVER)
    assert render_server_prune_config(
        borgmatic_version=version, **SERVER, archive_prefix="web01-"
    ) == (server)


@pytest.mark.parametrize("version", VERSIONS)
def test_an_archive_prefix_names_and_selects_archives_on_both_sides(version: str) -> None:
    client = flat(render(version, archive_prefix="host_1.old-"))
    server_config = yaml.safe_load(
        render_server_prune_config(
            borgmatic_version=version, **SERVER, archive_prefix="host_1.old-"
        )
    )
    server = flat(server_config) | server_config.get("retention", {})
    assert client["archive_name_format"] == "host_1.old-{now:%Y-%m-%dT%H:%M:%S}"
    if parse_version(version) < (1, 7, 11):
        assert client["prefix"] == server["prefix"] == "host_1.old-"
        assert "match_archives" not in client and "match_archives" not in server
    else:
        assert client["match_archives"] == server["match_archives"] == "sh:host_1.old-*"
        assert "prefix" not in client and "prefix" not in server
    assert "web01" not in client["archive_name_format"]


def test_the_naming_helpers_take_the_prefix() -> None:
    assert archive_name_format("web01", "old.") == "old.{now:%Y-%m-%dT%H:%M:%S}"
    assert archive_match_glob("web01", "old.") == "sh:old.*"
    assert archive_prefix("web01", "old.") == "old."
    assert archive_prefix("web01") == "web01-"


@pytest.mark.parametrize(
    "prefix", ["", "x" * 65, "{hostname}-", "web{now}", "web 01", "a/b", "x;y", "é-", 7]
)
def test_a_bad_archive_prefix_is_refused_by_name(prefix: object) -> None:
    with pytest.raises(ValueError, match="archive_prefix"):
        render_client_config(borgmatic_version="2.1.10", **CLIENT, archive_prefix=prefix)
    with pytest.raises(ValueError, match="archive_prefix"):
        render_server_prune_config(borgmatic_version="1.7.7", **SERVER, archive_prefix=prefix)


def test_the_longest_archive_prefix_is_accepted() -> None:
    prefix = "a" * 64
    assert render(version="2.1.10", archive_prefix=prefix)["match_archives"] == f"sh:{prefix}*"


# --- what shapes the archive: compression, flags, selection -----------------------------------------

ARCHIVE_17 = """\
location:
    source_directories: [/etc, /srv]
    repositories: [/old/repo]
    one_file_system: true
    exclude_caches: true
    exclude_if_present: [.nobackup]
    exclude_patterns: ['*.pyc', '/srv/*/cache', '#comment-like']
    patterns: ['- /srv/tmp']
    patterns_from: [/etc/borgmatic/patterns]
    exclude_from: [/etc/borgmatic/excludes]
    exclude_nodump: true
storage:
    compression: lz4
    lock_wait: 30
    umask: 63
output:
    color: false
"""


def test_compression_flags_and_selection_are_carried_into_their_17_sections() -> None:
    carried = carry(ARCHIVE_17, "1.7.7")
    config = render("1.7.7", carried)
    location, storage = config["location"], config["storage"]
    assert storage["compression"] == "lz4"  # replaces Borgkeep's default
    assert (storage["lock_wait"], storage["umask"]) == (30, 63)
    assert location["one_file_system"] is True and location["exclude_caches"] is True
    assert location["exclude_if_present"] == [".nobackup"]
    assert location["patterns"] == ["- /srv/tmp"]
    assert location["patterns_from"] == ["/etc/borgmatic/patterns"]
    assert location["exclude_from"] == ["/etc/borgmatic/excludes"]
    assert location["exclude_nodump"] is True
    assert config["output"] == {"color": False}
    # the inventory's sources stay; the old excludes join the inventory's, once each
    assert location["source_directories"] == CLIENT["source_directories"]
    assert location["exclude_patterns"] == ["*.pyc", "/srv/*/cache"]
    assert any(line.startswith("exclude_patterns[2]: not carried") for line in carried.not_carried)
    assert not any("source_directories" in line for line in carried.not_carried)


def test_the_same_options_are_flat_for_borgmatic_2() -> None:
    carried = carry(ARCHIVE_17, "2.1.10")
    config = render("2.1.10", carried)
    assert config["compression"] == "lz4"
    assert config["patterns"] == ["- /srv/tmp"]
    assert config["color"] is False
    assert not {"location", "storage", "output", "hooks"} & set(config)


def test_without_carried_options_compression_stays_borgkeeps() -> None:
    carried = carry("location:\n    repositories: [/r]\n", "1.7.7")
    assert dict(carried.options) == {}
    assert render("1.7.7", carried) == render("1.7.7")


# --- command hooks ---------------------------------------------------------------------------------

HOOKS_17 = """\
location:
    repositories: [/old/repo]
hooks:
    before_everything: [echo start]
    before_backup: [echo before]
    after_backup: [echo after]
    on_error: [echo failed]
    after_everything: [echo end]
    before_prune: [echo prune]
    after_compact: [echo compacted]
"""


def test_17_command_hooks_are_carried_but_not_those_of_prune_or_compact() -> None:
    carried = carry(HOOKS_17, "1.7.7")
    hooks = render("1.7.7", carried)["hooks"]
    assert hooks["before_everything"] == ["echo start"]
    assert hooks["before_backup"] == ["echo before"]
    assert hooks["after_backup"] == ["echo after"]
    assert hooks["on_error"] == ["echo failed"]
    assert hooks["after_everything"] == ["echo end"]
    assert "echo prune" not in str(hooks) and "after_compact" not in hooks
    (line,) = [line for line in carried.not_carried if "before_prune" in line]
    assert line.startswith("before_prune, after_compact: not carried (prune and compact run")


COMMANDS_2 = """\
source_directories: [/etc]
repositories: [{path: /old/repo}]
before_backup: [echo legacy]
commands:
    - before: action
      when: [create]
      run: [echo creating]
    - before: action
      when: [prune, compact]
      run: [echo pruning]
    - after: error
      run: [echo failed]
"""


def test_2_flat_hooks_and_commands_are_carried_without_prune_only_entries() -> None:
    carried = carry(COMMANDS_2, "2.1.10")
    config = render("2.1.10", carried)
    assert config["before_backup"] == ["echo legacy"]
    assert config["commands"] == [
        {"before": "action", "when": ["create"], "run": ["echo creating"]},
        {"after": "error", "run": ["echo failed"]},
    ]
    assert config["skip_actions"] == ["prune", "compact"]
    assert any(
        line.startswith("commands: not carried (1 of 3 entries") for line in carried.not_carried
    )


def test_commands_need_borgmatic_2() -> None:
    carried = carry(COMMANDS_2, "1.8.4")
    assert "commands" not in carried.options
    assert "commands: not carried (needs borgmatic 2.0.0 (this client runs 1.8.4))" in (
        carried.not_carried
    )


# --- database dumps and monitoring ------------------------------------------------------------------

DATABASES_2 = """\
repositories: [{path: /old/repo}]
postgresql_databases: [{name: app, password: pg-s3cret}]
mysql_databases: [{name: shop, password: my-s3cret}]
mariadb_databases: [{name: forum}]
sqlite_databases: [{name: cache, path: /var/lib/app/cache.db}]
mongodb_databases: [{name: logs}]
"""


def test_database_dumps_are_carried_where_the_release_knows_them() -> None:
    new = carry(DATABASES_2, "2.1.10")
    assert list(new.options) == [
        "postgresql_databases",
        "mysql_databases",
        "mariadb_databases",
        "sqlite_databases",
        "mongodb_databases",
    ]
    assert render("2.1.10", new)["postgresql_databases"] == [
        {"name": "app", "password": "pg-s3cret"}
    ]
    old = carry(DATABASES_2, "1.7.7")
    assert "mariadb_databases" not in old.options and "sqlite_databases" not in old.options
    assert "mariadb_databases: not carried (needs borgmatic 1.8.2 (this client runs 1.7.7))" in (
        old.not_carried
    )
    assert "sqlite_databases: not carried (needs borgmatic 1.7.9 (this client runs 1.7.7))" in (
        old.not_carried
    )
    hooks = render("1.7.7", old)["hooks"]
    assert hooks["mysql_databases"] == [{"name": "shop", "password": "my-s3cret"}]
    assert hooks["mongodb_databases"] == [{"name": "logs"}]


MONITORING_2 = """\
repositories: [{path: /old/repo}]
healthchecks: {ping_url: 'https://hc-ping.com/old-uuid'}
cronitor: {ping_url: 'https://cronitor.link/old'}
ntfy: {topic: old-topic}
"""


def test_monitoring_is_carried_and_borgkeeps_own_alerts_win() -> None:
    carried = carry(MONITORING_2, "2.1.10", alerts=("healthchecks",))
    assert list(carried.options) == ["cronitor", "ntfy"]
    assert "healthchecks: not carried (Borgkeep's own healthchecks alert replaces it)" in (
        carried.not_carried
    )
    own = "https://hc-ping.com/borgkeep"
    config = render("2.1.10", carried, healthchecks=own)
    assert config["healthchecks"]["ping_url"] == own
    assert config["ntfy"] == {"topic": "old-topic"}
    # even when the caller forgets to name its alerts, Borgkeep's own keys win
    unnamed = carry(MONITORING_2, "1.7.7")
    hooks = render("1.7.7", unnamed, ntfy="https://ntfy.sh/borgkeep-alerts")["hooks"]
    assert hooks["ntfy"]["topic"] == "borgkeep-alerts"
    assert hooks["healthchecks"] == {"ping_url": "https://hc-ping.com/old-uuid"}


def test_monitoring_a_release_does_not_know_stays_behind() -> None:
    text = "repositories: [{path: /r}]\nuptime_kuma: {push_url: 'https://kuma/x'}\n"
    assert "uptime_kuma" in carry(text, "2.1.10").options
    assert "uptime_kuma" not in carry(text, "1.8.4").options


# --- what stays behind ------------------------------------------------------------------------------

LEFT_BEHIND_17 = f"""\
location:
    repositories: [borg@old-nas:/data/web01, /mnt/usb/web01]
    remote_path: borg1
    local_path: /usr/local/bin/borg
storage:
    encryption_passphrase: "{SECRETS[0]}"
    ssh_command: sshpass -p {SECRETS[1]} ssh -p 2222
    archive_name_format: 'web01-{{now}}'
    extra_borg_options: {{create: --noatime}}
    borg_base_directory: /var/lib/old-borg
    relocated_repo_access_is_ok: true
retention:
    keep_daily: 7
    keep_weekly: 4
    prefix: web01-
consistency:
    checks: [{{name: repository}}]
    check_last: 3
hooks:
    postgresql_databases: [{{name: all, password: {SECRETS[2]}}}]
    invented_option: {{token: {SECRETS[4]}}}
"""


def test_what_borgkeep_decides_itself_stays_behind_with_a_reason_and_no_secret() -> None:
    carried = carry(LEFT_BEHIND_17, "1.7.7")
    assert list(carried.options) == ["postgresql_databases"]
    lines = "\n".join(carried.not_carried)
    expected = {
        "repositories": "this server's repository only; found borg@old-nas:/data/web01, /mnt/usb/web01",
        "keep_daily, keep_weekly": "the backup server prunes now",
        "encryption_passphrase": "passphrase file",
        "ssh_command": "its own key",
        "archive_name_format": "archive prefix",
        "prefix": "archive prefix",
        "checks, check_last": "checks and their frequency",
        "remote_path": "old server",
        "local_path": "the borg it found",
        "extra_borg_options": "add them by hand",
        "borg_base_directory": "security state",
        "relocated_repo_access_is_ok": "no such exception",
        "invented_option": "does not know what it does",
    }
    for names, reason in expected.items():
        (line,) = [line for line in carried.not_carried if line.startswith(f"{names}: not carried")]
        assert reason in line, line
    for secret in SECRETS:
        assert secret not in lines
        assert secret not in repr(carried)


def test_a_passcommand_skip_actions_and_default_actions_stay_behind() -> None:
    text = (
        "repositories: [{path: /r}]\nencryption_passcommand: echo s3cret\n"
        "skip_actions: [compact]\ndefault_actions: false\ncompact_threshold: 5\n"
    )
    carried = carry(text, "2.1.10")
    assert dict(carried.options) == {}
    names = [line.split(":")[0] for line in carried.not_carried]
    assert names == [
        "repositories",
        "encryption_passcommand",
        "skip_actions",
        "default_actions",
        "compact_threshold",
    ]
    assert "s3cret" not in "\n".join(carried.not_carried)


# --- Borgkeep's own keys always win ---------------------------------------------------------------------

HOSTILE_17 = """\
location:
    source_directories: [/etc]
    repositories: [/old/repo]
hooks:
    repositories: ['ssh://evil@elsewhere/./steal']
    encryption_passcommand: echo stolen
    ssh_command: ssh -i /tmp/evil
    local_path: /tmp/evil-borg
    keep_daily: 1
    prefix: ''
    archive_name_format: 'other-{now}'
    match_archives: '*'
    checks: []
    skip_actions: []
    before_prune: ['true']
    before_compact: ['true']
    before_backup: [echo still carried]
"""

HOSTILE_2 = """\
source_directories: [/etc]
repositories: [{path: /old/repo}, {path: 'ssh://evil@elsewhere/./steal'}]
encryption_passcommand: echo stolen
ssh_command: ssh -i /tmp/evil
local_path: /tmp/evil-borg
keep_daily: 1
keep_within: 1H
compact_threshold: 1
match_archives: '*'
skip_actions: []
before_prune: ['true']
after_compact: ['true']
checks: [{name: disabled}]
commands:
    - before: action
      when: [prune]
      run: ['true']
hooks:
    repositories: ['/tmp/stolen']
    keep_hourly: 1
"""


def borgkeeps_keys_unchanged(version: str, carried: CarriedOptions) -> dict:
    """Every key Borgkeep renders keeps its value; only compression and the excludes may
    take the old config's; no retention and no prune or compact hook comes in."""
    baseline, merged = flat(render(version)), flat(render(version, carried))
    for key, value in baseline.items():
        if key not in ("compression", "exclude_patterns"):
            assert merged[key] == value, key
    assert not [key for key in merged if key.startswith("keep_") or key == "compact_threshold"]
    assert not {"after_prune", "after_compact"} & set(merged)
    assert "stolen" not in str(merged) and "evil" not in str(merged)
    return merged


@pytest.mark.parametrize(
    ("text", "version"), [(HOSTILE_17, "1.7.7"), (HOSTILE_2, "2.1.10"), (HOSTILE_2, "1.8.4")]
)
def test_a_hostile_old_config_cannot_touch_borgkeeps_keys(text: str, version: str) -> None:
    carried = carry(text, version)
    assert set(carried.options) <= set(CARRYABLE)
    merged = borgkeeps_keys_unchanged(version, carried)
    assert "commands" not in merged
    if version == "1.7.7":
        assert merged["before_backup"] == ["echo still carried"]


@pytest.mark.parametrize(
    "name",
    [
        "repositories",
        "encryption_passcommand",
        "ssh_command",
        "local_path",
        "keep_daily",
        "skip_actions",
        "before_prune",
        "checks",
        "match_archives",
    ],
)
def test_merging_refuses_an_option_that_is_not_carryable(name: str) -> None:
    """A CarriedOptions built by hand is checked again when it is merged."""
    hostile = CarriedOptions("2.1.10", {name: ["/tmp/x"]})
    with pytest.raises(ValueError, match=f"carried: {name}: is not an option Borgkeep carries"):
        render("2.1.10", hostile)


def test_merging_checks_carried_excludes_again() -> None:
    with pytest.raises(ValueError, match="carried: exclude_patterns"):
        render("2.1.10", CarriedOptions("2.1.10", {"exclude_patterns": "#x"}))


def test_merging_refuses_options_computed_for_another_release() -> None:
    carried = carry(ARCHIVE_17, "2.1.10")
    with pytest.raises(ValueError, match="computed for borgmatic 2.1.10, not 1.7.7"):
        render("1.7.7", carried)
    with pytest.raises(ValueError, match="needs borgmatic 2.0.0"):
        merge_carried({}, CarriedOptions("1.8.4", {"commands": []}), "1.8.4")


def test_carried_values_share_nothing_so_the_yaml_has_no_anchors() -> None:
    text = "repositories: [{path: /r}]\nbefore_backup: &cmds [echo a]\nafter_backup: *cmds\n"
    rendered = render_client_config(
        borgmatic_version="2.1.10", **CLIENT, carried=carry(text, "2.1.10")
    )
    assert "&id" not in rendered and "*id" not in rendered


# --- real configs, parsed by discovery, checked by the real validators -----------------------------------

RICH_17 = f"""\
location:
    source_directories: [/etc, /var/www]
    repositories: ['ssh://borg@old-nas/./web01']
    one_file_system: true
    exclude_caches: true
    exclude_if_present: [.nobackup]
    exclude_patterns: ['*.tmp', '/var/www/*/cache']
    patterns: ['- /var/www/tmp']
    patterns_from: [/etc/borgmatic/patterns]
    exclude_from: [/etc/borgmatic/excludes]
    exclude_nodump: true
    numeric_ids: true
    read_special: false
storage:
    encryption_passphrase: "{SECRETS[0]}"
    ssh_command: sshpass -p {SECRETS[1]} ssh -p 2222
    compression: lz4
    archive_name_format: 'web01-{{now:%Y-%m-%d}}'
    lock_wait: 30
    retries: 2
    umask: 63
    extra_borg_options:
        create: --noatime
retention:
    keep_daily: 7
    keep_weekly: 4
    prefix: web01-
consistency:
    checks:
        - name: repository
    check_last: 3
output:
    color: false
hooks:
    before_everything: [echo start]
    before_backup: [echo before]
    after_backup: [echo after]
    on_error: [echo failed]
    after_everything: [echo end]
    before_prune: [echo old prune]
    postgresql_databases:
        - name: all
          password: {SECRETS[2]}
    mysql_databases:
        - name: shop
          password: {SECRETS[3]}
    mongodb_databases:
        - name: logs
    healthchecks:
        ping_url: https://hc-ping.com/{SECRETS[4]}
    cronitor:
        ping_url: https://cronitor.link/old
"""

RICH_2 = f"""\
source_directories: [/etc]
repositories:
    - path: ssh://borg@old-nas/./web02
      label: old
encryption_passcommand: cat /root/.old-pass
ssh_command: ssh -i /root/.ssh/old_key
compression: zstd,6
archive_name_format: 'web02-{{now}}'
match_archives: 'sh:web02-*'
one_file_system: true
exclude_caches: true
exclude_if_present: [.nobackup]
patterns: ['R /srv', '- /srv/tmp']
keep_daily: 7
keep_within: 2d
skip_actions: [compact]
checks:
    - name: repository
      frequency: 1 month
compact_threshold: 20
verbosity: 1
statistics: true
lock_wait: 10
use_chunks_archive: false
before_backup: [echo legacy before]
commands:
    - before: action
      when: [create]
      run: [echo creating]
    - before: action
      when: [prune, compact]
      run: [echo pruning]
    - after: error
      run: [echo failed]
postgresql_databases:
    - name: app
      password: {SECRETS[2]}
mariadb_databases:
    - name: shop
      password: {SECRETS[3]}
sqlite_databases:
    - name: cache
      path: /var/lib/app/cache.db
mongodb_databases:
    - name: logs
healthchecks:
    ping_url: https://hc-ping.com/{SECRETS[4]}
ntfy:
    topic: old-topic
uptime_kuma:
    push_url: https://kuma.example/api/push/abc
"""


def validate(borgmatic: Borgmatic, path: Path, home: Path) -> None:
    command = validate_config_command(
        borgmatic_version=borgmatic.version, borgmatic_path=borgmatic.path, config_path=str(path)
    )
    result = subprocess.run(command, capture_output=True, text=True, env=isolated_env(home))
    assert result.returncode == 0, (
        f"{path.name} is invalid for borgmatic {borgmatic.version}:\n{path.read_text()}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def old_configs(borgmatic: Borgmatic) -> dict[str, str]:
    """The 1.7 sectioned config for 1.7; for 2.x both the flat one and the sectioned one
    (2.x still reads sections)."""
    if parse_version(borgmatic.version) < (1, 8, 0):
        return {"rich-17": RICH_17, "hostile-17": HOSTILE_17}
    return {"rich-2": RICH_2, "rich-17": RICH_17, "hostile-2": HOSTILE_2}


def test_real_old_configs_carried_into_borgkeeps_config_pass_the_real_validator(
    borgmatic: Borgmatic, tmp_path: Path
) -> None:
    for name, text in old_configs(borgmatic).items():
        if not name.startswith("hostile"):
            old = tmp_path / f"{name}-old.yaml"
            old.write_text(text)
            validate(borgmatic, old, tmp_path / "home")  # the fixture is a real config
        found = discover_configs(
            host_files({f"/etc/borgmatic.d/{name}.yaml": text}), ROOT, borgmatic.version
        )
        assert found.complete and not found.errors, found.errors
        (config,) = found.configs
        carried = carried_options(config.options, borgmatic.version, alerts=("ntfy",))
        prefix = "web01-" if name == "rich-17" else "web02-"
        rendered = render_client_config(
            borgmatic_version=borgmatic.version,
            **CLIENT,
            healthchecks="https://hc-ping.com/borgkeep",
            ntfy="https://ntfy.sh/borgkeep-alerts",
            archive_prefix=prefix,
            carried=carried,
        )
        new = tmp_path / f"{name}-borgkeep.yaml"
        new.write_text(rendered)
        validate(borgmatic, new, tmp_path / "home")
        merged = flat(yaml.safe_load(rendered))
        assert merged["archive_name_format"].startswith(prefix)
        assert not [key for key in merged if key.startswith("keep_")]
        for secret in SECRETS:
            assert secret not in "\n".join(carried.not_carried)
        if name.startswith("rich"):
            assert merged["healthchecks"]["ping_url"] == "https://hc-ping.com/borgkeep"
            assert merged["postgresql_databases"][0]["password"] == SECRETS[2]
            assert merged["one_file_system"] is True


def test_the_discovery_fixture_carries_its_hooks_and_compression() -> None:
    """tests/takeover_fixtures' host1 (1.7, a merged retention include)."""
    found = discover_configs(host_files(root_client_files()), ROOT, "1.7.7")
    carried = carried_options(found.config("/etc/borgmatic.d/host1.yaml").options, "1.7.7")
    assert list(carried.options) == [
        "before_backup",
        "postgresql_databases",
        "exclude_patterns",
        "compression",
        "one_file_system",
        "exclude_caches",
    ]
    assert "keep_daily, keep_monthly, keep_weekly: not carried" in "\n".join(carried.not_carried)
    assert SECRET not in "\n".join(carried.not_carried) and SECRET not in repr(carried)
    hooks = render("1.7.7", carried, archive_prefix="host1-")["hooks"]
    assert hooks["before_backup"] == ["echo start"]
