"""A client that already backs up to the server with Borg: what was found, and the choice
— take its repository over (the default), start a new one beside it, or leave the client
out of this apply. Take over and beside land in the inventory as `repository:`, exactly
as the CLI's refusal says; leave out is remembered for the review's plan."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import RadioButton, RadioSet, Static

from screens.state import ClientEntry, WizardState
from wizard.inventory.model import ServerSpec
from wizard.reports import safe_text
from wizard.session import HostFacts, takeover_choice

ExistingSetup = takeover_choice.ExistingSetup
TAKE, BESIDE, LEAVE = "take", "beside", "leave"
CHOICES = (TAKE, BESIDE, LEAVE)


def leave_out_keys(state: WizardState) -> set[str]:
    """The keys of the clients whose existing setup the operator chose to leave out. Kept
    beside the state (not in the inventory: leaving out is for this run only), and not in
    `state.left_out`, which every step's `invalidate_plan` clears."""
    return vars(state).setdefault("takeover_left_out", set())


def left_out_by_choice(state: WizardState) -> set[str]:
    """The names of the clients left out on the clients screen: what the review's plan
    leaves out to begin with."""
    keys = leave_out_keys(state)
    return {client.name for client in state.clients if client.key in keys}


def remember_left_out(state: WizardState, name: str, left_out: bool) -> None:
    """The review's own answer for a client (its takeover question, or taking it back in
    with x) replaces the clients step's, so planning again keeps it."""
    client = state.client(name)
    if client is not None:
        keys = leave_out_keys(state)
        (keys.add if left_out else keys.discard)(client.key)


def server_spec(state: WizardState) -> ServerSpec | None:
    """The server as the server step entered it (None before it has a name and login)."""
    if not (state.server_name and state.server_ssh):
        return None
    return ServerSpec(
        state.server_name,
        state.server_ssh,
        state.server_address or None,
        state.borg_user or None,
        state.repo_root or None,
    )


def find_existing(
    server: ServerSpec | None, server_facts: HostFacts | None, name: str, facts: HostFacts
) -> ExistingSetup | str | None:
    """For a worker thread, after a client's check: its existing setup on the server, None,
    or why it could not be read (never a reason to call the client unreachable)."""
    if server is None or server_facts is None:
        return None
    try:
        return takeover_choice.existing_setup_of(server, server_facts, name, facts)
    except Exception as exc:  # discovery of a hand-edited config: said, not fatal
        return f"its existing Borg setup could not be read: {exc}"


def apply_choice(
    state: WizardState, client: ClientEntry, setup: ExistingSetup, choice: str
) -> None:
    """Write the choice where the CLI's equivalent goes: `repository:` (take over: the
    found path; beside: Borgkeep's default path), or this run's leave-out."""
    keys = leave_out_keys(state)
    keys.discard(client.key)
    if choice == TAKE:
        client.repository = setup.found[0]
    elif choice == BESIDE:
        client.repository = setup.default
    else:
        client.repository = None
        keys.add(client.key)


def current_choice(state: WizardState, client: ClientEntry, setup: ExistingSetup) -> str | None:
    if client.key in leave_out_keys(state):
        return LEAVE
    return setup.choice_of(client.repository)


def status_note(state: WizardState, client: ClientEntry, setup: ExistingSetup | str | None) -> str:
    """For the clients table: what happens to the client's existing setup, in two words."""
    if not isinstance(setup, ExistingSetup):
        return ""
    notes = {TAKE: "takes over", BESIDE: "new beside", LEAVE: "left out"}
    return " · " + notes.get(current_choice(state, client, setup), "existing setup")


class TakeoverChoice(Vertical):
    """The selected client's existing setup and the three choices (hidden when none)."""

    class Chosen(Message):
        def __init__(self, choice: str) -> None:
            super().__init__()
            self.choice = choice

    def __init__(self) -> None:
        super().__init__(id="takeover-choice")

    def compose(self) -> ComposeResult:
        yield Static("", id="existing-summary", markup=False)
        with RadioSet(id="takeover-options", compact=True):
            yield RadioButton("Take it over, with every archive", id="choice-take")
            yield RadioButton("New repository beside it", id="choice-beside")
            yield RadioButton("Leave it out of this apply", id="choice-leave")
            # pressed, unseen and out of the arrow keys' way, when the repository is neither
            other = RadioButton("Another path", id="choice-other", disabled=True)
            other.display = False
            yield other

    def show(self, client: ClientEntry, setup: ExistingSetup | str | None, choice: str | None):
        """Show `setup` (or why it could not be read) with `choice` pressed."""
        self.display = setup is not None
        if setup is None:
            return
        summary = self.query_one("#existing-summary", Static)
        if isinstance(setup, str):
            summary.update(safe_text(f"⚠ {client.name}: {setup}", keep_newlines=False))
            self.query_one("#takeover-options").display = False
            return
        self.query_one("#takeover-options").display = True
        beside = self.query_one("#choice-beside", RadioButton)
        beside.display = setup.default not in setup.found
        beside.disabled = not beside.display
        beside.label = f"New repository beside it, at {setup.default}"
        self.query_one(
            "#choice-leave", RadioButton
        ).label = f"Leave {client.name} out of this apply (asked again next run)"
        summary.update(safe_text(f"↻ {client.name}: {setup.summary}", keep_newlines=False))
        # The set turns the others off; its Changed is ignored (the options have no focus).
        self.query_one(f"#choice-{choice or 'other'}", RadioButton).value = True

    @on(RadioSet.Changed, "#takeover-options")
    def _changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        choice = (event.pressed.id or "").removeprefix("choice-")
        if event.radio_set.has_focus and choice in CHOICES:  # the operator's, not `show`'s
            self.post_message(self.Chosen(choice))
