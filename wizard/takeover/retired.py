"""How a takeover leaves the old setup's files: renamed or commented, never deleted."""

from __future__ import annotations

RETIRED_SUFFIX = ".borgkeep-taken-over"
"""What a taken-over config is renamed to, beside itself: borgmatic loads only `*.yaml`
and `*.yml`, so no run finds it again, and discovery still reads it."""
CRONTAB_SOURCE_PREFIX = "crontab of "
"""How discovery names a user's crontab as a job's source (`crontab of root`)."""
