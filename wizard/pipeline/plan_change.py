"""One change of a plan: what it acts on, what it saw there and what it makes of it.

A change records what it saw (the old content's hash) so that apply can refuse a file that
changed since the plan was shown. Secrets never enter a diff, the JSON form or a plan file.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field


def sha256_text(text: str | None) -> str | None:
    return (
        None
        if text is None
        else hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    )


def change_target(path: str | None, action: str, args: dict) -> str:
    """What a change acts on: its path, or the command (with the file it acts on, for
    commands that take one: two configs retired on one host are two changes)."""
    if path:
        return path
    return f"{action} {args['path']}" if isinstance(args.get("path"), str) else action


@dataclass
class Change:
    """One step of the plan. `kind` is what it acts on (file, dir, crontab, command);
    `action` is what happens to it: create, update or permissions (mode/owner only) for
    paths, `delete` for a file that must go, and the command's name (generate-key,
    create-user, init-repo, ...) for commands."""

    host: str
    phase: int
    kind: str
    action: str
    path: str | None
    description: str
    old: str | None = None
    new: str | None = None
    old_sha256: str | None = None
    new_sha256: str | None = None
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    dir_mode: int | None = None
    secret: bool = False
    redacted: bool = False
    """Parts of the content are secrets (alert URLs): the diff hides them, plan files too."""
    args: dict = field(default_factory=dict)
    diff: str = ""
    warnings: list[str] = field(default_factory=list)
    secret_args: dict = field(default_factory=dict, repr=False)
    """A command's arguments that never leave the process (`DesiredCommand.secret_args`)."""

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of a change across two plans of the same fleet."""
        return (self.host, self.kind, change_target(self.path, self.action, self.args))

    @property
    def title(self) -> str:
        """`update /etc/x.yaml`, `run generate-key`: what the operator reads first."""
        return f"run {self.action}" if self.kind == "command" else f"{self.action} {self.path}"

    def public_dict(self) -> dict:
        """Everything but secret content: safe for JSON output and plan files."""
        data = asdict(self)
        del data["secret_args"]
        if self.redacted:
            data["old"] = data["new"] = None
        if self.secret:
            data["old"] = None
            data["new"] = None
            data["old_sha256"] = None if self.old is None else "<secret>"
            data["new_sha256"] = None
        return data
