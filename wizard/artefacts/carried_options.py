"""What a taken-over borgmatic config did that Borgkeep's client config carries on doing.

When Borgkeep takes over a client that already backed up with borgmatic, its client config
replaces the old one. What only shapes the backup (compression, what is selected, command
hooks, database dumps, monitoring, logging) is carried over as it was; what Borgkeep
decides itself is not, with a one-line reason each: retention (the server prunes now),
the repositories, the passphrase, the ssh command, the archive naming (kept apart by
`archive_prefix`), the checks, and anything this module does not know.

One table (`CARRYABLE`) says which options are carried, in which 1.7 section they live and
from (and until) which borgmatic release: a release that does not know an option is not
given it. The table is a list of what may be carried, never of what may not, so an option
nobody thought of stays behind. `source_directories` is the inventory's: comparing the old
ones with it is the caller's business, so it is neither carried nor reasoned about here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from wizard.artefacts import borgmatic_versions as versions
from wizard.checks.fields import check_exclude_pattern
from wizard.takeover.borgmatic_options import ConfigOptions

Version = tuple[int, int, int]
OLDEST: Version = (1, 7, 0)


@dataclass(frozen=True)
class Carryable:
    """An option Borgkeep carries over: its 1.7 section (None when it came after 1.7, so
    only flat configs have it) and the releases that know it."""

    section: str | None
    since: Version = OLDEST
    until: Version | None = None
    """The last release that knows it (None: every release since)."""

    def missing_in(self, version: Version) -> str | None:
        """Why `version` cannot take this option, or None when it can."""
        if version < self.since:
            return f"needs borgmatic {_dotted(self.since)}"
        if self.until is not None and version > self.until:
            return f"borgmatic after {_dotted(self.until)} no longer has it"
        return None


def _options(section: str | None, names: str, since: Version = OLDEST) -> dict[str, Carryable]:
    return {name: Carryable(section, since) for name in names.split()}


CARRYABLE: Mapping[str, Carryable] = {
    # what goes into an archive, and how
    **_options(
        "location",
        """one_file_system exclude_caches exclude_if_present exclude_nodump exclude_patterns
        patterns patterns_from exclude_from keep_exclude_tags read_special numeric_ids atime
        ctime birthtime flags files_cache working_directory borgmatic_source_directory""",
    ),
    "source_directories_must_exist": Carryable("location", (1, 7, 10)),
    **_options(
        "storage",
        """compression checkpoint_interval chunker_params lock_wait retries retry_wait
        temporary_directory umask upload_rate_limit borg_cache_directory""",
    ),
    "checkpoint_volume": Carryable("storage", (1, 7, 8)),
    "borg_files_cache_ttl": Carryable("storage", (1, 7, 10)),
    "upload_buffer_size": Carryable(None, (1, 8, 12)),
    "borg_exit_codes": Carryable(None, (1, 8, 7)),
    # output and logging
    "color": Carryable("output"),
    **_options(
        None,
        """verbosity syslog_verbosity log_file log_file_verbosity log_file_format log_json
        monitoring_verbosity progress statistics list_details""",
        (2, 0, 0),
    ),
    **_options(None, "archive_list_format file_list_format", (2, 0, 13)),
    **_options(None, "user_runtime_directory user_state_directory", (1, 9, 0)),
    # command hooks (prune and compact ones stay behind: those actions run on the server)
    **_options(
        "hooks",
        """before_actions after_actions before_backup after_backup before_check after_check
        before_extract after_extract before_everything after_everything on_error""",
    ),
    "commands": Carryable(None, (2, 0, 0)),
    # database dumps
    **_options("hooks", "postgresql_databases mysql_databases mongodb_databases"),
    "sqlite_databases": Carryable("hooks", (1, 7, 9)),
    "mariadb_databases": Carryable(None, (1, 8, 2)),
    # monitoring
    **_options("hooks", "healthchecks cronitor pagerduty ntfy"),
    "cronhub": Carryable("hooks", OLDEST, (2, 1, 6)),
    "loki": Carryable(None, (1, 8, 3)),
    "apprise": Carryable(None, (1, 8, 4)),
    "uptime_kuma": Carryable(None, (1, 8, 13)),
    "zabbix": Carryable(None, (1, 9, 0)),
    "pushover": Carryable(None, (1, 9, 2)),
    "sentry": Carryable(None, (1, 9, 7)),
    # snapshots, config bootstrap and credentials the hooks above may read
    "store_config_files": Carryable(None, (1, 8, 1), (1, 9, 2)),
    **_options(None, "bootstrap zfs", (1, 9, 3)),
    **_options(None, "btrfs lvm", (1, 9, 4)),
    **_options(None, "container keepassxc", (1, 9, 11)),
    "systemd": Carryable(None, (2, 0, 9)),
}


def _same_reason(names: str, reason: str) -> dict[str, str]:
    return dict.fromkeys(names.split(), reason)


_PRUNE_ONLY = "prune and compact run on the backup server now"
_NOT_CARRIED: Mapping[str, str] = {
    "prefix": "Borgkeep names and selects archives by its archive prefix",
    "archive_name_format": "Borgkeep names archives by its archive prefix",
    "match_archives": "Borgkeep selects archives by its archive prefix",
    "glob_archives": "Borgkeep selects archives by its archive prefix",
    "encryption_passphrase": "Borgkeep reads the passphrase from its passphrase file",
    "encryption_passcommand": "Borgkeep reads the passphrase from its passphrase file",
    "ssh_command": "Borgkeep connects with its own key and known_hosts",
    "local_path": "Borgkeep runs the borg it found on the client",
    "remote_path": "that is the old server's borg; the backup server runs its own",
    "skip_actions": "Borgkeep skips prune and compact itself",
    "default_actions": "Borgkeep's schedule runs explicit actions",
    "checks": "Borgkeep sets the checks and their frequency",
    "check_last": "Borgkeep sets the checks and their frequency",
    "check_repositories": "Borgkeep sets the checks and their frequency",
    "before_prune": _PRUNE_ONLY,
    "after_prune": _PRUNE_ONLY,
    "before_compact": _PRUNE_ONLY,
    "after_compact": _PRUNE_ONLY,
    "compact_threshold": _PRUNE_ONLY,
    **_same_reason(
        """borg_base_directory borg_config_directory borg_security_directory
        borg_keys_directory borg_key_file""",
        "Borgkeep keeps borg's keys and security state where borg keeps them by default",
    ),
    **_same_reason(
        """relocated_repo_access_is_ok unknown_unencrypted_repo_access_is_ok
        check_i_know_what_i_am_doing""",
        "Borgkeep's repository needs no such exception",
    ),
    "extra_borg_options": "free-form borg flags could undo Borgkeep's settings; add them by hand",
}
_UNKNOWN = "Borgkeep does not know what it does; add it by hand if it is needed"
_SERVER_ACTIONS = frozenset({"prune", "compact"})


@dataclass(frozen=True)
class CarriedOptions:
    """The options a taken-over config hands to Borgkeep's client config (flat names, in
    the old config's order), for one borgmatic version, and why the rest stays behind."""

    borgmatic_version: str
    options: Mapping[str, object] = field(repr=False)
    """Values may hold passwords and ping URLs (database hooks, monitoring): no repr."""
    not_carried: tuple[str, ...] = ()
    """One line per option left behind, naming it and why, never its value."""


def carried_options(
    options: ConfigOptions, borgmatic_version: str, *, alerts: tuple[str, ...] = ()
) -> CarriedOptions:
    """What Borgkeep's client config for `borgmatic_version` carries over from `options`
    (an old config as `read_options` read it). `alerts` names the monitoring hooks
    Borgkeep sets itself ("healthchecks", "ntfy"): the old ones of those names stay behind."""
    version = versions.check_supported(borgmatic_version)
    reasons: dict[str, str] = {}
    carried: dict[str, object] = {}
    _named_reasons(options, reasons)
    for name, value in _old_values(options).items():
        if name in reasons or name == "source_directories":
            continue
        spec = CARRYABLE.get(name)
        if spec is None:
            reasons[name] = _reason_for(name)
            continue
        missing = spec.missing_in(version)
        if missing:
            reasons[name] = f"{missing} (this client runs {_dotted(version)})"
        elif name in alerts:
            reasons[name] = f"Borgkeep's own {name} alert replaces it"
        elif name == "exclude_patterns":
            kept = _excludes(value, reasons)
            if kept:
                carried[name] = kept
        elif name == "commands":
            kept = _commands(value, reasons)
            if kept:
                carried[name] = kept
        else:
            carried[name] = _plain(value)
    return CarriedOptions(borgmatic_version, carried, _reason_lines(reasons))


def merge_carried(
    config: Mapping[str, object], carried: CarriedOptions, borgmatic_version: str
) -> dict:
    """Borgkeep's rendered `config` with the carried options added in the shape of
    `borgmatic_version` (in their 1.7 sections, or flat). Borgkeep's own keys win: only
    `compression` replaces Borgkeep's default, and carried excludes are added to Borgkeep's.
    An option outside `CARRYABLE`, or one this version does not know, is an error."""
    version = versions.check_supported(borgmatic_version)
    if versions.parse_version(carried.borgmatic_version) != version:
        raise ValueError(
            f"carried: computed for borgmatic {carried.borgmatic_version}, not {borgmatic_version}"
        )
    sectioned = versions.is_sectioned(borgmatic_version)
    merged = {
        key: dict(value) if sectioned and isinstance(value, Mapping) else value
        for key, value in config.items()
    }
    for name, value in carried.options.items():
        spec = CARRYABLE.get(name)
        problem = "is not an option Borgkeep carries" if spec is None else spec.missing_in(version)
        if problem:
            raise ValueError(f"carried: {name}: {problem}")
        target = merged.setdefault(spec.section, {}) if sectioned else merged
        if name == "exclude_patterns":
            own = list(target.get(name, []))
            patterns = value if isinstance(value, list) else [value]
            for index, pattern in enumerate(patterns):
                check_exclude_pattern(f"carried: exclude_patterns[{index}]", pattern)
            target[name] = own + [pattern for pattern in patterns if pattern not in own]
        elif name == "compression" or name not in target:
            target[name] = _plain(value)
    return merged


def _named_reasons(options: ConfigOptions, reasons: dict[str, str]) -> None:
    """The reasons for the options `read_options` reads into fields of their own."""
    if options.repositories:
        shown = ", ".join(repository.display for repository in options.repositories)
        reasons["repositories"] = (
            f"Borgkeep's client backs up to this server's repository only; found {shown}"
        )
    for name in sorted(options.retention):
        reasons[name] = "the backup server prunes now, with the inventory's retention"
    naming = options.naming
    for name in ("archive_name_format", "prefix", "match_archives", "glob_archives"):
        if getattr(naming, name) is not None:
            reasons[name] = _NOT_CARRIED[name]
    if options.passphrase.source == "passcommand":
        reasons["encryption_passcommand"] = _NOT_CARRIED["encryption_passcommand"]
    elif options.passphrase.source != "none":
        reasons["encryption_passphrase"] = _NOT_CARRIED["encryption_passphrase"]
    if options.ssh_command is not None:
        reasons["ssh_command"] = _NOT_CARRIED["ssh_command"]
    if options.skip_actions:
        reasons["skip_actions"] = _NOT_CARRIED["skip_actions"]
    if not options.default_actions:
        reasons["default_actions"] = _NOT_CARRIED["default_actions"]
    if options.key_file is not None:
        reasons["borg_key_file"] = _NOT_CARRIED["borg_key_file"]


def _old_values(options: ConfigOptions) -> dict[str, object]:
    """Every option of the old config that has no field of its own, by its flat name. A 1.7
    `hooks:` section may hold any key (`read_options` keeps the whole section as hooks), so
    nothing here is trusted to be a hook because of where it was found."""
    found: dict[str, object] = {str(key): value for key, value in options.other.items()}
    found |= {str(key): value for key, value in options.hooks.items()}
    found |= {key: value for key, value in options.selection.items()}
    for name in ("compression", "one_file_system", "exclude_caches"):
        value = getattr(options, name)
        if value is not None:
            found[name] = value
    return found


def _reason_for(name: str) -> str:
    if name in _NOT_CARRIED:
        return _NOT_CARRIED[name]
    if name.startswith("keep_"):
        return "the backup server prunes now, with the inventory's retention"
    return _UNKNOWN


def _excludes(value: object, reasons: dict[str, str]) -> list[str]:
    if not isinstance(value, list):
        reasons["exclude_patterns"] = "not a list of patterns"
        return []
    kept = []
    for index, pattern in enumerate(value):
        field_name = f"exclude_patterns[{index}]"
        try:
            kept.append(check_exclude_pattern(field_name, pattern))
        except ValueError as error:
            reasons[field_name] = str(error).removeprefix(f"{field_name}: ")
    return kept


def _commands(value: object, reasons: dict[str, str]) -> object:
    """2.x `commands:` entries, without those that only run around prune or compact."""
    if not isinstance(value, list):
        return _plain(value)
    kept = [entry for entry in value if not _server_only(entry)]
    if len(kept) < len(value):
        dropped = len(value) - len(kept)
        reasons["commands"] = (
            f"{dropped} of {len(value)} entries, those only for prune or compact: {_PRUNE_ONLY}"
        )
    return _plain(kept)


def _server_only(entry: object) -> bool:
    when = entry.get("when") if isinstance(entry, Mapping) else None
    return isinstance(when, list) and bool(when) and set(map(str, when)) <= _SERVER_ACTIONS


def _plain(value: object) -> object:
    """A fresh copy in plain dicts and lists, sharing nothing (no YAML anchors in the output)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _reason_lines(reasons: Mapping[str, str]) -> tuple[str, ...]:
    """One line per reason, options that share a reason grouped (`keep_daily, keep_weekly`)."""
    grouped: dict[str, list[str]] = {}
    for name, reason in reasons.items():
        grouped.setdefault(reason, []).append(name)
    return tuple(f"{', '.join(names)}: not carried ({reason})" for reason, names in grouped.items())


def _dotted(version: Version) -> str:
    return ".".join(map(str, version))
