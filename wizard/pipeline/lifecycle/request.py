"""What the operator asks of one client later in its life, checked before any connection,
and the plan that answers it.

`LifecycleRequest` is the same for the command line and the wizard: retire a client
(`remove`), give it a new key (`rotate-key`), get out of a guard refusal (`recover`), or
bring a file back (`restore`). `LifecyclePlan` is an ordinary `Plan` (the diffs, applied
by the same executor) with what the operator should read beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from wizard.inventory.validation import (
    FieldError,
    check_absolute_path,
    check_name,
    check_source_directory,
)
from wizard.pipeline.plan import Plan

ACTIONS = ("remove", "rotate-key", "recover", "restore")
RECOVER_MODES = ("acknowledge", "rollback")
RESTORE_ROOT = "/var/tmp"
_ARCHIVE_NAME_RE = re.compile(r"[^\x00-\x1f\x7f/]+\Z")


class LifecycleRefused(Exception):
    """The request cannot be planned as asked (one line, naming the client); nothing ran."""


@dataclass(frozen=True)
class LifecycleRequest:
    action: str
    client: str
    purge: bool = False
    """remove: delete the repository and its archives too."""
    mode: str | None = None
    """recover: `acknowledge` or `rollback`; None shows what vanished and asks."""
    path: str | None = None
    """restore: the absolute path as it was on the client."""
    archive: str | None = None
    """restore: which archive (default: the newest)."""
    destination: str | None = None
    """restore: where to (default: a new directory under /var/tmp)."""
    overwrite: bool = False
    """restore: into an existing directory, over what is there (`--to /`)."""

    def checked(self, stamp: str) -> LifecycleRequest:
        """The request validated (FieldError naming the option), with a restore's default
        destination fixed (`stamp`: YYYYmmddTHHMMSS), so that planning it twice agrees."""
        if self.action not in ACTIONS:
            raise FieldError("action", f"{self.action!r} is not one of {', '.join(ACTIONS)}")
        check_name("CLIENT", self.client)
        if self.mode is not None and self.mode not in RECOVER_MODES:
            raise FieldError("mode", f"{self.mode!r} is not acknowledge or rollback")
        if self.action != "restore":
            return self
        return replace(self, **restore_options(self, stamp))


def restore_options(request: LifecycleRequest, stamp: str) -> dict:
    path = check_source_directory("PATH", request.path)
    if request.archive is not None and not _ARCHIVE_NAME_RE.match(request.archive):
        raise FieldError("--archive", f"{request.archive!r} is not an archive name")
    if request.destination is None:
        destination = f"{RESTORE_ROOT}/borgkeep-restore-{request.client}-{stamp}"
    else:
        destination = check_absolute_path("--to", request.destination)
    if destination == "/" and not request.overwrite:
        raise FieldError(
            "--to", "restoring into / replaces live files: add --overwrite if that is what you mean"
        )
    return {"path": path, "destination": destination}


@dataclass
class LifecyclePlan:
    request: LifecycleRequest
    plan: Plan
    notes: list[str] = field(default_factory=list)
    """What to read beside the diffs (the archives that vanished, what is kept, ...)."""
    details: dict = field(default_factory=dict)
    """The same for `--json` (e.g. the guard's recovery report)."""
    choice: str | None = None
    """recover without a mode: the choice to make before anything can be applied."""

    @property
    def empty(self) -> bool:
        return self.plan.empty


@dataclass(frozen=True)
class LifecycleReadings:
    """What a lifecycle request reads besides the facts (`wizard.pipeline.lifecycle.facts`),
    handed to its planner with the gather's snapshot."""

    inspect: str | None = None
    """recover: the guard's inspection of the client's repository (its JSON report)."""
    listing: str | None = None
    """restore: the client's archives, listed through its own key."""
    client_refuses: bool = False
    """recover --rollback with nothing left to roll back: Borg on the client still refuses
    its repository (its cache is ahead of the rolled-back repository)."""
