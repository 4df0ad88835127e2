"""The client's borgmatic config: create + check only, never prune.

Retention lives on the server (a client key is append-only, so it could not prune anyway,
and a compromised client must not be able to). Archive names carry the client's literal
name (or the literal `archive_prefix` of archives an earlier config named), never
`{hostname}`: the server prunes them, and there `{hostname}` would expand to the server's
own name. What a taken-over config did (hooks, database dumps, ...) comes in as `carried`
options (`carried_options.py`), merged under Borgkeep's own keys.

The naming helpers (`archive_name_format`, `archive_match_glob`, `archive_prefix`) live
here because the client is what creates the archives; the server config imports them so
both sides always agree on the names.
"""

from __future__ import annotations

import re
import shlex

import yaml

from wizard.artefacts import borgmatic_versions as versions
from wizard.artefacts.carried_options import CarriedOptions, merge_carried
from wizard.artefacts.client_ssh import client_ssh_command
from wizard.artefacts.managed_block import MANAGED_HEADER
from wizard.checks.fields import (
    check_absolute_path,
    check_alert_url,
    check_exclude_pattern,
    check_name,
    check_source_directory,
    split_ntfy_url,
)
from wizard.checks.fields import check_archive_prefix as check_inventory_archive_prefix

COMPRESSION = "auto,zstd"

_SSH_URL_RE = re.compile(
    r"ssh://(?:[a-z_][a-z0-9_-]{0,31}@)?"
    r"(?:[A-Za-z0-9_][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\])"
    r"(?::[0-9]{1,5})?"
    r"(?P<path>/.*)\Z"
)

_FREQUENCY_RE = re.compile(r"always|[1-9][0-9]{0,4} (?:second|minute|hour|day|week|month|year)s?\Z")


_CLIENT_GUARD = "{action} runs on the backup server, not here; run explicit actions: create check"


def check_archive_prefix(value: object) -> str:
    """A literal start of archive names (`web01-`), kept when taking over archives that an
    earlier config named: no `{placeholders}`, which the server would expand to its own.
    The inventory's own rule (`wizard.checks.fields.check_archive_prefix`)."""
    return check_inventory_archive_prefix("archive_prefix", value)


def naming_prefix(client_name: str, archive_prefix: str | None = None) -> str:
    """The literal start of this client's archive names: `archive_prefix` when given, else
    `<client_name>-`."""
    name = check_name("client_name", client_name)
    return f"{name}-" if archive_prefix is None else check_archive_prefix(archive_prefix)


def archive_name_format(client_name: str, archive_prefix: str | None = None) -> str:
    """Archive names start with a literal prefix so the server can tell them apart."""
    return f"{naming_prefix(client_name, archive_prefix)}{{now:%Y-%m-%dT%H:%M:%S}}"


def archive_match_glob(client_name: str, archive_prefix: str | None = None) -> str:
    """The `match_archives` value (borgmatic >= 1.7.11) selecting only this client's archives."""
    return f"sh:{naming_prefix(client_name, archive_prefix)}*"


def archive_prefix(client_name: str, archive_prefix: str | None = None) -> str:
    """The `prefix` value (borgmatic < 1.7.11) selecting only this client's archives."""
    return naming_prefix(client_name, archive_prefix)


def check_repository_url(field: str, value: object) -> str:
    """A local absolute path, or `ssh://[user@]host[:port]/absolute/path` with a safe path."""
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected a repository URL or path")
    if value.startswith("/"):
        return check_absolute_path(field, value)
    match = _SSH_URL_RE.match(value)
    if match is None:
        raise ValueError(
            f"{field}: {value!r} is not an absolute path or ssh://[user@]host[:port]/path URL"
        )
    check_absolute_path(field, match["path"])
    return value


def encryption_passcommand(passphrase_file: str) -> str:
    """Borg reads the passphrase from the command's stdout, so it never sits in the config."""
    return f"cat {shlex.quote(check_absolute_path('passphrase_file', passphrase_file))}"


def guard_hook(message: str) -> str:
    """A hook command that fails loudly, standing in for `skip_actions` before borgmatic 1.8.5."""
    return f"echo {shlex.quote('borgkeep: ' + message)} >&2; exit 1"


def render_managed_yaml(config: dict) -> str:
    """Dump a config with a stable key order under the one managed-file header."""
    return MANAGED_HEADER + yaml.safe_dump(
        config, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )


def _checks(check_frequency: str) -> list[dict[str, str]]:
    if not isinstance(check_frequency, str) or not _FREQUENCY_RE.match(check_frequency):
        raise ValueError(
            f"check_frequency: {check_frequency!r} is not like '2 weeks', '1 month' or 'always'"
        )
    return [
        {"name": "repository", "frequency": check_frequency},
        {"name": "archives", "frequency": check_frequency},
    ]


def monitoring_hooks(client_name: str, healthchecks: str | None, ntfy: str | None) -> dict:
    """borgmatic's own monitoring hooks, pinged on failure only: a failed backup is reported
    at once, and one client's success never masks another's failure (they share the check).
    The same keys in 1.7 (under `hooks:`) and in >= 1.8 (top level)."""
    hooks: dict = {}
    if healthchecks:
        hooks["healthchecks"] = {
            "ping_url": check_alert_url("alerts.healthchecks", healthchecks),
            "states": ["fail"],
        }
    if ntfy:
        server, topic = split_ntfy_url(ntfy)
        hooks["ntfy"] = {
            "topic": topic,
            "server": server,
            "fail": {
                "title": f"borgkeep: backup of {check_name('client_name', client_name)} failed",
                "message": f"borgmatic on {client_name} failed; see its log.",
                "tags": "rotating_light",
            },
            "states": ["fail"],
        }
    return hooks


def render_client_config(
    *,
    borgmatic_version: str,
    client_name: str,
    source_directories: list[str],
    exclude_patterns: list[str],
    repository_url: str,
    passphrase_file: str,
    ssh_key_file: str,
    known_hosts_file: str,
    borg_path: str,
    check_frequency: str = "2 weeks",
    healthchecks: str | None = None,
    ntfy: str | None = None,
    archive_prefix: str | None = None,
    carried: CarriedOptions | None = None,
) -> str:
    """The client's borgmatic config for the borgmatic version installed on that client.

    `borg_path` is the borg the facts found: borgmatic runs it by that absolute path
    (`local_path`), so cron's short PATH can neither miss it nor pick another one.
    `archive_prefix` (a literal such as "web01-") replaces `<client_name>-` in the archive
    names, for archives an earlier config named. `carried` (from `carried_options`) adds
    what a taken-over config did; Borgkeep's own keys always win over it."""
    name = check_name("client_name", client_name)
    if not source_directories:
        raise ValueError("source_directories: at least one directory is needed")
    sources = [
        check_source_directory(f"source_directories[{i}]", path)
        for i, path in enumerate(source_directories)
    ]
    excludes = [
        check_exclude_pattern(f"exclude_patterns[{i}]", pattern)
        for i, pattern in enumerate(exclude_patterns)
    ]
    repository = check_repository_url("repository_url", repository_url)
    passcommand = encryption_passcommand(passphrase_file)
    ssh_command = client_ssh_command(ssh_key_file, known_hosts_file)
    checks = _checks(check_frequency)
    monitoring = monitoring_hooks(name, healthchecks, ntfy)
    local_path = check_absolute_path("borg_path", borg_path)

    if versions.is_sectioned(borgmatic_version):
        location: dict = {
            "source_directories": sources,
            "repositories": [repository],
            "local_path": local_path,
        }
        if excludes:
            location["exclude_patterns"] = excludes
        storage: dict = {
            "encryption_passcommand": passcommand,
            "compression": COMPRESSION,
            "archive_name_format": archive_name_format(name, archive_prefix),
            "ssh_command": ssh_command,
        }
        consistency: dict = {"checks": checks}
        if versions.supports_match_archives(borgmatic_version):
            storage["match_archives"] = archive_match_glob(name, archive_prefix)
        else:
            consistency["prefix"] = naming_prefix(name, archive_prefix)
        config = {
            "location": location,
            "storage": storage,
            "consistency": consistency,
            "hooks": {
                "before_prune": [guard_hook(_CLIENT_GUARD.format(action="prune"))],
                "before_compact": [guard_hook(_CLIENT_GUARD.format(action="compact"))],
                **monitoring,
            },
        }
        if carried is not None:
            config = merge_carried(config, carried, borgmatic_version)
        return render_managed_yaml(config)

    config = {"source_directories": sources}
    if excludes:
        config["exclude_patterns"] = excludes
    config |= {
        "repositories": [{"path": repository, "label": name}],
        "local_path": local_path,
        "encryption_passcommand": passcommand,
        "compression": COMPRESSION,
        "archive_name_format": archive_name_format(name, archive_prefix),
        "match_archives": archive_match_glob(name, archive_prefix),
        "ssh_command": ssh_command,
        "checks": checks,
    }
    if versions.supports_skip_actions(borgmatic_version):
        config["skip_actions"] = ["prune", "compact"]
    else:
        config["before_prune"] = [guard_hook(_CLIENT_GUARD.format(action="prune"))]
        config["before_compact"] = [guard_hook(_CLIENT_GUARD.format(action="compact"))]
    config |= monitoring
    if carried is not None:
        config = merge_carried(config, carried, borgmatic_version)
    return render_managed_yaml(config)
