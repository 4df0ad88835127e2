"""The remote scripts that make one write change (a file written or deleted, a directory,
a crontab), each with the account it runs as and its stdin: pure, for the executor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from wizard.pipeline.identity import HostIdentity
from wizard.pipeline.plan_change import Change, sha256_text
from wizard.remote import scripts
from wizard.remote.identity import RunAs


@dataclass(frozen=True)
class WriteUnit:
    """One script of a write change: the change it belongs to (done when its last unit
    ran), the account it runs as, the script and its stdin (a file's content)."""

    change: Change
    run_as: RunAs
    script: str
    stdin: bytes | None = None


def write_units(change: Change, identity: HostIdentity, content: str | None) -> list[WriteUnit]:
    """`content` is a file's final content (placeholders filled in, `final_content`);
    ValueError for a change that is not a write."""
    if change.kind == "file" and change.action == "delete":
        script = scripts.delete_file_script(
            change.path, change.old_sha256, identity.base(change.path)
        )
        return [WriteUnit(change, identity.as_user(change.owner), script)]
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
        return [WriteUnit(change, identity.as_user(change.owner), script, data)]
    if change.kind == "dir":
        owner = identity.as_user(change.owner)
        units = []
        if identity.controller(change.path) != change.owner:
            script = scripts.create_dir_as_root_script(
                change.path, change.mode, change.owner, change.group
            )
            units.append(WriteUnit(change, identity.admin, script))
        script = scripts.ensure_dir_script(change.path, change.mode, identity.base(change.path))
        return [*units, WriteUnit(change, owner, script)]
    if change.kind == "crontab":
        script = scripts.install_crontab_script(
            change.owner, change.old_sha256, sha256_text(change.new or "")
        )
        data = (change.new or "").encode()
        return [WriteUnit(change, identity.as_user(change.owner), script, data)]
    raise ValueError(f"unknown change kind {change.kind}")


def final_content(
    change: Change,
    placeholders: Mapping[str, str],
    kept_keys: Mapping[str, str],
    generated_keys: Mapping[str, str],
) -> str:
    """A file's planned content with the placeholders (blob -> client) of keys generated
    during apply filled in, the key a rotation replaces kept where its client's generation
    failed (`kept_keys`), and other lines of such clients left out. Nothing else differs."""
    content = change.new or ""
    for blob, client in placeholders.items():
        if blob not in content:
            continue
        real = generated_keys.get(client)
        if real:
            content = content.replace(blob, real.split()[1])
        elif blob in kept_keys:
            content = content.replace(blob, kept_keys[blob])
        else:
            content = "".join(
                line for line in content.splitlines(keepends=True) if blob not in line
            )
    return content
