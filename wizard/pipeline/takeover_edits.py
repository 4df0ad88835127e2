"""The edits a takeover makes to files that are not Borgkeep's (issue 21). Pure.

- A borgmatic config that backs up to the taken-over repository and to others keeps running
  for those: only its list entry for the repository is commented out
  (`wizard.takeover.config_edit`), the original kept beside it.
- For a root login, the lines of `/etc/crontab` and `/etc/cron.d` files that ran the
  taken-over setup are commented out in place (`# borgkeep took over: LINE`).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from wizard.artefacts.crontab import retire_cron_lines
from wizard.pipeline.desired.items import DesiredStateError
from wizard.takeover.borgmatic_configs import BorgmaticConfig
from wizard.takeover.config_edit import drop_repository
from wizard.takeover.host_files import HostFiles
from wizard.takeover.repositories import RepositoryMatch, TakeoverSummary
from wizard.takeover.retired import RETIRED_SUFFIX
from wizard.takeover.scheduled_jobs import ScheduledJob


def targets(match: RepositoryMatch, repository: str) -> bool:
    """Whether a config's repository is the one at `repository` on the chosen server."""
    return match.on_server and match.server_path == repository


@dataclass(frozen=True)
class LinesEdit:
    """Lines of a system crontab commented out in place (`# borgkeep took over: LINE`)."""

    path: str
    before: str
    after: str
    lines: tuple[int, ...]


@dataclass(frozen=True)
class ConfigEdit:
    """A config that also backs up elsewhere: only its entry for the repository goes."""

    path: str
    raw: str
    """The repository as the config spells it."""
    others: tuple[str, ...]
    before: str
    after: str
    lines: tuple[int, ...]

    def describe(self, repository: str) -> str:
        numbers = ", ".join(map(str, self.lines))
        return (
            f"edit {self.path}: comment out its entry for {repository} (line {numbers}); it "
            f"keeps backing up to {', '.join(self.others)} (original kept as "
            f"{posixpath.basename(self.path)}{RETIRED_SUFFIX})"
        )

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "lines": list(self.lines), "keeps": list(self.others)}


def edit_for(
    client: str,
    config: BorgmaticConfig,
    summary: TakeoverSummary,
    repository: str,
    files: HostFiles | None,
) -> ConfigEdit | None:
    """None for a config that backs up only to the repository (it is retired whole); an
    edit for one that also backs up elsewhere, or a refusal saying why it cannot be."""
    mine = [m for m in summary.repositories if m.config_path == config.path]
    others = [m for m in mine if not targets(m, repository)]
    if not others:
        return None
    names = ", ".join(m.location.display for m in others)
    refusal = (
        f"{config.path} backs up to {repository} and also to {names}: Borgkeep takes over "
        "only the first and leaves the config running for the others, but "
    )
    if any(m.on_server for m in others):
        raise DesiredStateError(
            client,
            refusal + "another of them is on this server too, reached with the same key "
            "lines. Move it into a config of its own (or take it over as its own client), "
            "then plan again",
        )
    spellings = {m.location.raw for m in mine if targets(m, repository)}
    raw = next(iter(spellings))
    dropped = (
        "it names the repository more than once"
        if len(spellings) > 1
        else drop_repository(
            config.path,
            files,
            raw,
            version=summary.configs.version,
            home=summary.configs.login.home,
            user=summary.configs.login.user,
        )
        if files is not None
        else "the config was not read"
    )
    if isinstance(dropped, str):
        raise DesiredStateError(
            client,
            refusal + f"its entry cannot be taken out line by line ({dropped}). Move the "
            "other repositories into a config of their own, then plan again",
        )
    before = files.texts[config.path]
    return ConfigEdit(
        config.path,
        raw,
        tuple(m.location.display for m in others),
        before,
        dropped.text,
        dropped.lines,
    )


def editable_system_job(job: ScheduledJob, login: str, files: HostFiles | None) -> bool:
    """A job in `/etc/crontab` or an `/etc/cron.d` file is root's to edit: retired in place
    when the client's login is root and gather read the file (a systemd unit is not)."""
    return (
        login == "root"
        and job.kind == "system crontab"
        and bool(job.line)
        and files is not None
        and job.source in files.texts
    )


def cron_file_edits(jobs: tuple[ScheduledJob, ...], files: HostFiles) -> tuple[LinesEdit, ...]:
    edits = []
    for path in dict.fromkeys(job.source for job in jobs):
        before = files.texts[path]
        numbers = sorted({job.line for job in jobs if job.source == path and job.line})
        after = retire_cron_lines(before, numbers)
        if after and not after.endswith("\n"):
            after += "\n"
        edits.append(LinesEdit(path, before, after, tuple(numbers)))
    return tuple(edits)
