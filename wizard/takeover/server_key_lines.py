"""The server's authorized_keys lines that carry the clients' keys, and what each one allows.

An existing fleet usually gives each client key `command="borg serve --restrict-to-path
DIR"`: read-write, so the client can delete and compact its history for good. Each line
is read as sshd and `borg serve` read it (the first line with a key is the one sshd uses;
`--restrict-to-path` allows a directory and everything below it, `--restrict-to-repository`
exactly one repository, both when both are given) and classified, so the takeover can
convert it and the plan can say what it was.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from wizard.artefacts.authorized_keys import parse_public_key
from wizard.artefacts.authorized_keys_audit import KeyLine, key_lines, split_options
from wizard.checks.fields import FieldError
from wizard.takeover.command_lines import find_invocations

APPEND_ONLY = "append-only"
READ_WRITE = "read-write"
SHELL = "shell"
OTHER_COMMAND = "other command"


@dataclass(frozen=True)
class ServeCommand:
    """A forced `borg serve` and the limits it sets."""

    borg_path: str
    append_only: bool
    restrict_to_paths: tuple[str, ...]
    restrict_to_repositories: tuple[str, ...]
    storage_quota: str | None


def parse_serve_command(command: str) -> ServeCommand | None:
    """The `borg serve` a forced command runs (through `cd`, wrappers, `&&`), or None."""
    for invocation in find_invocations(command, None):
        if invocation.program == "borg" and invocation.actions == ("serve",):
            words = list(invocation.argv)
            arguments = words[words.index("serve") + 1 :]
            return _serve(invocation.path, arguments)
    return None


def _serve(borg_path: str, arguments: list[str]) -> ServeCommand:
    values: dict[str, list[str]] = {}
    index = 0
    while index < len(arguments):
        option, has_value, value = arguments[index].partition("=")
        index += 1
        if option in ("--restrict-to-path", "--restrict-to-repository", "--storage-quota"):
            if not has_value and index < len(arguments):
                value, index = arguments[index], index + 1
            values.setdefault(option, []).append(value)
    quota = values.get("--storage-quota", [None])[-1]
    return ServeCommand(
        borg_path=borg_path,
        append_only="--append-only" in arguments,
        restrict_to_paths=tuple(values.get("--restrict-to-path", [])),
        restrict_to_repositories=tuple(values.get("--restrict-to-repository", [])),
        storage_quota=quota,
    )


def server_side_path(path: str, home: str) -> str:
    """A repository path as `borg serve` resolves it in the account's `home` (borg 1.x:
    `~/x`, `/~/x`, `/./x` and relative paths are the home's; symlinks are not followed)."""
    for prefix in ("/~/", "~/", "/./"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    else:
        if path in ("~", "/~"):
            path = ""
    return posixpath.normpath(posixpath.join(home, path))


@dataclass(frozen=True)
class ServerKeyLine:
    """One authorized_keys line with a client's key, as sshd and borg serve read it."""

    number: int
    client: str
    key_type: str
    comment: str
    options: tuple[str, ...]
    """Every option but `command=` (`restrict`, `from="..."`, ...)."""
    forced_command: str | None
    serve: ServeCommand | None
    in_borgkeep_block: bool
    used_by_sshd: bool
    """The first line carrying this key: the one sshd uses."""

    @property
    def access(self) -> str:
        """ "append-only", "read-write" (borg serve that may delete), "shell" (no forced
        command: the key runs anything) or "other command"."""
        if self.forced_command is None:
            return SHELL
        if self.serve is None:
            return OTHER_COMMAND
        return APPEND_ONLY if self.serve.append_only else READ_WRITE

    def reaches(self, repository_path: str, home: str) -> bool:
        """Whether this line lets its key open the repository at `repository_path`."""
        if self.access == OTHER_COMMAND:
            return False
        if self.serve is None:
            return True
        wanted = server_side_path(repository_path, home).rstrip("/") + "/"
        paths = [server_side_path(p, home).rstrip("/") + "/" for p in self.serve.restrict_to_paths]
        repositories = [
            server_side_path(p, home).rstrip("/") + "/" for p in self.serve.restrict_to_repositories
        ]
        if paths and not any(wanted.startswith(path) for path in paths):
            return False
        return not repositories or wanted in repositories

    @property
    def reach(self) -> str:
        """What the line lets its key open, in words."""
        if self.access == SHELL:
            return "anything the account can (no forced command)"
        if self.serve is None:
            return "only its forced command"
        limits = [f"below {p}" for p in self.serve.restrict_to_paths] + [
            f"exactly {p}" for p in self.serve.restrict_to_repositories
        ]
        return ", ".join(limits) or "every repository the account can write"

    def describe(self) -> str:
        where = "in Borgkeep's block" if self.in_borgkeep_block else "outside Borgkeep's block"
        shadow = "" if self.used_by_sshd else ", not used (an earlier line has the key)"
        return f"line {self.number}: {self.access} key line of {self.client}, {where}{shadow}; reaches {self.reach}"

    def to_json(self) -> dict[str, object]:
        return {
            "line": self.number,
            "client": self.client,
            "access": self.access,
            "options": list(self.options),
            "forced_command": self.forced_command,
            "restrict_to_paths": list(self.serve.restrict_to_paths) if self.serve else [],
            "restrict_to_repositories": (
                list(self.serve.restrict_to_repositories) if self.serve else []
            ),
            "storage_quota": self.serve.storage_quota if self.serve else None,
            "in_borgkeep_block": self.in_borgkeep_block,
            "used_by_sshd": self.used_by_sshd,
        }


@dataclass(frozen=True)
class KeyLineDiscovery:
    """The client key lines of one authorized_keys file, and every other read-write line."""

    lines: tuple[ServerKeyLine, ...]
    other_read_write: tuple[int, ...]
    """Line numbers of `borg serve` without `--append-only` for keys of no given client."""
    errors: tuple[str, ...]

    def for_client(self, client: str) -> tuple[ServerKeyLine, ...]:
        return tuple(line for line in self.lines if line.client == client)

    def to_json(self) -> dict[str, object]:
        return {
            "lines": [line.to_json() for line in self.lines],
            "other_read_write_lines": list(self.other_read_write),
            "errors": list(self.errors),
        }


def _options_without_command(line: KeyLine) -> tuple[str, ...]:
    return tuple(
        option
        for option in split_options(line.options)
        if option.partition("=")[0].strip().lower() != "command"
    )


def find_client_key_lines(
    authorized_keys: str | None, client_keys: Mapping[str, Sequence[str]]
) -> KeyLineDiscovery:
    """Every line of `authorized_keys` that carries a key of a client. `client_keys`:
    client -> its public key lines (`TYPE BASE64 [comment]`); a bad one is an error value."""
    owner: dict[str, str] = {}
    errors: list[str] = []
    for client, keys in client_keys.items():
        for text in keys:
            try:
                owner[parse_public_key(text, f"public key of {client}").base64_blob] = client
            except FieldError as error:
                errors.append(str(error))
    seen: set[str] = set()
    found: list[ServerKeyLine] = []
    others: list[int] = []
    for line in key_lines(authorized_keys):
        first = line.blob not in seen
        seen.add(line.blob)
        command = line.forced_command
        serve = None if command is None else parse_serve_command(command)
        client = owner.get(line.blob)
        if client is None:
            if serve is not None and not serve.append_only:
                others.append(line.number)
            continue
        found.append(
            ServerKeyLine(
                number=line.number,
                client=client,
                key_type=line.key_type,
                comment=line.comment,
                options=_options_without_command(line),
                forced_command=command,
                serve=serve,
                in_borgkeep_block=line.in_block,
                used_by_sshd=first,
            )
        )
    return KeyLineDiscovery(tuple(found), tuple(others), tuple(errors))
