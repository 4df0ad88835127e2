"""The selected client's fields on the clients step — name, sources, excludes, own
retention, storage quota, repository and archive prefix — with the validators that check
each one as the engine does, and its existing Borg setup with the takeover choice. A valid
value goes into the client at once; the screen hears of a rename (`Renamed`) and a choice
(`TakeoverChoice.Chosen`)."""

from __future__ import annotations

import posixpath

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label, Static

from screens.base import (
    FieldInput,
    FieldValidator,
    WordsValidator,
    field_row,
    join_words,
    split_words,
)
from screens.state import ClientEntry, WizardState
from screens.takeover_choice import (
    TAKE,
    ExistingSetup,
    TakeoverChoice,
    apply_choice,
    current_choice,
    leave_out_keys,
)
from wizard.inventory.settings import suggested_quota
from wizard.inventory.validation import (
    FieldError,
    check_archive_prefix,
    check_exclude_pattern,
    check_keep_count,
    check_name,
    check_quota,
    check_repository_path,
    check_source_directory,
)
from wizard.reports import safe_text

KEEP_FIELDS = ("keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


def client_facts_text(client: ClientEntry) -> str:
    if client.error:
        return (
            f"✗ unreachable, so it will NOT be configured this run: {safe_text(client.error)}"
            "\n  (ctrl+r checks again; it stays in the inventory for the next run)"
        )
    if client.facts is None:
        return "not checked yet"
    f = client.facts
    return safe_text(
        f"✓ {f.os or 'unknown OS'} · borg {f.borg_version} · borgmatic {f.borgmatic_version}"
        f" · login {f.login_user}"
    )


class ClientNameValidator(Validator):
    """The engine's name rule, and unique: not the server's, not another client's."""

    def __init__(self, form: ClientForm) -> None:
        super().__init__()
        self.form = form

    def validate(self, value: str) -> ValidationResult:
        name = value.strip()
        try:
            check_name("name", name)
        except FieldError as exc:
            return self.failure(exc.message)
        state, current = self.form.state, self.form.client
        if name == state.server_name:
            return self.failure(f"{name!r} is the server's name")
        if any(c.name == name and c is not current for c in state.clients):
            return self.failure(f"another client is already called {name!r}")
        return self.success()


class OwnKeepValidator(Validator):
    """A keep_* override: a whole number, and the client must still keep something."""

    def __init__(self, form: ClientForm, key: str) -> None:
        super().__init__()
        self.form, self.key = form, key

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.success()
        try:
            check_keep_count(self.key, value.strip())
        except FieldError as exc:
            return self.failure(exc.message)
        merged = {**self.form.state.retention, **self.form.own_retention(), self.key: int(value)}
        if not any(isinstance(v, int) and v > 0 for v in merged.values()) and (
            "keep_within" not in merged
        ):
            return self.failure("with these numbers the client keeps no archive at all")
        return self.success()


class ClientForm(Vertical):
    """The detail of one client (hidden while there is none)."""

    class Renamed(Message):
        def __init__(self, client: ClientEntry) -> None:
            super().__init__()
            self.client = client

    def __init__(self, state: WizardState) -> None:
        super().__init__(id="client-detail")
        self.state = state
        self.client: ClientEntry | None = None
        self.existing: dict[str, ExistingSetup | str | None] = {}
        """By client key: what its check found of an existing Borg setup on the server."""
        self._loading = False

    def compose(self) -> ComposeResult:
        yield Label("", id="detail-title", classes="section")
        yield Static("", id="detail-facts", markup=False)
        yield TakeoverChoice()
        name = FieldInput(id="client-name", label="name", validators=[ClientNameValidator(self)])
        yield field_row("Name", name)
        yield Static("", id="rename-hint", classes="hint", markup=False)
        yield field_row(
            "Source directories",
            FieldInput(
                id="sources",
                label="source directories",
                placeholder="/etc /home '/srv/my data'",
                takes_question_mark=True,
                validators=[WordsValidator(check_source_directory, "source_directories")],
            ),
        )
        yield field_row(
            "Exclude patterns",
            FieldInput(
                id="excludes",
                label="exclude patterns",
                placeholder="optional, e.g. *.tmp /home/*/.cache",
                takes_question_mark=True,
                validators=[WordsValidator(check_exclude_pattern, "exclude_patterns", True)],
            ),
        )
        with Vertical(classes="field"):
            with Horizontal(id="own-keep-row", classes="field-row"):
                yield Label("Own retention", classes="field-label")
                for key in KEEP_FIELDS:
                    yield Label(key.removeprefix("keep_"), classes="keep-label")
                    yield FieldInput(
                        id=f"own-{key}",
                        label=key,
                        restrict=r"[0-9]*",
                        max_length=7,
                        validators=[OwnKeepValidator(self, key)],
                        classes="keep-input",
                    )
            for key in KEEP_FIELDS:
                error = Static("", id=f"own-{key}-error", classes="field-error")
                error.display = False
                yield error
        yield field_row(
            "Storage quota",
            FieldInput(
                id="quota",
                label="storage quota",
                placeholder="none",
                max_length=12,
                validators=[FieldValidator(check_quota, "quota", optional=True)],
            ),
            Static("", id="quota-hint", classes="hint", markup=False),
        )
        yield field_row(
            "Repository",
            FieldInput(
                id="repository",
                label="repository",
                validators=[FieldValidator(check_repository_path, "repository", optional=True)],
            ),
        )
        yield field_row(
            "Archive prefix",
            FieldInput(
                id="archive-prefix",
                label="archive prefix",
                max_length=64,
                validators=[FieldValidator(check_archive_prefix, "archive_prefix", optional=True)],
            ),
        )

    # --- showing a client -------------------------------------------------------------

    def show(self, client: ClientEntry | None) -> None:
        """Fill the fields from `client` (None hides the form)."""
        self.client = client
        self.display = client is not None
        if client is None:
            return
        self._loading = True
        self.label_fields()
        self.query_one("#detail-facts", Static).update(client_facts_text(client))
        self.query_one("#client-name", Input).value = client.name
        self.query_one("#sources", Input).value = join_words(client.source_directories)
        self.query_one("#excludes", Input).value = join_words(client.exclude_patterns)
        for key in KEEP_FIELDS:
            field = self.query_one(f"#own-{key}", FieldInput)
            value = client.retention.get(key)
            field.value = "" if value is None else str(value)
            default = self.state.retention.get(key)
            field.placeholder = "-" if default is None else str(default)
        self.query_one("#quota", Input).value = client.quota or ""
        suggestion = self.suggested_quota()
        self.query_one("#quota-hint", Static).update(
            f"suggested {suggestion[0]} (ctrl+g): {suggestion[1]}" if suggestion else ""
        )
        self.query_one("#repository", Input).value = client.repository or ""
        self.query_one("#archive-prefix", Input).value = client.archive_prefix or ""
        self._loading = False
        self.show_existing()
        for field in self.query(FieldInput).results(FieldInput):
            self.screen.show_field_problem(field)

    def show_check(self) -> None:
        """The client's check finished: its facts (or why not), and what it already has."""
        if self.client is not None:
            self.query_one("#detail-facts", Static).update(client_facts_text(self.client))
            self.show_existing()

    def found_existing(self, client: ClientEntry, setup: ExistingSetup | str | None) -> None:
        """A check's discovery: what the client already has; taking it over is the default
        until the operator chooses (an inventory's own `repository:` is a choice)."""
        self.existing[client.key] = setup
        chosen = client.repository is not None or client.key in leave_out_keys(self.state)
        if isinstance(setup, ExistingSetup) and not chosen:
            apply_choice(self.state, client, setup, TAKE)

    @on(TakeoverChoice.Chosen)
    def _chosen(self, event: TakeoverChoice.Chosen) -> None:
        client = self.client
        setup = self.existing.get(client.key) if client else None
        if client is not None and isinstance(setup, ExistingSetup):
            apply_choice(self.state, client, setup, event.choice)
            self.show_existing()

    def show_existing(self) -> None:
        """The client's existing Borg setup on the server, and the choice made for it."""
        client = self.client
        if client is None:
            return
        setup = self.existing.get(client.key)
        found = isinstance(setup, ExistingSetup)
        choice = current_choice(self.state, client, setup) if found else None
        self.query_one(TakeoverChoice).show(client, setup, choice)
        if found:
            self.query_one("#repository", Input).placeholder = f"default: {setup.default}"
        if self.query_one("#repository", Input).value != (client.repository or ""):
            self._loading = True
            self.query_one("#repository", Input).value = client.repository or ""
            self._loading = False

    def label_fields(self) -> None:
        client = self.client
        assert client is not None
        self.query_one("#detail-title", Label).update(f"{client.name} ({client.ssh})")
        self.query_one("#client-name", FieldInput).label = f"name of the client at {client.ssh}"
        for field_id, what in (
            ("sources", "source directories"),
            ("excludes", "exclude patterns"),
            ("quota", "storage quota"),
            ("repository", "repository"),
            ("archive-prefix", "archive prefix"),
        ):
            self.query_one(f"#{field_id}", FieldInput).label = f"{client.name}'s {what}"
        for key in KEEP_FIELDS:
            self.query_one(f"#own-{key}", FieldInput).label = f"{client.name}'s {key}"
        root = self.state.repo_root
        default = posixpath.join(root, client.name) if root else f"{{repo_root}}/{client.name}"
        self.query_one("#repository", Input).placeholder = f"default: {default}"
        self.query_one("#archive-prefix", Input).placeholder = f"default: {client.name}-"
        hint = ""
        if client.saved_name and client.name != client.saved_name:
            hint = (
                f"Was {client.saved_name} in the saved inventory. If it was applied, the new "
                "name means a new repository; the old one stays on the server and its key "
                "line is kept and reported."
            )
        self.query_one("#rename-hint", Static).update(hint)
        self.query_one("#rename-hint").display = bool(hint)

    # --- values -----------------------------------------------------------------------

    def own_retention(self) -> dict:
        own = {}
        for key in KEEP_FIELDS:
            text = self.query_one(f"#own-{key}", Input).value.strip()
            if text.isdigit():
                own[key] = int(text)
        return own

    def suggested_quota(self) -> tuple[str, str] | None:
        """(quota, why) from the server's free space at its repository root."""
        facts = self.state.server_facts
        if facts is None or not facts.free_space:
            return None
        root = self.state.repo_root
        path, free = next(
            ((p, f) for p, f in facts.free_space.items() if p == root),
            max(facts.free_space.items(), key=lambda item: item[1]),
        )
        clients = max(len(self.state.clients), 1)
        quota = suggested_quota(free, clients)
        gib = free / 1024**3
        return quota, f"80% of {gib:.0f} GiB free at {path} / {clients} client(s)"

    def problems(self) -> list[str]:
        return [p for f in self.query(FieldInput).results(FieldInput) if (p := f.problem())]

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        client, field = self.client, event.input
        if self._loading or client is None or not isinstance(field, FieldInput):
            return
        if field.id and field.id.startswith("own-"):
            for key in KEEP_FIELDS:
                self.screen.show_field_problem(self.query_one(f"#own-{key}", FieldInput))
        if field.problem() is None:
            self._store(client, field)

    def _store(self, client: ClientEntry, field: FieldInput) -> None:
        """A valid value goes into the client at once (an invalid one keeps the last)."""
        value = field.value.strip()
        if field.id == "client-name" and value != client.name:
            client.name = value
            self.label_fields()
            self.post_message(self.Renamed(client))
        elif field.id == "sources":
            client.source_directories = list(dict.fromkeys(split_words(value)))
        elif field.id == "excludes":
            client.exclude_patterns = split_words(value)
        elif field.id == "quota":
            client.quota = value or None
        elif field.id == "repository" and (value or None) != client.repository:
            client.repository = value or None
            leave_out_keys(self.state).discard(client.key)
            self.show_existing()
        elif field.id == "archive-prefix":
            client.archive_prefix = value or None
        elif field.id and field.id.startswith("own-") and self._own_keep_valid():
            client.retention = {
                **{k: v for k, v in client.retention.items() if k not in KEEP_FIELDS},
                **self.own_retention(),
            }

    def _own_keep_valid(self) -> bool:
        return all(f.problem() is None for f in self.query(".keep-input").results(FieldInput))
