"""What one loaded borgmatic config says, as values a takeover can act on.

A 1.7 config nests its options in sections (location, storage, retention, consistency,
output, hooks); 1.8 made them flat and still reads sections, moving them to the top as
`normalize.py` does. So every config is flattened first, and each fact is then read in one
place. What no field names stays in `other`, so a later carry-over can say what it could
not carry. The passphrase is a secret: it is kept for the takeover but never printed.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from wizard.takeover.repository_urls import RepositoryLocation, parse_repository
from wizard.takeover.versions import (
    CONSTANTS_SINCE,
    DEFAULT_ARCHIVE_NAME_FORMAT,
    DEFAULT_PREFIX_BEFORE_MATCH_ARCHIVES,
    FLAT_OPTIONS_SINCE,
    LABELS_SINCE,
    PREFIX_DEFAULT_UNTIL,
    STRUCTURED_CONSTANTS_SINCE,
    Version,
)

SECTIONS = ("location", "storage", "retention", "consistency", "output", "hooks")
HOOK_OPTIONS = frozenset(
    """commands before_actions after_actions before_backup after_backup before_prune
    after_prune before_compact after_compact before_check after_check before_extract
    after_extract before_everything after_everything on_error postgresql_databases
    mariadb_databases mysql_databases mongodb_databases sqlite_databases healthchecks
    cronitor cronhub pagerduty ntfy pushover zabbix apprise uptime_kuma loki sentry btrfs
    zfs lvm bootstrap systemd""".split()  # noqa: SIM905
)
SELECTION_OPTIONS = (
    "source_directories",
    "exclude_patterns",
    "patterns",
    "exclude_from",
    "patterns_from",
    "exclude_if_present",
)
NAMED_OPTIONS = frozenset(
    {
        "repositories",
        "archive_name_format",
        "prefix",
        "match_archives",
        "glob_archives",
        "encryption_passphrase",
        "encryption_passcommand",
        "ssh_command",
        "compression",
        "one_file_system",
        "exclude_caches",
        "skip_actions",
        "default_actions",
        "borg_key_file",
        "borg_keys_directory",
        *SELECTION_OPTIONS,
    }
)
ENV_RE = re.compile(r"(?<!\\)\$\{(?P<name>[A-Za-z0-9_]+)(?::?-[^}]*)?\}")
CREDENTIAL_RE = re.compile(r"\{credential\s+(?P<spec>[^}]+)\}")
SSH_OPTIONS_WITH_VALUE = frozenset("BbcDEeFIiJLlmOoPpQRSWw")
CONSTANT_RE = re.compile(r"(?P<left>\\)?\{(?P<name>\w+)(?P<right>\\)?\}")


@dataclass(frozen=True)
class Passphrase:
    """Where a config's repository passphrase comes from; the secret itself never prints."""

    source: str
    """"config", "passcommand", "environment" (a `${VAR}` in the config), "credential"
    (borgmatic's `{credential ...}`), or "none" (borg's own environment decides)."""
    value: str | None = field(default=None, repr=False, compare=False)
    passcommand: str | None = None
    variable: str | None = None
    credential: str | None = None

    def describe(self) -> str:
        """For the plan and the wizard: where, never what."""
        if self.source == "config":
            return "passphrase in config"
        if self.source == "passcommand":
            return f"passphrase from `{self.passcommand}`"
        if self.source == "environment":
            return f"passphrase from ${self.variable}"
        if self.source == "credential":
            return f"passphrase from credential {self.credential}"
        return "no passphrase in config"

    __str__ = describe

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "passcommand": self.passcommand,
            "variable": self.variable,
            "credential": self.credential,
        }


@dataclass(frozen=True)
class SshCommand:
    """The `ssh_command` option, and what it tells ssh: the key, port, user, config file."""

    raw: str
    identity_files: tuple[str, ...] = ()
    port: int | None = None
    user: str | None = None
    config_file: str | None = None


@dataclass(frozen=True)
class ArchiveNaming:
    """How the config names its archives and which of them its prune and check select."""

    archive_name_format: str | None
    prefix: str | None
    match_archives: str | None
    glob_archives: str | None
    selects: str | None
    """The `sh:` pattern prune selects with (`{hostname}` as written), None for every
    archive in the repository, as that borgmatic version computes it."""

    def to_json(self) -> dict[str, object]:
        return {
            "archive_name_format": self.archive_name_format,
            "prefix": self.prefix,
            "match_archives": self.match_archives,
            "glob_archives": self.glob_archives,
            "selects": self.selects,
        }


@dataclass(frozen=True)
class ConfigOptions:
    """The options of one config, flattened, each fact in its own field."""

    sectioned: bool
    repositories: tuple[RepositoryLocation, ...]
    retention: Mapping[str, object]
    naming: ArchiveNaming
    passphrase: Passphrase
    ssh_command: SshCommand | None
    selection: Mapping[str, object]
    """source_directories, exclude_patterns, patterns, exclude_from, patterns_from,
    exclude_if_present: what goes into an archive."""
    compression: str | None
    one_file_system: bool | None
    exclude_caches: bool | None
    hooks: Mapping[str, object] = field(repr=False)
    """Command hooks, database dumps, monitoring: they may hold passwords, so no repr."""
    skip_actions: tuple[str, ...]
    default_actions: bool
    key_file: str | None
    """`borg_key_file` (2.1+): a keyfile repository's key, wherever it is."""
    keys_directory: str
    """Where borg looks for keyfile keys, from the config's directories (the job's
    BORG_KEYS_DIR, BORG_CONFIG_DIR or BORG_BASE_DIR apply when it sets none)."""
    other: Mapping[str, object] = field(repr=False)
    problems: tuple[str, ...]


def flatten_sections(
    data: Mapping[str, object], version: Version
) -> tuple[dict[str, object], dict[str, object], list[str]]:
    """Options at the top level, as borgmatic >= 1.8 normalises them, and the options of
    the `hooks:` section; 1.7's rules stated as problems (1.7 requires sections)."""
    problems: list[str] = []
    flat: dict[str, object] = {}
    hooks: dict[str, object] = {}
    present = [name for name in SECTIONS if isinstance(data.get(name), Mapping)]
    loose = [key for key in data if key not in SECTIONS]
    if version < FLAT_OPTIONS_SINCE and loose:
        problems.append(
            f"borgmatic {'.'.join(map(str, version))} expects sections and rejects "
            f"top-level {', '.join(sorted(map(str, loose)))}"
        )
    if version >= FLAT_OPTIONS_SINCE and present:
        problems.append("uses the deprecated sections (location:, storage:, ...)")
    retention = data.get("retention") if isinstance(data.get("retention"), Mapping) else {}
    consistency = data.get("consistency") if isinstance(data.get("consistency"), Mapping) else {}
    for key, value in data.items():
        if key not in SECTIONS:
            flat[key] = value
    for name in present:
        section = data[name]
        if name == "hooks":
            hooks.update(section)
        flat.update(section)
    check_prefix = consistency.get("prefix")
    if retention.get("prefix") is not None:
        flat["prefix"] = retention["prefix"]
        if check_prefix not in (None, retention["prefix"]):
            problems.append(
                "the retention and consistency prefixes differ (prune and check select "
                "different archives; borgmatic 1.8 refuses this config)"
            )
    return flat, hooks, problems


def parse_ssh_command(raw: str, home: str) -> SshCommand:
    """The identity files, port, user and config file an `ssh_command` passes to ssh."""
    try:
        words = shlex.split(raw)
    except ValueError:
        words = raw.split()
    identities: list[str] = []
    port: int | None = None
    user = config_file = None
    index = 1
    while index < len(words):
        word = words[index]
        index += 1
        if not word.startswith("-") or len(word) < 2 or word[1] not in SSH_OPTIONS_WITH_VALUE:
            continue
        value = word[2:]
        if not value and index < len(words):
            value, index = words[index], index + 1
        letter = word[1]
        if letter == "o":
            key, _, option_value = value.replace("=", " ", 1).partition(" ")
            letter = {"identityfile": "i", "port": "p", "user": "l"}.get(key.lower(), "")
            value = option_value.strip()
        if letter == "i":
            identities.append(home + value[1:] if value.startswith("~/") else value)
        elif letter == "p" and value.isdigit():
            port = int(value)
        elif letter == "l":
            user = value
        elif letter == "F":
            config_file = value
    return SshCommand(raw, tuple(identities), port, user, config_file)


def _passphrase(flat: Mapping[str, object]) -> Passphrase:
    secret = flat.get("encryption_passphrase")
    if secret is not None:
        text = str(secret)
        env = ENV_RE.fullmatch(text.strip())
        if env:
            return Passphrase("environment", text, variable=env["name"])
        credential = CREDENTIAL_RE.fullmatch(text.strip())
        if credential:
            return Passphrase("credential", text, credential=credential["spec"].strip())
        return Passphrase("config", text)
    command = flat.get("encryption_passcommand")
    if command is not None:
        return Passphrase("passcommand", passcommand=str(command))
    return Passphrase("none")


def _naming(flat: Mapping[str, object], version: Version) -> ArchiveNaming:
    name_format = _text(flat.get("archive_name_format"))
    prefix = _text(flat.get("prefix"))
    match = _text(flat.get("match_archives"))
    glob = _text(flat.get("glob_archives"))
    if version < PREFIX_DEFAULT_UNTIL:
        chosen = DEFAULT_PREFIX_BEFORE_MATCH_ARCHIVES if prefix is None else prefix
        selects = f"sh:{chosen}*" if chosen else None
    elif prefix:
        selects = f"sh:{prefix}*"
    elif match:
        selects = None if match in ("*", "re:.*", "sh:*") else match
    else:
        derived = re.sub(
            r"\{(now|utcnow|pid)([:%\w\.-]*)\}", "*", name_format or DEFAULT_ARCHIVE_NAME_FORMAT
        )
        selects = None if derived == "*" else f"sh:{derived}"
    return ArchiveNaming(name_format, prefix, match, glob, selects)


def _keys_directory(flat: Mapping[str, object], home: str) -> str:
    """borg's keys directory as borgmatic's options set it (BORG_KEYS_DIR, else
    BORG_CONFIG_DIR/keys, else BORG_BASE_DIR/.config/borg/keys, else the home's)."""
    if flat.get("borg_keys_directory"):
        return str(flat["borg_keys_directory"])
    if flat.get("borg_config_directory"):
        return posixpath.join(str(flat["borg_config_directory"]), "keys")
    base = str(flat.get("borg_base_directory") or home)
    return posixpath.join(base, ".config", "borg", "keys")


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _repositories(
    flat: Mapping[str, object], version: Version, home: str, problems: list[str]
) -> tuple[RepositoryLocation, ...]:
    found = []
    entries = flat.get("repositories") or []
    if not isinstance(entries, list):
        problems.append(f"repositories is not a list: {entries!r}")
        entries = []
    for entry in entries:
        label = None
        if isinstance(entry, Mapping):
            if version < LABELS_SINCE:
                problems.append("repositories as path/label mappings need borgmatic 1.7.10")
            label = _text(entry.get("label"))
            entry = entry.get("path")
        if not isinstance(entry, str):
            problems.append(f"a repository without a path: {entry!r}")
            continue
        try:
            found.append(parse_repository(entry, label, home=home))
        except ValueError as error:
            problems.append(str(error))
    return tuple(found)


def apply_constants(data: Mapping[str, object], version: Version) -> Mapping[str, object]:
    """The config with its `constants:` put in place of `{name}`, as borgmatic does before
    anything else reads it (and without the `constants` option itself)."""
    constants = data.get("constants")
    if version < CONSTANTS_SINCE or not isinstance(constants, Mapping) or not constants:
        return data
    coerce = version >= STRUCTURED_CONSTANTS_SINCE

    def substitute(match: re.Match) -> str:
        if match["left"] and match["right"]:
            return "{" + match["name"] + "}"
        value = constants.get(match["name"])
        return match[0] if value is None else str(value)

    def apply(value: object) -> object:
        if isinstance(value, str):
            text = CONSTANT_RE.sub(substitute, value)
            return _coerce(text) if coerce else text
        if isinstance(value, list):
            return [apply(item) for item in value]
        if isinstance(value, Mapping):
            return {key: apply(item) for key, item in value.items()}
        return value

    return {key: apply(value) for key, value in data.items() if key != "constants"}


def _coerce(text: str) -> object:
    """borgmatic's `coerce_scalar`: "7" is 7 and "true" is True once constants applied."""
    try:
        return int(text)
    except ValueError:
        return {"true": True, "True": True, "false": False, "False": False}.get(text, text)


def read_options(data: object, version: Version, home: str) -> ConfigOptions:
    """Every fact of one loaded config (the value `load_borgmatic_yaml` returned)."""
    if not isinstance(data, Mapping):
        data = {}
    data = apply_constants(data, version)
    flat, section_hooks, problems = flatten_sections(data, version)
    hooks = {key: value for key, value in flat.items() if key in HOOK_OPTIONS} | section_hooks
    retention = {
        key: value
        for key, value in flat.items()
        if key.startswith("keep_") and key != "keep_exclude_tags"
    }
    ssh = flat.get("ssh_command")
    skip = flat.get("skip_actions") or []
    other = {
        key: value
        for key, value in flat.items()
        if key not in NAMED_OPTIONS and key not in hooks and key not in retention
    }
    return ConfigOptions(
        sectioned=any(isinstance(data.get(name), Mapping) for name in SECTIONS),
        repositories=_repositories(flat, version, home, problems),
        retention=retention,
        naming=_naming(flat, version),
        passphrase=_passphrase(flat),
        ssh_command=None if ssh is None else parse_ssh_command(str(ssh), home),
        selection={key: flat[key] for key in SELECTION_OPTIONS if key in flat},
        compression=_text(flat.get("compression")),
        one_file_system=flat.get("one_file_system"),
        exclude_caches=flat.get("exclude_caches"),
        hooks=hooks,
        skip_actions=tuple(str(action) for action in skip) if isinstance(skip, list) else (),
        default_actions=flat.get("default_actions", True) is not False,
        key_file=_text(flat.get("borg_key_file")),
        keys_directory=_keys_directory(flat, home),
        other=other,
        problems=tuple(problems),
    )
