"""What an apply did, per host: the steps done and skipped, the step that failed and why."""

from __future__ import annotations

from dataclasses import dataclass, field


class ApplyStepError(Exception):
    def __init__(self, host: str, step: str, message: str, stale: bool = False):
        self.host, self.step, self.stale = host, step, stale
        super().__init__(f"{host}: {step}: {message}")


@dataclass
class HostOutcome:
    host: str
    done: list[str] = field(default_factory=list)
    error: ApplyStepError | None = None
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.skipped


@dataclass
class ApplyResult:
    outcomes: dict[str, HostOutcome]
    exported_keys: dict[str, str] = field(default_factory=dict)
    secrets_location: str = ""
    notes: list[str] = field(default_factory=list)
    """What commands reported (proofs, a rollback's copy, a restored path), per host."""

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes.values())
