"""Advice after two clients present one key (issue 25, item 5): never "delete the key" on a
client whose key line already works. One machine listed twice (the same ssh destination or
the same host key): remove an entry from the inventory. Two machines: remove the key on the
newcomer only — the client whose key line is not yet in authorized_keys."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.planning import client_key, converge, fresh_fleet, plan_for
from wizard.pipeline.desired.items import DesiredStateError

KEY_FILES = "~/.ssh/borgkeep_ed25519*"


def refusal(inventory, settings, facts, passphrases) -> DesiredStateError:
    with pytest.raises(DesiredStateError) as refused:
        plan_for(inventory, settings, facts, passphrases)
    return refused.value


def applied_fleet():
    """host1 and host2 set up (their key lines pinned), each with its own host key."""
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    for name in ("host1", "host2"):
        facts[name] = replace(facts[name], host_key=f"ssh-ed25519 HOSTKEY-{name}")
    return inventory, settings, facts, passphrases


def test_a_newcomer_with_a_working_clients_key_is_told_to_remove_its_own_key_only():
    inventory, settings, facts, passphrases = applied_fleet()
    facts["host2"] = replace(facts["host2"], client_public_key=client_key("host1"))
    error = refusal(inventory, settings, facts, passphrases)
    message = str(error)
    assert error.host == "host2"
    assert "is the same as client host1's" in message
    assert (
        f"host2 is the newcomer (a cloned machine, or a copied key): remove {KEY_FILES} on host2 only"
        in message
    )
    assert "host1's key line is already in authorized_keys and its key must stay" in message
    assert "on host1" not in message and "on one" not in message


def test_one_machine_by_its_host_key_is_one_host_listed_twice():
    inventory, settings, facts, passphrases = applied_fleet()
    facts["host2"] = replace(
        facts["host2"], client_public_key=client_key("host1"), host_key=facts["host1"].host_key
    )
    message = str(refusal(inventory, settings, facts, passphrases))
    assert "host2 and host1 are one machine (the same SSH host key)" in message
    assert "the inventory lists one host twice; remove host2 from the inventory" in message
    assert "keep host1, whose key line is already in authorized_keys" in message
    assert "delete no key" in message and "on host1" not in message


def test_one_machine_by_its_destination_is_one_host_listed_twice():
    inventory, settings, facts, passphrases = applied_fleet()
    host1, host2 = inventory.clients
    inventory = replace(inventory, clients=(host1, replace(host2, ssh=host1.ssh)))
    facts["host2"] = replace(facts["host2"], client_public_key=client_key("host1"))
    message = str(refusal(inventory, settings, facts, passphrases))
    assert "are one machine (the same ssh destination (root@host1.lan))" in message
    assert "remove host2 from the inventory" in message and "delete no key" in message
    assert KEY_FILES not in message


def test_two_new_clients_with_one_key_are_told_to_remove_it_on_one_only():
    inventory, settings, facts, passphrases = fresh_fleet()
    for name in ("host1", "host2"):
        facts[name] = replace(facts[name], client_public_key=client_key("shared"))
    message = str(refusal(inventory, settings, facts, passphrases))
    assert "neither is set up yet" in message
    assert f"remove {KEY_FILES} on one of them only, e.g. host2" in message
