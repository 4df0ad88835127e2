"""Which borgmatic configs a login's borgmatic loads, in order, and what each one says.

borgmatic makes no difference between root and other logins (`config/collect.py`): with
no `-c` it reads `/etc/borgmatic/config.yaml`, every `*.yaml`/`*.yml` file directly in
`/etc/borgmatic.d` (sorted by name), then the same two under `$XDG_CONFIG_HOME` (default
`~/.config`). A default path that is missing is skipped, an unreadable default directory
too; a path given with `-c` must exist. For a non-root login the `/etc` ones usually are
missing or unreadable, so it loads its own.

Discovery takes what gather read (`HostFiles`) and says what it still needs: gather
reads `to_read` and lists `to_list`, then calls again, until `complete`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from wizard.artefacts.managed_block import is_managed_file
from wizard.takeover.borgmatic_options import ConfigOptions, read_options
from wizard.takeover.borgmatic_yaml import load_borgmatic_yaml
from wizard.takeover.host_files import HostFiles, PathState, absolute
from wizard.takeover.versions import Version, parse_version

CONFIG_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Login:
    """Who runs borgmatic: the account name, its home, and `XDG_CONFIG_HOME` if it is set
    (cron and systemd leave it unset, so the default is `~/.config`)."""

    user: str
    home: str
    xdg_config_home: str | None = None

    @property
    def is_root(self) -> bool:
        return self.user == "root"

    @property
    def config_home(self) -> str:
        return self.xdg_config_home or posixpath.join(self.home, ".config")


@dataclass(frozen=True)
class DiscoveryError:
    """A file discovery could not read as borgmatic would; the others are still read."""

    path: str
    message: str

    def __str__(self) -> str:
        return (
            self.message if self.message.startswith(self.path) else f"{self.path}: {self.message}"
        )

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": str(self)}


@dataclass(frozen=True)
class BorgmaticConfig:
    """One config file as borgmatic would run it, includes merged."""

    path: str
    includes: tuple[str, ...]
    managed_by_borgkeep: bool
    options: ConfigOptions

    def to_json(self) -> dict[str, object]:
        """What was found, for `plan --json`: never the passphrase, nor hook settings
        (database hooks hold passwords): hooks and other options by name only."""
        options = self.options
        return {
            "path": self.path,
            "includes": list(self.includes),
            "managed_by_borgkeep": self.managed_by_borgkeep,
            "sectioned": options.sectioned,
            "repositories": [repository.to_json() for repository in options.repositories],
            "retention": dict(options.retention),
            "archive_naming": options.naming.to_json(),
            "passphrase": options.passphrase.to_json(),
            "ssh_command": None if options.ssh_command is None else options.ssh_command.raw,
            "selection": dict(options.selection),
            "compression": options.compression,
            "one_file_system": options.one_file_system,
            "exclude_caches": options.exclude_caches,
            "hooks": sorted(options.hooks),
            "skip_actions": list(options.skip_actions),
            "key_file": options.key_file,
            "keys_directory": options.keys_directory,
            "other_options": sorted(options.other),
            "problems": list(options.problems),
        }


@dataclass(frozen=True)
class ConfigDiscovery:
    """Every config one borgmatic run would load, in its order, with what is still unread."""

    login: Login
    version: Version
    searched: tuple[str, ...]
    """The paths (files or directories) the configs were collected from, absolute."""
    config_paths: tuple[str, ...]
    configs: tuple[BorgmaticConfig, ...]
    errors: tuple[DiscoveryError, ...]
    to_read: tuple[str, ...]
    to_list: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.to_read and not self.to_list

    def config(self, path: str) -> BorgmaticConfig | None:
        return next((config for config in self.configs if config.path == path), None)

    def to_json(self) -> dict[str, object]:
        return {
            "login": self.login.user,
            "borgmatic_version": ".".join(map(str, self.version)),
            "config_paths": list(self.config_paths),
            "configs": [config.to_json() for config in self.configs],
            "errors": [error.to_json() for error in self.errors],
            "complete": self.complete,
        }


def default_config_paths(login: Login) -> tuple[str, ...]:
    """borgmatic's defaults for this login, files and directories, in its order."""
    return (
        "/etc/borgmatic/config.yaml",
        "/etc/borgmatic.d",
        posixpath.join(login.config_home, "borgmatic/config.yaml"),
        posixpath.join(login.config_home, "borgmatic.d"),
    )


def default_directories(login: Login) -> tuple[str, ...]:
    """The two default paths that are directories: gather lists these."""
    return default_config_paths(login)[1::2]


@dataclass(frozen=True)
class CollectedPaths:
    paths: tuple[str, ...]
    to_read: tuple[str, ...]
    to_list: tuple[str, ...]


def collect_config_paths(
    config_paths: Iterable[str], login: Login, files: HostFiles, cwd: str | None = None
) -> CollectedPaths:
    """The config files that `config_paths` (from `-c`, or the defaults) stand for, as
    borgmatic's `collect_config_filenames` resolves them. A path gather has not looked
    at yet is asked for: defaults ending in `.d` in `to_list`, the others in `to_read`
    (gather lists a `to_read` path that turns out to be a directory)."""
    defaults = default_config_paths(login)
    directories = default_directories(login)
    paths: list[str] = []
    to_read: list[str] = []
    to_list: list[str] = []
    for given in config_paths:
        path = absolute(given, cwd or login.home)
        state = files.state(path)
        skipped = (state is PathState.ABSENT and path in defaults) or (
            state is PathState.UNREADABLE and path in directories
        )
        if skipped:
            continue
        if state is PathState.UNKNOWN:
            (to_list if path in directories else to_read).append(path)
        elif state is PathState.DIRECTORY:
            for name in sorted(files.listings[path]):
                if name.endswith(CONFIG_SUFFIXES):
                    paths.append(posixpath.join(path, name))
        else:
            paths.append(path)
    return CollectedPaths(tuple(paths), tuple(to_read), tuple(to_list))


def discover_configs(
    files: HostFiles,
    login: Login,
    borgmatic_version: str,
    config_paths: Sequence[str] | None = None,
    cwd: str | None = None,
) -> ConfigDiscovery:
    """Every config borgmatic `borgmatic_version` loads for `login` (with `-c` paths when
    given), each parsed as that version parses it. Bad YAML, a missing include or an
    include loop is an error naming its file, and the other configs are still read."""
    version = parse_version(borgmatic_version)
    given = default_config_paths(login) if config_paths is None else tuple(config_paths)
    collected = collect_config_paths(given, login, files, cwd)
    configs: list[BorgmaticConfig] = []
    errors: list[DiscoveryError] = []
    to_read = list(collected.to_read)
    seen: set[str] = set()
    for path in collected.paths:
        if path in seen:
            continue
        seen.add(path)
        if files.state(path) is PathState.UNKNOWN:
            to_read.append(path)
            continue
        loaded = load_borgmatic_yaml(
            path, files, version=version, home=login.home, user=login.user, cwd=cwd or login.home
        )
        to_read.extend(candidate for candidate in loaded.to_read if candidate not in to_read)
        if loaded.error is not None:
            errors.append(DiscoveryError(path, loaded.error))
        elif not loaded.to_read and not isinstance(loaded.data, Mapping):
            errors.append(DiscoveryError(path, "the configuration does not contain any options"))
        elif not loaded.to_read:
            options = read_options(loaded.data, version, login.home)
            managed = is_managed_file(files.texts.get(path))
            configs.append(BorgmaticConfig(path, loaded.includes, managed, options))
    return ConfigDiscovery(
        login=login,
        version=version,
        searched=tuple(absolute(path, cwd or login.home) for path in given),
        config_paths=tuple(collected.paths),
        configs=tuple(configs),
        errors=tuple(errors),
        to_read=tuple(to_read),
        to_list=collected.to_list,
    )
