"""A client's `repository:` (where its repository lies on the server, e.g. one taken over
where it is) and `archive_prefix:` (the literal start of the old archive names) in the
inventory: accepted values, refused ones named by field, clients that would share or nest
repositories, the round trip, and where `ServerPaths` puts each repository."""

from __future__ import annotations

import pytest

from wizard.artefacts.layout import server_paths
from wizard.inventory.model import dump_inventory
from wizard.inventory.parse import InventoryError, parse_inventory
from wizard.inventory.settings import resolve_server


def inventory_text(*clients: dict[str, str], repo_root: str | None = None) -> str:
    """An inventory with one line per extra key of each client (values written as given)."""
    root = f"  repo_root: {repo_root}\n" if repo_root else ""
    text = (
        "version: 1\n"
        "server:\n"
        "  name: nas\n"
        "  ssh: root@nas.lan\n"
        f"{root}"
        "retention:\n"
        "  keep_daily: 7\n"
        "clients:\n"
    )
    for n, extra in enumerate(clients, start=1):
        text += f"  - name: host{n}\n    ssh: root@host{n}.lan\n    source_directories: [/etc]\n"
        text += "".join(f"    {key}: {value}\n" for key, value in extra.items())
    return text


def errors_of(text: str) -> list[tuple[str, str]]:
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, "inv.yaml")
    return [(error.field, str(error)) for error in info.value.errors]


def test_a_placed_repository_and_a_prefix_are_read():
    inventory = parse_inventory(
        inventory_text(
            {"repository": "/data/backups/host1", "archive_prefix": "host1-"},
            {},
        )
    )
    host1, host2 = inventory.clients
    assert (host1.repository, host1.archive_prefix) == ("/data/backups/host1", "host1-")
    assert (host2.repository, host2.archive_prefix) == (None, None)


@pytest.mark.parametrize(
    "value",
    ["/data/backups/host1", "/srv/borg+old/host1@nas", "/a", "/data/host1.borg_repo-2"],
)
def test_plain_absolute_repository_paths_are_accepted(value):
    (client,) = parse_inventory(inventory_text({"repository": value})).clients
    assert client.repository == value


@pytest.mark.parametrize("value", ["host1-", "a", "web01.lan_", "A9-x.y_z", "x" * 64, "0backup"])
def test_literal_archive_prefixes_are_accepted(value):
    (client,) = parse_inventory(inventory_text({"archive_prefix": f"'{value}'"})).clients
    assert client.archive_prefix == value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("data/backups/host1", "relative"),
        ("/", "the server's root"),
        ("'//x'", "two leading slashes"),
        ("/a/./b", "a '.' component"),
        ("/a/../b", "a '..' component"),
        ("/a//b", "a doubled slash"),
        ("'/data/host1;rm -rf /'", "shell characters"),
        ("'/data/$HOME'", "a shell variable"),
        ("'/data/ho st1'", "a space"),
        ("'/data/`id`'", "backquotes"),
        ("'/data/host1\"'", "a quote"),
        ("'~/host1'", "a home-relative path"),
        ("42", "not a string"),
        ("[/a, /b]", "a list"),
    ],
)
def test_a_bad_repository_is_refused_by_its_field(value, why):
    errors = errors_of(inventory_text({"repository": value}))
    assert [field for field, _ in errors] == ["clients[0].repository"], why


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("'host1-{now}'", "a placeholder"),
        ("'{hostname}-'", "starts with a placeholder"),
        ("'host 1-'", "a space"),
        ("x" * 65, "65 characters"),
        ("'-host1'", "starts with '-' (would read as an option)"),
        ("'.host1'", "starts with '.'"),
        ("'_host1'", "starts with '_'"),
        ("''", "empty"),
        ("'host1/'", "a slash"),
        ("'host1*'", "a glob"),
        ("'h\u00e9te-'", "not ASCII"),
        ("7", "not a string"),
    ],
)
def test_a_bad_archive_prefix_is_refused_by_its_field(value, why):
    errors = errors_of(inventory_text({"archive_prefix": value}))
    assert [field for field, _ in errors] == ["clients[0].archive_prefix"], why
    assert "archive prefix" in errors[0][1]


def test_two_clients_with_the_same_repository_are_refused_naming_both():
    errors = errors_of(
        inventory_text({"repository": "/data/shared"}, {"repository": "/data/shared"})
    )
    ((field, message),) = errors
    assert field == "clients[1].repository"
    assert "host2 and host1" in message and "the same repository" in message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("/data/backups", "/data/backups/host2"),
        ("/data/backups/host1/inner", "/data/backups/host1"),
    ],
)
def test_nested_repositories_are_refused(first, second):
    errors = errors_of(inventory_text({"repository": first}, {"repository": second}))
    ((field, message),) = errors
    assert field == "clients[1].repository"
    assert "nested" in message and first in message and second in message


def test_a_sibling_with_a_common_name_start_is_not_nested():
    inventory = parse_inventory(
        inventory_text({"repository": "/data/host1"}, {"repository": "/data/host10"})
    )
    assert [c.repository for c in inventory.clients] == ["/data/host1", "/data/host10"]


def test_a_placed_repository_on_another_clients_default_is_refused_when_repo_root_is_set():
    # host1 places its repository where host2's default one lies: /backups/host2
    text = inventory_text({"repository": "/backups/host2"}, {}, repo_root="/backups")
    ((field, message),) = errors_of(text)
    assert field == "clients[0].repository"
    assert "host2 and host1" in message and "/backups/host2" in message


def test_a_default_repository_under_a_placed_one_is_refused():
    text = inventory_text({}, {"repository": "/backups"}, repo_root="/backups")
    ((field, message),) = errors_of(text)
    assert field == "clients[1].repository"
    assert "nested" in message and "/backups/host1" in message


def test_without_repo_root_the_defaults_are_left_to_the_plan():
    # the borg user's home decides the default; the inventory cannot know it yet
    inventory = parse_inventory(inventory_text({"repository": "/backups/host2"}, {}))
    assert inventory.clients[0].repository == "/backups/host2"


def test_a_placed_repository_at_its_own_default_is_accepted():
    text = inventory_text({"repository": "/backups/host1"}, {}, repo_root="/backups")
    assert parse_inventory(text).clients[0].repository == "/backups/host1"


def test_the_round_trip_keeps_both_keys():
    inventory = parse_inventory(
        inventory_text(
            {"repository": "/data/backups/host1", "archive_prefix": "host1-"},
            {"archive_prefix": "web."},
            {},
            repo_root="/backups",
        )
    )
    text = dump_inventory(inventory)
    assert "repository: /data/backups/host1" in text and "archive_prefix: host1-" in text
    assert text.count("repository:") == 1 and text.count("archive_prefix:") == 2
    again = parse_inventory(text)
    assert again == inventory
    assert dump_inventory(again) == text


def test_an_inventory_without_the_keys_dumps_without_them():
    text = dump_inventory(parse_inventory(inventory_text({}, {})))
    assert "repository:" not in text and "archive_prefix:" not in text


def test_server_paths_put_a_placed_repository_where_the_inventory_says():
    paths = server_paths("/home/borg", "/backups", (("host1", "/data/backups/host1"),))
    assert paths.repository("host1") == "/data/backups/host1"
    assert paths.is_placed("host1")
    assert paths.repository_config("host1") == "/data/backups/host1/config"
    assert paths.repository_nonce("host1") == "/data/backups/host1/nonce"
    assert paths.repository("host2") == "/backups/host2"
    assert not paths.is_placed("host2")
    assert paths.repository_config("host2") == "/backups/host2/config"
    # Borgkeep's own files stay in the borg user's state directory either way
    assert paths.prune_config("host1") == "/home/borg/.config/borgkeep/prune-host1.yaml"


def test_server_paths_without_placements_use_repo_root_for_every_client():
    paths = server_paths("/home/borg", "/home/borg/backups")
    assert paths.repository("host1") == "/home/borg/backups/host1"
    assert not paths.is_placed("host1")


def test_the_servers_settings_carry_only_the_placed_repositories():
    inventory = parse_inventory(
        inventory_text({}, {"repository": "/data/backups/host2"}, repo_root="/backups")
    )
    settings = resolve_server(inventory, "root", "nas.lan", 22)
    assert settings.placed_repositories == (("host2", "/data/backups/host2"),)
    paths = server_paths(
        "/home/borg", settings.repo_root("/home/borg"), settings.placed_repositories
    )
    assert paths.repository("host1") == "/backups/host1"
    assert paths.repository("host2") == "/data/backups/host2"
