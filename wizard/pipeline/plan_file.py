"""Saved plans: `borgkeep plan --out PLANFILE`, then `borgkeep apply PLANFILE` applies exactly
that plan, or refuses (naming the host and file) when the world changed in between.

A plan file holds no secrets: secret changes are recorded by path and action only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from wizard.pipeline.plan import Change, Plan

PLAN_FILE_VERSION = 2
COMPARED_FIELDS = ("action", "old_sha256", "new_sha256", "mode", "owner", "group", "args")


class PlanMismatch(Exception):
    """The saved plan is stale or is not this fleet's plan."""


def _inventory_digest(inventory_path: Path) -> str:
    return hashlib.sha256(inventory_path.read_bytes()).hexdigest()


def plan_file_data(plan: Plan, inventory_path: Path) -> dict:
    return {
        "borgkeep_plan": PLAN_FILE_VERSION,
        "inventory": str(inventory_path),
        "inventory_sha256": _inventory_digest(inventory_path),
        "changes": [c.public_dict() for c in plan.changes],
        "warnings": plan.warnings,
    }


def save_plan_file(plan: Plan, path: Path, inventory_path: Path) -> None:
    data = json.dumps(plan_file_data(plan, inventory_path), indent=1)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _fingerprint(change: dict) -> dict:
    if change.get("secret"):
        return {"action": change["action"], "secret": True}
    return {key: change.get(key) for key in COMPARED_FIELDS}


def compare_plans(saved: list[dict], current: list[Change]) -> list[str]:
    """Every difference between the saved changes and a fresh plan, one line each."""
    problems = []
    saved_by_key = {(c["host"], c["kind"], c["path"] or c["action"]): c for c in saved}
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


def check_plan_file(path: Path, current: Plan, inventory_path: Path) -> None:
    """Raise `PlanMismatch` unless `current` (freshly computed) is exactly the saved plan."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanMismatch(f"{path}: cannot read the plan file: {exc}") from None
    if data.get("borgkeep_plan") != PLAN_FILE_VERSION:
        raise PlanMismatch(f"{path}: not a borgkeep plan file (version {PLAN_FILE_VERSION})")
    if data.get("inventory_sha256") != _inventory_digest(inventory_path):
        raise PlanMismatch(
            f"{path}: the inventory {inventory_path} changed since the plan was saved; "
            "make a new plan"
        )
    problems = compare_plans(data.get("changes", []), current.changes)
    if problems:
        raise PlanMismatch(
            f"{path}: the saved plan is stale, nothing was applied:\n  " + "\n  ".join(problems)
        )
