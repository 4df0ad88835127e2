"""The remote scripts that make one write change (a file written or deleted, a directory,
a crontab), each with the account it runs as and its stdin: pure, for the executor."""

from __future__ import annotations

from wizard.pipeline.identity import HostIdentity
from wizard.pipeline.plan_change import Change, sha256_text
from wizard.remote import scripts
from wizard.remote.identity import RunAs


def write_units(
    change: Change, identity: HostIdentity, content: str | None
) -> list[tuple[RunAs, str, bytes | None]]:
    """`content` is a file's final content (placeholders filled in); ValueError for a change
    that is not a write."""
    if change.kind == "file" and change.action == "delete":
        script = scripts.delete_file_script(
            change.path, change.old_sha256, identity.base(change.path)
        )
        return [(identity.as_user(change.owner), script, None)]
    if change.kind == "file":
        content = content or ""
        script = scripts.write_file_script(
            change.path,
            change.old_sha256,
            change.mode,
            sha256_text(content),
            identity.base(change.path),
            change.dir_mode or 0o700,
            change.group,
        )
        data = content.encode("utf-8", "surrogateescape")
        return [(identity.as_user(change.owner), script, data)]
    if change.kind == "dir":
        owner = identity.as_user(change.owner)
        units = []
        if identity.controller(change.path) != change.owner:
            script = scripts.create_dir_as_root_script(
                change.path, change.mode, change.owner, change.group
            )
            units.append((identity.admin, script, None))
        script = scripts.ensure_dir_script(change.path, change.mode, identity.base(change.path))
        return [*units, (owner, script, None)]
    if change.kind == "crontab":
        script = scripts.install_crontab_script(
            change.owner, change.old_sha256, sha256_text(change.new or "")
        )
        return [(identity.as_user(change.owner), script, (change.new or "").encode())]
    raise ValueError(f"unknown change kind {change.kind}")
