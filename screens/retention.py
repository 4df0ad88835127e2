"""Step 4: retention (keep_* with a preview of what survives) and the cron schedules."""

from __future__ import annotations

from datetime import datetime

from croniter import croniter
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from screens.base import Body, FieldInput, FieldValidator, StepScreen, field_row
from wizard.inventory.retention_preview import describe_preview, kept_daily_archives
from wizard.inventory.settings import staggered_schedule
from wizard.inventory.validation import check_cron, check_keep_count

KEEP_FIELDS = ("keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")
PREVIEW_ARCHIVES = 400
TRADE_OFF = (
    "Pruning runs on the server, not on the clients: a compromised client can add archives "
    "but never delete them. The price is that the server must hold each repository's "
    "passphrase to prune it, so someone who takes over the server can read the backups "
    "(they could always delete them there). Keep the server better guarded than the clients."
)


def next_runs(expression: str, now: datetime, count: int = 2) -> list[datetime]:
    runs = croniter(expression, now)
    return [runs.get_next(datetime) for _ in range(count)]


def describe_runs(expression: str, now: datetime) -> str:
    """The next two runs, short enough to sit beside the field at 80 columns."""
    try:
        check_cron("schedule", expression)
    except Exception:
        return "✗ not a valid schedule"
    first, second = next_runs(expression, now)
    return f"next {first:%a %d %b %H:%M}, {second:%a %H:%M}"


def describe_drill(expression: str, now: datetime) -> str:
    """The restore drill is off unless it has a schedule."""
    if not expression.strip():
        return "off: no restore drill"
    return describe_runs(expression.strip(), now)


class RetentionScreen(StepScreen):
    CSS_PATH = "retention.tcss"
    STEP_TITLE = "4/7 Retention and schedules"
    HELP = (
        "**keep_daily/weekly/monthly/yearly** follow Borg's prune rules: each keeps the "
        "newest archive of that many days/weeks/months/years; an archive kept by an earlier "
        "rule does not count again. The preview applies them to one archive a day.\n\n"
        "Schedules are 5-field cron expressions (`minute hour day month weekday`). An empty "
        "client schedule uses a stable time between 01:00 and 05:59 derived from its name.\n\n"
        "The **restore drill** (off when empty) runs on the server: for each client, "
        "`borg extract --dry-run` of its newest archive, which reads, decrypts and checks "
        "every chunk of it; a failure alerts like the health job. Pick a time away from the "
        "backups and the prune."
    )

    def _now(self) -> datetime:
        return self.state.now or datetime.now()

    def compose_body(self) -> ComposeResult:
        now = self._now()
        with Body(id="body"):
            yield Label(
                "Retention (every client; a client's own numbers: Clients step)", classes="section"
            )
            with Horizontal(id="keep-row"):
                for key in KEEP_FIELDS:
                    value = self.state.retention.get(key)
                    yield Label(key.removeprefix("keep_"), classes="keep-label")
                    yield FieldInput(
                        "" if value is None else str(value),
                        id=key,
                        label=key,
                        placeholder="0",
                        restrict=r"[0-9]*",
                        max_length=7,
                        validators=[FieldValidator(check_keep_count, key, optional=True)],
                        classes="keep-input",
                    )
            for key in KEEP_FIELDS:
                error = Static("", id=f"{key}-error", classes="field-error keep-error")
                error.display = False
                yield error
            yield Static("", id="retention-preview")
            yield Label("Schedules", classes="section")
            yield field_row(
                f"prune on {self.state.server_name or 'server'}",
                FieldInput(
                    self.state.prune_schedule,
                    id="prune-schedule",
                    label=f"prune schedule of {self.state.server_name or 'the server'}",
                    validators=[FieldValidator(check_cron, "server.prune_schedule")],
                ),
                Static(describe_runs(self.state.prune_schedule, now), classes="runs"),
            )
            yield field_row(
                "restore drill",
                FieldInput(
                    self.state.drill_schedule,
                    placeholder="off",
                    id="drill-schedule",
                    label="restore drill schedule",
                    validators=[FieldValidator(check_cron, "server.drill_schedule", optional=True)],
                ),
                Static(describe_drill(self.state.drill_schedule, now), classes="runs"),
            )
            for index, client in enumerate(self.state.clients):
                default = staggered_schedule(client.name)
                yield field_row(
                    f"backup {client.name}",
                    FieldInput(
                        client.schedule or "",
                        placeholder=default,
                        id=f"schedule-{index}",
                        label=f"{client.name}'s backup schedule",
                        validators=[FieldValidator(check_cron, "schedule", optional=True)],
                        classes="client-schedule",
                    ),
                    Static(describe_runs(client.schedule or default, now), classes="runs"),
                )
            yield Static(TRADE_OFF, id="trade-off")

    def on_mount(self) -> None:
        self._update_preview()
        super().on_mount()

    def _retention(self) -> dict:
        result: dict = {}
        for key in KEEP_FIELDS:
            text = self.query_one(f"#{key}", Input).value.strip()
            if text.isdigit() and int(text) > 0:
                result[key] = int(text)
        if "keep_within" in self.state.retention:
            result["keep_within"] = self.state.retention["keep_within"]
        return result

    def _keep_problems(self) -> list[str]:
        return [
            f"{field.label}: {problem}"
            for key in KEEP_FIELDS
            if (problem := (field := self.query_one(f"#{key}", FieldInput)).problem())
        ]

    def _update_preview(self) -> None:
        """Only valid numbers reach the preview: a bad one is named instead."""
        preview = self.query_one("#retention-preview", Static)
        problems = self._keep_problems()
        retention = self._retention()
        if problems:
            preview.update("No preview until the numbers are fixed: " + "; ".join(problems))
            preview.set_classes("bad")
            return
        if not retention:
            preview.update("At least one keep_* number must be greater than 0.")
            preview.set_classes("bad")
            return
        today = self._now().date()
        preview.set_classes("")
        preview.update(
            describe_preview(kept_daily_archives(retention, PREVIEW_ARCHIVES, today), today)
        )

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        inp = event.input
        if inp.id in KEEP_FIELDS:
            self._update_preview()
        elif inp.id == "drill-schedule":
            runs = inp.parent.query_one(".runs", Static)
            runs.update(describe_drill(inp.value, self._now()))
        elif inp.id == "prune-schedule" or inp.has_class("client-schedule"):
            expression = inp.value.strip() or inp.placeholder
            runs = inp.parent.query_one(".runs", Static)
            runs.update(describe_runs(expression, self._now()))
        self.refresh_nav()

    def can_go_next(self) -> bool:
        if not self._retention() or self.field_problems():
            return False
        return bool(self.query_one("#prune-schedule", Input).value.strip())

    def collect(self):
        state = self.state
        state.retention = self._retention()
        state.prune_schedule = " ".join(self.query_one("#prune-schedule", Input).value.split())
        state.drill_schedule = " ".join(self.query_one("#drill-schedule", Input).value.split())
        for index, client in enumerate(state.clients):
            value = self.query_one(f"#schedule-{index}", Input).value.strip()
            client.schedule = " ".join(value.split()) or None
        state.invalidate_plan()
        return True
