"""How long a remote step may stay silent: every wait on a host is bounded.

A step fails when its command sends nothing (no output on stdout or stderr, no exit) for
its limit — a silence limit rather than a total cap, so a long borg run that keeps
talking is never cut, and a hung one is named within its limit. `BORGKEEP_STEP_TIMEOUT`
(seconds) sets one limit for every kind of step.
"""

from __future__ import annotations

import os

from wizard.remote.errors import RemoteCommandTimeout

STEP_TIMEOUT_ENV = "BORGKEEP_STEP_TIMEOUT"

QUICK = "quick"
"""Reads and writes of Borgkeep's own files, keys, users, crontabs, facts, the lock."""
BORG = "borg"
"""A borg or borgmatic run that reads a repository or creates one (info, init, list, the
guard's baselines and checks): a cache sync or a slow disk can keep it quiet a while."""
DATA = "data"
"""A borg run that moves archive data (a restore's extract, a first backup)."""

SILENCE_LIMITS = {QUICK: 60.0, BORG: 600.0, DATA: 3600.0}


def parse_seconds(text: str, origin: str, maximum: float) -> float:
    """A number of seconds above 0 and at most `maximum`; ValueError naming `origin`."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= maximum:
        raise ValueError(f"{origin}: {text!r} is not a number of seconds between 0 and {maximum:g}")
    return seconds


def parse_step_timeout(text: str, origin: str = STEP_TIMEOUT_ENV) -> float:
    """Seconds of silence a remote step may keep: a number above 0 (at most a day)."""
    return parse_seconds(text, origin, 86400)


def step_silence(kind: str = BORG) -> float:
    """The silence limit of a `kind` of step: `BORGKEEP_STEP_TIMEOUT` if set, else its
    default (`SILENCE_LIMITS`)."""
    text = os.environ.get(STEP_TIMEOUT_ENV, "").strip()
    return parse_step_timeout(text) if text else SILENCE_LIMITS[kind]


def step_failure(exc: Exception) -> str:
    """What a failed step says: a silent command's limit and how to change it, else the
    error's own line."""
    if isinstance(exc, RemoteCommandTimeout):
        return f"{exc.what} ({STEP_TIMEOUT_ENV} sets the limit in seconds)"
    return str(exc) or repr(exc)
