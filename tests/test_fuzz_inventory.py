"""Fuzzed input: any inventory is a clear error or a valid plan, never a traceback, and
no unvalidated value reaches a remote command."""

from __future__ import annotations

import re
import shlex

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.planning import client_facts, plan_for, server_facts
from wizard.inventory.parse import InventoryError, parse_inventory
from wizard.inventory.settings import resolve_server
from wizard.pipeline.desired.items import Passphrase
from wizard.reports import render_plan_text

HOSTILE = st.sampled_from(
    [
        "",
        " ",
        "-x",
        "a b",
        "a,b",
        'a"b',
        "a'b",
        "$(id)",
        "`id`",
        "a;b",
        "a\nb",
        "a|b",
        "/x/../y",
        "../",
    ]
)


def mostly(valid, invalid=None):
    """Valid values 19 times in 20, so that whole valid inventories are common too."""
    invalid = st.one_of(HOSTILE, st.text(max_size=24)) if invalid is None else invalid
    return st.sampled_from([True] * 19 + [False]).flatmap(lambda ok: valid if ok else invalid)


TEXT = mostly(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,10}", fullmatch=True))
PATHS = mostly(
    st.from_regex(r"/[A-Za-z0-9._+@-]{1,8}(/[A-Za-z0-9._+@-]{1,8}){0,2}", fullmatch=True)
)
SSH = mostly(
    st.from_regex(
        r"([a-z_][a-z0-9_-]{0,6}@)?[a-z0-9][a-z0-9.-]{0,10}(:[1-9][0-9]{0,3})?", fullmatch=True
    )
)
CRON = mostly(
    st.sampled_from(["0 3 * * *", "*/5 * * * *", "15 1-5 * * 1-5"]),
    st.one_of(HOSTILE, st.just("61 1 * * *")),
)
NUMBER = mostly(
    st.integers(1, 50), st.one_of(st.integers(-5, 0), st.text(max_size=3), st.booleans(), st.none())
)
SCALAR = st.one_of(TEXT, NUMBER, st.lists(TEXT, max_size=2))


@st.composite
def inventories(draw):
    server = {"name": draw(TEXT), "ssh": draw(SSH)}
    for key, strategy in (
        ("address", SSH),
        ("borg_user", TEXT),
        ("repo_root", PATHS),
        ("prune_schedule", CRON),
    ):
        if draw(st.booleans()):
            server[key] = draw(strategy)
    retention = {
        draw(st.sampled_from(["keep_daily", "keep_weekly", "keep_within", "keep_bogus"])): draw(
            NUMBER
        )
        for _ in range(draw(st.integers(0, 3)))
    }
    clients = []
    for _ in range(draw(st.integers(0, 3))):
        client = {
            "name": draw(TEXT),
            "ssh": draw(SSH),
            "source_directories": draw(
                mostly(st.lists(PATHS, min_size=1, max_size=3), st.just([]))
            ),
        }
        if draw(st.booleans()):
            client["exclude_patterns"] = draw(st.lists(TEXT, max_size=2))
        if draw(st.booleans()):
            client["schedule"] = draw(CRON)
        if draw(st.booleans()):
            client["retention"] = {"keep_daily": draw(NUMBER)}
        if not draw(mostly(st.just(True), st.just(False))):
            client[draw(TEXT)] = draw(SCALAR)
        clients.append(client)
    data = {
        "version": draw(mostly(st.just(1), st.sampled_from([2, "1"]))),
        "server": server,
        "retention": retention,
        "clients": clients,
    }
    return yaml.safe_dump(data, allow_unicode=True)


SAFE_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+\Z")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inventories())
def test_any_inventory_is_an_error_or_a_safe_plan(text):
    try:
        inventory = parse_inventory(text, "fuzz.yaml")
    except InventoryError as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.field and error.message
            assert str(error).startswith("fuzz.yaml")
        return
    settings_ = resolve_server(inventory, "root", "nas.example", 22)
    facts = {inventory.server.name: server_facts(host=inventory.server.name)}
    for client in inventory.clients:
        facts[client.name] = client_facts(client.name)
    passphrases = {c.name: Passphrase("s3cret-passphrase-value", True) for c in inventory.clients}
    _, plan = plan_for(inventory, settings_, facts, passphrases)
    event("valid inventory")
    assert "s3cret-passphrase-value" not in render_plan_text(plan)
    for change in plan.changes:
        for value in change.args.values():
            # every argument that reaches a remote shell is a plain, safe word
            assert SAFE_WORD.match(value) or shlex.split(value) == [value] and "\n" not in value
        if change.kind == "crontab":
            for line in (change.new or "").splitlines():
                assert "\n" not in line and "$(" not in line and "`" not in line


@settings(max_examples=300, deadline=None)
@given(SSH)
def test_any_ssh_destination_is_an_error_or_parses(value):
    from wizard.remote.ssh_config import parse_destination

    try:
        user, host, port = parse_destination(value)
    except ValueError as exc:
        assert str(exc)
        return
    assert not value.startswith("-")
    assert all(not ch.isspace() for ch in value)
    assert port is None or 1 <= port <= 65535
    assert re.fullmatch(r"[A-Za-z0-9._:-]+", host)
