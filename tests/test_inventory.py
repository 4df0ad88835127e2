"""Inventory v1: load, validate (every error names the field and line), save."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wizard.inventory.model import dump_inventory, save_inventory
from wizard.inventory.parse import InventoryError, load_inventory, parse_inventory

GOOD = """\
version: 1
server:
  name: nas
  ssh: root@nas.lan:22
  address: nas.lan:22
  borg_user: borg
  repo_root: /backups
  prune_schedule: "30 5 * * *"
retention:
  keep_daily: 7
  keep_weekly: 4
  keep_monthly: 6
  keep_yearly: 1
clients:
  - name: host1
    ssh: root@host1.lan
    source_directories: [/etc, /home, /root]
    exclude_patterns: []
    schedule: "0 3 * * *"
    retention: {keep_daily: 14}
  - name: web-01.lan
    ssh: web01
    source_directories: [/srv/www]
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, "inv.yaml")
    return [str(e) for e in info.value.errors]


def test_good_inventory_loads_with_values():
    inv = parse_inventory(GOOD)
    assert inv.server.name == "nas"
    assert inv.server.prune_schedule == "30 5 * * *"
    assert [c.name for c in inv.clients] == ["host1", "web-01.lan"]
    assert inv.clients[0].retention == {"keep_daily": 14}
    assert inv.clients[1].schedule is None
    assert inv.retention["keep_yearly"] == 1


def test_round_trip_keeps_order_and_values(tmp_path):
    inv = parse_inventory(GOOD)
    path = tmp_path / "sub" / "inventory.yaml"
    save_inventory(inv, path)
    again = load_inventory(path)
    assert again == inv
    text = path.read_text()
    assert text.index("version") < text.index("server") < text.index("retention")
    assert text.index("host1") < text.index("web-01.lan")
    assert dump_inventory(again) == text


def test_unknown_key_is_named_with_its_line():
    text = GOOD.replace("  repo_root: /backups\n", "  repo_root: /backups\n  colour: blue\n")
    (error,) = errors_of(text)
    assert error.startswith("inv.yaml:8: server.colour: unknown key")


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(InventoryError, match="nope.yaml"):
        load_inventory(tmp_path / "nope.yaml")


def test_yaml_syntax_error_gives_line():
    (error,) = errors_of("version: 1\nserver: [\n")
    assert "not valid YAML" in error and "inv.yaml:" in error


def test_version_must_be_one():
    assert any(
        "version: must be 1" in e for e in errors_of(GOOD.replace("version: 1", "version: 2"))
    )


def test_duplicate_client_names_rejected():
    text = GOOD.replace("name: web-01.lan", "name: host1")
    assert any("duplicate client name 'host1'" in e for e in errors_of(text))


def test_retention_needs_one_positive_keep():
    text = GOOD.replace("keep_daily: 7", "keep_daily: 0").replace(
        "keep_weekly: 4", "keep_weekly: 0"
    )
    text = text.replace("keep_monthly: 6", "keep_monthly: 0").replace(
        "keep_yearly: 1", "keep_yearly: 0"
    )
    errors = errors_of(text.replace("    retention: {keep_daily: 14}\n", ""))
    assert any(
        e.endswith("retention: at least one keep_* option must be greater than 0") for e in errors
    )


@pytest.mark.parametrize("value", ["-1", "1.5", "'seven'", "true"])
def test_retention_numbers_checked(value):
    errors = errors_of(GOOD.replace("keep_weekly: 4", f"keep_weekly: {value}"))
    assert any("retention.keep_weekly" in e for e in errors)


def test_client_override_merged_must_keep_something():
    text = GOOD.replace(
        "retention: {keep_daily: 14}",
        "retention: {keep_daily: 0, keep_weekly: 0, keep_monthly: 0, keep_yearly: 0}",
    )
    assert any("clients[0].retention" in e for e in errors_of(text))


@pytest.mark.parametrize(
    "schedule",
    [
        "0 3 L * *",
        "0 3 * * 1#2",
        "0 3 * * monday",
        "0 3 * *",
        "61 3 * * *",
        "0 3 * * * *",
        "@daily",
        "0 3 * * *; rm -rf /",
        "$(x) * * * *",
    ],
)
def test_bad_cron_rejected(schedule):
    errors = errors_of(GOOD.replace('schedule: "0 3 * * *"', f"schedule: {schedule!r}"))
    assert any("clients[0].schedule" in e for e in errors)


INJECTIONS = [
    '"a\\"b"',
    "'a,b'",
    '"a\\nb"',
    "'$(reboot)'",
    "'a b'",
    "'-rf'",
    "'`id`'",
    "'a;b'",
]


@pytest.mark.parametrize("bad", INJECTIONS)
def test_injection_in_names_rejected(bad):
    assert any("server.name" in e for e in errors_of(GOOD.replace("name: nas", f"name: {bad}")))
    assert any(
        "clients[0].name" in e for e in errors_of(GOOD.replace("name: host1", f"name: {bad}"))
    )


STRICT_PATH_REFUSED = [
    "/a b", '/a"b', "/a,b", "/$(id)", "/a\\nb", "relative", "-rf", "/a/../b", "/a;b", "/a'b",
]  # fmt: skip


@pytest.mark.parametrize("bad", STRICT_PATH_REFUSED)
def test_injection_in_shell_bound_paths_rejected(bad):
    """repo_root reaches shells and `command="..."`: only the strict characters."""
    quoted = '"' + bad.replace('"', '\\"') + '"'
    errors = errors_of(GOOD.replace("repo_root: /backups", f"repo_root: {quoted}"))
    assert any("server.repo_root" in e for e in errors)


YAML_ONLY_ACCEPTED = [
    "/srv/my data", '/a"b', "/a,b", "/$(id)", "/a;b", "/a'b", "/srv/#1: it's \"here\"",
    "/srv/ünïcode", "/srv/[x]*", "/-rf",
]  # fmt: skip


@pytest.mark.parametrize("path", YAML_ONLY_ACCEPTED)
def test_source_directories_take_any_printable_path(path):
    """Source directories only go into borgmatic's YAML, so they may hold spaces, quotes,
    `#`, `:` and shell syntax (which never reaches a shell)."""
    quoted = '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
    inventory = parse_inventory(GOOD.replace("[/srv/www]", f"[{quoted}]"))
    assert inventory.clients[1].source_directories == (path,)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("relative", "absolute"),
        ("/a/../b", ".."),
        ("/a\\nb", "control"),
        ("/a\\tb", "control"),
        ("/a\\u202eb", "non-printable"),
        ("/a\\x1b[2Jb", "control"),
        ("/trailing ", "whitespace"),
    ],
)
def test_source_directories_refuse_what_yaml_or_borg_would_not_carry(path, why):
    errors = errors_of(GOOD.replace("[/srv/www]", f'["{path}"]'))
    assert any("clients[1].source_directories[0]" in e and why in e for e in errors), errors


@pytest.mark.parametrize(
    ("pattern", "why"),
    [("#comment", "comment"), (" lead", "whitespace"), ("*.tmp\\nrm", "control"), ("", "empty")],
)
def test_exclude_patterns_refused(pattern, why):
    text = GOOD.replace("exclude_patterns: []", f'exclude_patterns: ["{pattern}"]')
    errors = errors_of(text)
    assert any("clients[0].exclude_patterns[0]" in e and why in e for e in errors), errors


@pytest.mark.parametrize("pattern", ["*.tmp", "/home/*/My Cache", "sh:/srv/**/.git", "-x", "a#b"])
def test_exclude_patterns_accepted(pattern):
    text = GOOD.replace("exclude_patterns: []", f'exclude_patterns: ["{pattern}"]')
    assert parse_inventory(text).clients[0].exclude_patterns == (pattern,)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("0 25 * * *", "hour 25 is out of range 0-23"),
        ("61 3 * * *", "minute 61 is out of range 0-59"),
        ("0 3 0 * *", "day of month 0 is out of range 1-31"),
        ("0 3 * 13 *", "month 13 is out of range 1-12"),
        ("0 3 * * 8", "weekday 8 is out of range 0-7"),
        ("0 3 * * monday", "weekday 'monday' is not a number"),
        ("*/0 3 * * *", "step in '*/0' must be at least 1"),
        ("5/10 3 * * *", "a step needs a range or '*'"),
        ("0 5-2 * * *", "hour range 5-2 runs backwards"),
        ("0 3 * *", "4 field(s) where cron needs 5"),
    ],
)
def test_cron_errors_name_the_cron_field(schedule, message):
    errors = errors_of(GOOD.replace('schedule: "0 3 * * *"', f"schedule: {schedule!r}"))
    assert any(e.startswith("inv.yaml:19: clients[0].schedule: ") and message in e for e in errors)


def test_validate_command_explains_the_cron_field(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "inv.yaml"
    path.write_text(GOOD.replace('schedule: "0 3 * * *"', 'schedule: "0 25 * * *"'))
    result = subprocess.run(
        [sys.executable, "-m", "wizard.cli", "--inventory", str(path), "validate"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "clients[0].schedule: hour 25 is out of range 0-23" in result.stderr


@pytest.mark.parametrize(
    "bad",
    [
        "-oProxyCommand=x",
        "root@host;id",
        "a b",
        "root@$(id)",
        "host:99999",
        "user@",
        "@host",
        "h\nx",
    ],
)
def test_injection_in_ssh_destination_rejected(bad):
    errors = errors_of(GOOD.replace("ssh: web01", f"ssh: {bad!r}"))
    assert any("clients[1].ssh" in e for e in errors)


@pytest.mark.parametrize("bad", ["'Borg'", "'b;id'", "'-x'", "'b b'"])
def test_bad_borg_user_rejected(bad):
    assert any(
        "server.borg_user" in e
        for e in errors_of(GOOD.replace("borg_user: borg", f"borg_user: {bad}"))
    )


@given(st.text(max_size=40))
def test_any_name_is_a_clean_error_or_safe(value):
    import yaml

    text = GOOD.replace("name: host1", "name: " + yaml.safe_dump(value).split("\n...")[0].strip())
    try:
        inv = parse_inventory(text)
    except InventoryError as exc:
        assert exc.errors
        return
    name = inv.clients[0].name
    assert all(ch.isalnum() or ch in "._-" for ch in name) and name[0].isalnum()


def test_the_drill_schedule_is_a_cron_expression_like_the_others():
    base = "version: 1\nserver: {name: nas, ssh: root@nas, drill_schedule: %s}\n" \
        "retention: {keep_daily: 7}\n"  # fmt: skip
    inventory = parse_inventory(base % "'0 13 * * 0'")
    assert inventory.server.drill_schedule == "0 13 * * 0"
    assert "drill_schedule: 0 13 * * 0" in dump_inventory(inventory)
    assert parse_inventory(base.replace(", drill_schedule: %s", "")).server.drill_schedule is None
    with pytest.raises(InventoryError) as raised:
        parse_inventory(base % "'0 25 * * *'")
    assert "server.drill_schedule" in str(raised.value) and "hour 25" in str(raised.value)
