"""The Borgkeep wizard: one driver coroutine walks the steps, one state object feeds them."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.markup import escape
from textual.screen import Screen

from screens.base import StepScreen, plain_text, shorten
from screens.state import BACK, QUIT, WizardState
from wizard.inventory.parse import InventoryError, load_inventory

# The steps in order, as (module, class): each module loads when its step first opens, so
# the first screen waits for nothing but Textual and the welcome step.
STEPS: tuple[tuple[str, str], ...] = (
    ("screens.welcome", "WelcomeScreen"),
    ("screens.server", "ServerScreen"),
    ("screens.clients", "ClientsScreen"),
    ("screens.retention", "RetentionScreen"),
    ("screens.review", "ReviewScreen"),
    ("screens.apply", "ApplyScreen"),
    ("screens.done", "DoneScreen"),
)


def step_screen(index: int) -> type[StepScreen]:
    """The screen class of step `index`."""
    module, name = STEPS[index]
    return getattr(importlib.import_module(module), name)


class BorgkeepApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "Borgkeep"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        inventory_path: Path,
        accept_new_host_keys: bool = False,
        state: WizardState | None = None,
        start_step: int = 0,
    ) -> None:
        super().__init__()
        self.inventory_path = inventory_path
        self.load_error: str | None = None
        if state is None:
            saved = None
            if inventory_path.exists():
                try:
                    saved = load_inventory(inventory_path)
                except InventoryError as exc:
                    self.load_error = str(exc)
            state = WizardState.from_inventory(inventory_path, saved, accept_new_host_keys)
        self.state = state
        self.start_step = start_step

    def on_mount(self) -> None:
        if self.load_error:
            self.notify(
                f"The saved inventory is not valid; starting a new one.\n{self.load_error}",
                severity="error",
                timeout=15,
            )
        self.run_wizard()

    @work(exclusive=True, group="wizard")
    async def run_wizard(self) -> None:
        """Push each step, wait for its result, go on or back; after apply there is no way
        back into the editing steps (what was applied is fixed)."""
        step = self.start_step
        while step < len(STEPS):
            result = await self.push_screen_wait(step_screen(step)(self.state))
            if result is QUIT:
                break
            if result is BACK:
                step = max(0, step - 1)
                continue
            step += 1
        message = exit_message(self.state)
        self.exit(1 if message else 0, message=Text(message) if message else None)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, StepScreen):
            yield SystemCommand(
                "Help for this step",
                escape(shorten(plain_text(screen.HELP), 70)),
                screen.action_help,
            )
            if screen.SHOW_BACK:
                yield SystemCommand("Back", "Go to the previous step", screen.action_back)
            if screen.can_go_next():
                yield SystemCommand(screen.NEXT_LABEL, "Go to the next step", screen.action_next)
        saved = self.state.saved
        if saved is None or not saved.clients:
            return
        from screens.lifecycle import ACTION_LABELS, open_client_action
        from wizard.reports import lifecycle_title
        from wizard.session import LIFECYCLE_ACTIONS

        for client in saved.clients:
            for action in LIFECYCLE_ACTIONS:
                yield SystemCommand(
                    lifecycle_title(action, client.name),
                    ACTION_LABELS[action],
                    partial(open_client_action, self, self.state, client.name, action),
                )

    def on_unmount(self) -> None:
        if self.state.session is not None:
            self.state.session.close()


def exit_message(state: WizardState) -> str | None:
    """Why the wizard ends with exit code 1 (None: it ends with 0): the apply failed, was
    cancelled, or left steps undone. Printed after the screen is gone."""
    if state.apply_error is not None:
        return f"borgkeep: {state.apply_error}; the inventory was not saved."
    result = state.apply_result
    if result is None or result.ok:
        return None
    failed = [host for host, outcome in result.outcomes.items() if outcome.error is not None]
    skipped = sum(len(outcome.skipped) for outcome in result.outcomes.values())
    why = f"the apply failed on {', '.join(failed)}" if failed else "the apply was cancelled"
    saved = "saved" if state.inventory_saved else "not saved"
    return (
        f"borgkeep: {why}; {skipped} change(s) not applied, the inventory {saved}. "
        "Run borgkeep again to finish: the plan picks up where this one stopped."
    )


def run_app(inventory_path: Path, accept_new_host_keys: bool = False) -> int:
    """Entry point for bare `borgkeep`; returns the process exit code (1 only with a
    message, which Textual prints to stderr after the screen is gone)."""
    result = BorgkeepApp(inventory_path, accept_new_host_keys).run()
    return result if isinstance(result, int) else 0
