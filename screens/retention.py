"""Step 4: retention (keep_* with a preview of what survives) and the cron schedules."""

from __future__ import annotations

from datetime import datetime

from croniter import croniter
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from screens.base import Body, FieldValidator, StepScreen
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
    try:
        check_cron("schedule", expression)
    except Exception as exc:
        return f"✗ {getattr(exc, 'message', exc)}"
    return "next " + ", ".join(run.strftime("%a %d %b %H:%M") for run in next_runs(expression, now))


class RetentionScreen(StepScreen):
    CSS_PATH = "retention.tcss"
    STEP_TITLE = "4/7 Retention and schedules"
    HELP = (
        "**keep_daily/weekly/monthly/yearly** follow Borg's prune rules: each keeps the "
        "newest archive of that many days/weeks/months/years; an archive kept by an earlier "
        "rule does not count again. The preview applies them to one archive a day.\n\n"
        "Schedules are 5-field cron expressions (`minute hour day month weekday`). An empty "
        "client schedule uses a stable time between 01:00 and 05:59 derived from its name."
    )

    def _now(self) -> datetime:
        return self.state.now or datetime.now()

    def compose_body(self) -> ComposeResult:
        now = self._now()
        with Body(id="body"):
            yield Label("Retention (every client)", classes="section")
            with Horizontal(id="keep-row"):
                for key in KEEP_FIELDS:
                    value = self.state.retention.get(key)
                    yield Label(key.removeprefix("keep_"), classes="keep-label")
                    yield Input(
                        "" if value is None else str(value),
                        id=key,
                        type="integer",
                        validators=[FieldValidator(check_keep_count, key, optional=True)],
                        compact=True,
                        classes="keep-input",
                    )
            yield Static("", id="retention-preview")
            yield Label("Schedules", classes="section")
            with Horizontal(classes="field-row"):
                yield Label(f"prune on {self.state.server_name or 'server'}", classes="field-label")
                yield Input(
                    self.state.prune_schedule,
                    id="prune-schedule",
                    validators=[FieldValidator(check_cron, "server.prune_schedule")],
                    compact=True,
                )
                yield Static(describe_runs(self.state.prune_schedule, now), classes="runs")
            for index, client in enumerate(self.state.clients):
                default = staggered_schedule(client.name)
                with Horizontal(classes="field-row"):
                    yield Label(f"backup {client.name}", classes="field-label")
                    yield Input(
                        client.schedule or "",
                        placeholder=default,
                        id=f"schedule-{index}",
                        validators=[FieldValidator(check_cron, "schedule", optional=True)],
                        compact=True,
                        classes="client-schedule",
                    )
                    yield Static(describe_runs(client.schedule or default, now), classes="runs")
            yield Static(TRADE_OFF, id="trade-off")
            yield Static("", id="retention-errors", classes="field-error")

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

    def _update_preview(self) -> None:
        retention = self._retention()
        preview = self.query_one("#retention-preview", Static)
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
        elif inp.id == "prune-schedule" or inp.has_class("client-schedule"):
            expression = inp.value.strip() or inp.placeholder
            runs = inp.parent.query_one(".runs", Static)
            runs.update(describe_runs(expression, self._now()))
        errors = []
        for field in self.query(Input):
            result = field.validate(field.value)
            if result is not None and not result.is_valid:
                errors.append(f"{field.id}: {' '.join(result.failure_descriptions)}")
        self.query_one("#retention-errors", Static).update("\n".join(errors))
        self.refresh_nav()

    def can_go_next(self) -> bool:
        if not self._retention():
            return False
        for field in self.query(Input):
            result = field.validate(field.value)
            if result is not None and not result.is_valid:
                return False
        return bool(self.query_one("#prune-schedule", Input).value.strip())

    def collect(self):
        state = self.state
        state.retention = self._retention()
        state.prune_schedule = " ".join(self.query_one("#prune-schedule", Input).value.split())
        for index, client in enumerate(state.clients):
            value = self.query_one(f"#schedule-{index}", Input).value.strip()
            client.schedule = " ".join(value.split()) or None
        state.invalidate_plan()
        return True
