"""Saved plans: `borgkeep plan --out PLANFILE`, then `borgkeep apply PLANFILE` applies exactly
that plan, or refuses (naming the host and file) when the world changed in between.

A plan file names the inventory it was made from by absolute path (with its hash) and the
hosts left out of it, so `apply PLANFILE` works from any directory without `--inventory`.
It holds no secrets: secret changes are recorded by path and action only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from wizard.pipeline.plan import Change, Plan, change_target

PLAN_FILE_VERSION = 3
COMPARED_FIELDS = ("action", "old_sha256", "new_sha256", "mode", "owner", "group", "args")


class PlanMismatch(Exception):
    """The saved plan is stale or is not this fleet's plan."""


@dataclass(frozen=True)
class SavedPlan:
    """A plan file, read and checked against its inventory before anything connects."""

    path: Path
    inventory_path: Path
    inventory_text: str
    left_out: frozenset[str]
    changes: list[dict]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plan_file_data(plan: Plan, inventory_path: Path, left_out: Collection[str] = ()) -> dict:
    inventory_path = inventory_path.resolve()
    return {
        "borgkeep_plan": PLAN_FILE_VERSION,
        "inventory": str(inventory_path),
        "inventory_sha256": _digest(inventory_path.read_bytes()),
        "left_out": sorted(left_out),
        "changes": [c.public_dict() for c in plan.changes],
        "warnings": plan.warnings,
    }


def save_plan_file(
    plan: Plan, path: Path, inventory_path: Path, left_out: Collection[str] = ()
) -> None:
    data = json.dumps(plan_file_data(plan, inventory_path, left_out), indent=1)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data)
    os.replace(tmp, path)


def load_plan_file(path: Path) -> SavedPlan:
    """Read a plan file and the inventory it was made from (its absolute path is in the
    file); raise `PlanMismatch` if either is unreadable or the inventory changed since. No
    connection is needed for any of this."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanMismatch(f"{path}: cannot read the plan file: {exc}") from None
    if not isinstance(data, dict) or data.get("borgkeep_plan") != PLAN_FILE_VERSION:
        raise PlanMismatch(
            f"{path}: not a borgkeep plan file of version {PLAN_FILE_VERSION}; "
            "make a new one with: borgkeep plan --out PLANFILE"
        )
    inventory_path = Path(str(data.get("inventory") or ""))
    if not inventory_path.is_absolute():
        raise PlanMismatch(f"{path}: the plan file does not name its inventory by absolute path")
    try:
        raw = inventory_path.read_bytes()
    except OSError as exc:
        raise PlanMismatch(
            f"{path}: cannot read the inventory the plan was made from ({inventory_path}): "
            f"{exc.strerror or exc}"
        ) from None
    if data.get("inventory_sha256") != _digest(raw):
        raise PlanMismatch(
            f"{path}: the inventory {inventory_path} changed since the plan was saved; "
            "make a new plan"
        )
    return SavedPlan(
        path=path,
        inventory_path=inventory_path,
        inventory_text=raw.decode("utf-8", errors="replace"),
        left_out=frozenset(data.get("left_out") or ()),
        changes=list(data.get("changes") or []),
    )


def _fingerprint(change: dict) -> dict:
    if change.get("secret"):
        return {"action": change["action"], "secret": True}
    return {key: change.get(key) for key in COMPARED_FIELDS}


def compare_plans(saved: list[dict], current: list[Change]) -> list[str]:
    """Every difference between the saved changes and a fresh plan, one line each."""
    problems = []
    saved_by_key = {
        (c["host"], c["kind"], change_target(c["path"], c["action"], c.get("args") or {})): c
        for c in saved
    }
    current_by_key = {c.key: c.public_dict() for c in current}
    for key in sorted(set(saved_by_key) | set(current_by_key)):
        host, _kind, target = key
        before, now = saved_by_key.get(key), current_by_key.get(key)
        if before is None:
            problems.append(
                f"{host}: {target}: a change is needed that the saved plan does not hold"
            )
        elif now is None:
            problems.append(f"{host}: {target}: no longer needs the change the saved plan holds")
        elif _fingerprint(before) != _fingerprint(now):
            problems.append(f"{host}: {target}: changed since the plan was saved")
    return problems


def check_plan_file(saved: SavedPlan, current: Plan) -> None:
    """Raise `PlanMismatch` unless `current` (freshly computed) is exactly the saved plan."""
    problems = compare_plans(saved.changes, current.changes)
    if problems:
        raise PlanMismatch(
            f"{saved.path}: the saved plan is stale, nothing was applied:\n  "
            + "\n  ".join(problems)
        )
