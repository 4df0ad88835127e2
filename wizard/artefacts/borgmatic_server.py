"""The server-side borgmatic config that prunes (and compacts) one client's repository.

It runs as the borg user against the local repository path, with the retention that the
client config deliberately lacks, and matches only that client's archive names.
"""

from __future__ import annotations

from wizard.artefacts import borgmatic_versions as versions
from wizard.artefacts.borgmatic_client import (
    archive_match_glob,
    encryption_passcommand,
    guard_hook,
    naming_prefix,
    render_managed_yaml,
)
from wizard.checks.fields import (
    RETENTION_KEYS,
    check_absolute_path,
    check_name,
    check_retention,
)

PRUNE_LOCK_WAIT_SECONDS = 600
"""A prune that overlaps a client's backup waits for the repository lock instead of failing."""
_SERVER_GUARD = "this server-side config only runs prune and compact, never {action}"


def _ordered_retention(retention: dict[str, int]) -> dict[str, int | str]:
    checked = check_retention("retention", retention, require_positive=True)
    order = ("keep_within", *[key for key in RETENTION_KEYS if key != "keep_within"])
    return {key: checked[key] for key in order if key in checked}


def render_server_prune_config(
    *,
    borgmatic_version: str,
    client_name: str,
    repository_path: str,
    passphrase_file: str,
    retention: dict[str, int],
    borg_path: str,
    archive_prefix: str | None = None,
) -> str:
    """The prune config for one client's repository, for the server's borgmatic version;
    borgmatic runs the server's borg by its absolute path (`local_path`). `archive_prefix`
    (a literal such as "web01-") selects the client's archives instead of `<client_name>-`,
    as the client config names them."""
    name = check_name("client_name", client_name)
    repository = check_absolute_path("repository_path", repository_path)
    passcommand = encryption_passcommand(passphrase_file)
    keep = _ordered_retention(retention)
    local_path = check_absolute_path("borg_path", borg_path)

    if versions.is_sectioned(borgmatic_version):
        storage: dict = {
            "encryption_passcommand": passcommand,
            "lock_wait": PRUNE_LOCK_WAIT_SECONDS,
        }
        retention_section: dict = dict(keep)
        if versions.supports_match_archives(borgmatic_version):
            storage["match_archives"] = archive_match_glob(name, archive_prefix)
        else:
            retention_section["prefix"] = naming_prefix(name, archive_prefix)
        config = {
            "location": {"repositories": [repository], "local_path": local_path},
            "storage": storage,
            "retention": retention_section,
            "hooks": {
                "before_backup": [guard_hook(_SERVER_GUARD.format(action="create"))],
                "before_check": [guard_hook(_SERVER_GUARD.format(action="check"))],
            },
        }
        return render_managed_yaml(config)

    config: dict = {
        "repositories": [{"path": repository, "label": name}],
        "local_path": local_path,
        "encryption_passcommand": passcommand,
        "lock_wait": PRUNE_LOCK_WAIT_SECONDS,
        **keep,
        "match_archives": archive_match_glob(name, archive_prefix),
    }
    if versions.supports_skip_actions(borgmatic_version):
        config["skip_actions"] = ["create", "check"]
    else:
        config["before_backup"] = [guard_hook(_SERVER_GUARD.format(action="create"))]
        config["before_check"] = [guard_hook(_SERVER_GUARD.format(action="check"))]
    return render_managed_yaml(config)
