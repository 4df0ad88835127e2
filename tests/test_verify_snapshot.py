"""Verify's decisions on hand-made snapshots: what each probe's answer proves, with no
session and no network. The snapshot is the hand-made fleet after its apply (its facts as
every host would report them); the answers are what the probes print, byte for byte, in
the grouped form one remote process reports them (`wizard.remote.grouped`)."""

from __future__ import annotations

import base64
from dataclasses import replace

from tests.planning import converge, fresh_fleet, plan_for
from wizard.artefacts.authorized_keys import parse_authorized_keys_block
from wizard.pipeline.facts import FileState, server_layout
from wizard.pipeline.snapshot import FleetSnapshot
from wizard.pipeline.verify import verify_fleet
from wizard.pipeline.verify_proofs import (
    SHELL_PROBE,
    SSH_FAILED,
    Proof,
    authorized_keys_proof,
    client_proof_commands,
    client_proofs,
    drift_proofs,
    forced_command_proof,
    guard_check_command,
    guard_proofs,
    other_repository,
    passphrase_proof,
    passphrase_proofs,
)
from wizard.remote.borg_rpc import REFUSED, probe_request
from wizard.remote.grouped import MARK, GroupedResult
from wizard.remote.transport import CommandResult

CLIENTS = ["host1", "host2"]


def applied() -> tuple[FleetSnapshot, dict]:
    """The snapshot of the hand-made fleet after its apply, and its passphrases."""
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    return FleetSnapshot(inventory, settings, facts), passphrases


def with_server_file(snapshot: FleetSnapshot, path: str, text: str) -> FleetSnapshot:
    nas = snapshot.server_facts
    state = replace(nas.file(path), content=text.encode())
    facts = {**snapshot.facts, "nas": replace(nas, files={**nas.files, path: state})}
    return FleetSnapshot(snapshot.inventory, snapshot.settings, facts, snapshot.errors)


def authorized_keys(snapshot: FleetSnapshot) -> tuple[str, str]:
    path = server_layout(snapshot.server_facts, snapshot.settings).authorized_keys
    return path, snapshot.server_facts.file(path).text


def grouped(*results: GroupedResult | None) -> CommandResult:
    """What one remote process running the probes side by side prints (None: a probe whose
    report is missing)."""
    lines = []
    for number, result in enumerate(results):
        if result is None:
            continue
        lines += [
            f"{MARK} {number} {result.rc}",
            base64.b64encode(result.stdout).decode(),
            base64.b64encode(result.stderr).decode(),
        ]
    return CommandResult(0, ("\n" + "\n".join(lines) + "\n").encode(), b"")


OPENED = b"\x82\xa1i\x02\xa1r\xda\x00 " + bytes(32)
"""borg serve's answer to the probe's second request: its own repository opened."""


def served_refusal(snapshot: FleetSnapshot, client: str, own: bytes = OPENED) -> GroupedResult:
    """The probe's answer through a pinned key: borg serve refuses the other path, then
    (`own`) opens the client's own repository."""
    refused = b"\x87\xa1i\x01" + REFUSED + other_repository(snapshot, client).encode()
    return GroupedResult(0, refused + own, b"")


OK = GroupedResult(0, b"", b"")


# --- a client's probes --------------------------------------------------------------------


def test_the_client_probes_are_its_config_and_requests_for_another_repository_and_its_own():
    snapshot, _ = applied()
    validate, probe = client_proof_commands(snapshot, "host2")
    assert "borgmatic" in validate and "/home/alice/" in validate
    assert probe.startswith("printf '") and "borg@nas.lan" in probe and "-p 2222" in probe
    assert "borg " not in probe and " info " not in probe  # no borg client starts
    other = other_repository(snapshot, "host2")
    assert "host2-borgkeep-probe" in other
    own = server_layout(snapshot.server_facts, snapshot.settings).repository("host2")
    request = "".join(f"\\{byte:03o}" for byte in probe_request(other, own))
    assert probe.startswith(f"printf '{request}' | ")


def test_a_pinned_key_that_serves_only_its_repository_passes_every_client_proof():
    snapshot, _ = applied()
    proofs = client_proofs(snapshot, "host1", grouped(OK, served_refusal(snapshot, "host1")))
    assert [p.ok for p in proofs] == [True] * 5, [p for p in proofs if not p.ok]
    assert proofs[-1].host == "nas" and "--append-only for host1" in proofs[-1].name
    assert "PathNotAllowed" in proofs[2].detail
    assert proofs[3].detail.startswith("borg serve opened /") and "host1" in proofs[3].detail


def test_an_own_repository_that_does_not_open_fails_with_borgs_reason():
    snapshot, _ = applied()
    missing = b"\x87\xa1i\x02\xafexception_class\xacDoesNotExist\xaeexception_args"
    answer = grouped(OK, served_refusal(snapshot, "host1", own=missing))
    proofs = {p.name: p for p in client_proofs(snapshot, "host1", answer)}
    own = proofs["its key opens its own repository through the pinned host key"]
    assert not own.ok and own.detail.endswith(": DoesNotExist")
    assert proofs["its key cannot reach another repository"].ok
    # the other repository opening is not taken for the own one
    other_opened = GroupedResult(0, OPENED.replace(b"\xa1i\x02", b"\xa1i\x01"), b"")
    proofs = {p.name: p for p in client_proofs(snapshot, "host1", grouped(OK, other_opened))}
    assert not proofs["its key opens its own repository through the pinned host key"].ok
    assert not proofs["its key cannot reach another repository"].ok


def test_a_shell_through_the_key_fails_both_key_proofs():
    snapshot, _ = applied()
    shell = GroupedResult(0, f"{SHELL_PROBE} serve\n".encode(), b"")
    proofs = {p.name: p for p in client_proofs(snapshot, "host1", grouped(OK, shell))}
    assert not proofs["its key gets no shell"].ok
    assert proofs["its key gets no shell"].detail == "a shell command ran through the key"
    assert not proofs["its key cannot reach another repository"].ok
    assert proofs["config validates with its own borgmatic"].ok


def test_a_key_the_server_refuses_proves_nothing_and_says_so():
    snapshot, _ = applied()
    denied = GroupedResult(SSH_FAILED, b"", b"borg@nas.lan: Permission denied (publickey).\n")
    proofs = {p.name: p for p in client_proofs(snapshot, "host1", grouped(OK, denied))}
    shell = proofs["its key gets no shell"]
    assert (
        not shell.ok and "did not accept the key: borg@nas.lan: Permission denied" in shell.detail
    )
    assert not proofs["its key cannot reach another repository"].ok
    own = proofs["its key opens its own repository through the pinned host key"]
    assert (own.ok, own.detail) == (False, "the server did not accept the key")


def test_a_failing_config_fails_with_its_last_line():
    snapshot, _ = applied()
    config = GroupedResult(1, b"", b"ignored\nconfig: line 3: bad key\n")
    refusal = served_refusal(snapshot, "host1")
    proofs = {p.name: p for p in client_proofs(snapshot, "host1", grouped(config, refusal))}
    validated = proofs["config validates with its own borgmatic"]
    assert (validated.ok, validated.detail) == (False, "config: line 3: bad key")


def test_probes_whose_report_is_missing_are_one_failed_proof():
    snapshot, _ = applied()
    answer = grouped(OK, None)
    answer = replace(answer, rc=137, stderr=b"Killed\n")
    (proof,) = client_proofs(snapshot, "host1", answer)
    assert (proof.name, proof.ok, proof.detail) == (
        "the client's probes could run",
        False,
        "Killed",
    )


def test_the_managed_line_must_be_the_one_the_plan_writes():
    snapshot, _ = applied()
    assert forced_command_proof(snapshot, "host1").ok
    path, text = authorized_keys(snapshot)
    line = parse_authorized_keys_block(text)["host1"]
    weakened = with_server_file(
        snapshot, path, text.replace(line, line.replace("--append-only", ""))
    )
    proof = forced_command_proof(weakened, "host1")
    assert not proof.ok and "--append-only" not in proof.detail and "host1" in proof.detail
    keyless = FleetSnapshot(
        snapshot.inventory,
        snapshot.settings,
        {**snapshot.facts, "host1": replace(snapshot.facts["host1"], client_public_key=None)},
    )
    assert not forced_command_proof(keyless, "host1").ok


# --- the server's -------------------------------------------------------------------------


def test_the_passphrase_is_proved_by_the_servers_copy_and_both_files_as_planned():
    snapshot, passphrases = applied()
    _, plan = plan_for(snapshot.inventory, snapshot.settings, dict(snapshot.facts), passphrases)
    opened = guard_proofs(
        snapshot, ["host1"], CommandResult(0, b"borgkeep-guard: host1: ok\n", b"")
    )
    proof = passphrase_proof(snapshot, "host1", opened[0], plan)
    assert (proof.host, proof.ok) == ("host1", True) and "server's identical copy" in proof.detail
    # the guard could not open the repository with the server's copy
    refused = guard_proofs(
        snapshot, ["host1"], CommandResult(1, b"", b"borgkeep-guard: host1: x\n")
    )
    proof = passphrase_proof(snapshot, "host1", refused[0], plan)
    assert not proof.ok and proof.detail.endswith(": x")
    # either copy differing from the plan's passphrase fails it, naming the file
    server_copy = server_layout(snapshot.server_facts, snapshot.settings).passphrase("host1")
    client_copy = next(p for p in snapshot.facts["host1"].files if p.endswith(".passphrase"))
    for host, path in (("nas", server_copy), ("host1", client_copy)):
        facts = dict(snapshot.facts)
        facts[host] = replace(
            facts[host], files={**facts[host].files, path: FileState(path, b"wrong\n", 0o600)}
        )
        _, drifted = plan_for(snapshot.inventory, snapshot.settings, facts, passphrases)
        proof = passphrase_proof(snapshot, "host1", opened[0], drifted)
        assert not proof.ok and f"{host}:{path}" in proof.detail, proof
        # another client's copy differing is not this client's problem
        assert passphrase_proof(snapshot, "host2", opened[0], drifted).ok
    assert not passphrase_proof(snapshot, "host1", opened[0], ValueError("no plan")).ok


def test_each_passphrase_proof_reads_its_own_guard_verdict():
    snapshot, passphrases = applied()
    _, plan = plan_for(snapshot.inventory, snapshot.settings, dict(snapshot.facts), passphrases)
    answer = CommandResult(1, b"borgkeep-guard: host1: ok\n", b"borgkeep-guard: host2: bad\n")
    host1, host2 = passphrase_proofs(
        snapshot, CLIENTS, guard_proofs(snapshot, CLIENTS, answer), plan
    )
    assert host1.ok and not host2.ok and host2.detail.endswith(": bad")
    stopped = [Proof("nas", "the guard's checks could run", False, "timed out")]
    assert not any(p.ok for p in passphrase_proofs(snapshot, CLIENTS, stopped, plan))


def test_the_guard_checks_every_client_in_one_run_as_the_borg_user():
    snapshot, _ = applied()
    command = guard_check_command(snapshot, CLIENTS)
    assert "check-all host1 host2" in command and "borg" in command


def test_each_client_passes_the_guards_check_only_on_its_own_clean_line():
    snapshot, _ = applied()
    answer = CommandResult(
        1,
        b"borgkeep-guard: host1: 3 archive(s); prune would keep 3\n"
        b"borgkeep-guard: host2: 2 archive(s)\n",  # said, and yet a problem below
        b"borgkeep-guard: host2: archive host2-x vanished since the baseline\n",
    )
    host1, host2 = guard_proofs(snapshot, CLIENTS, answer)
    assert (host1.ok, host1.detail) == (True, "3 archive(s); prune would keep 3")
    assert (host2.ok, host2.detail) == (False, "archive host2-x vanished since the baseline")
    assert host1.host == host2.host == "nas"


def test_a_guard_that_says_nothing_about_a_client_fails_it():
    snapshot, _ = applied()
    answer = CommandResult(2, b"borgkeep-guard: host1: fine\n", b"python3: not found\n")
    host1, host2 = guard_proofs(snapshot, CLIENTS, answer)
    assert host1.ok and not host2.ok
    assert host2.detail == "the guard said nothing about it (exit code 2: python3: not found)"


def test_a_key_outside_the_block_undoes_the_pin():
    snapshot, _ = applied()
    assert authorized_keys_proof(snapshot, CLIENTS).ok
    path, text = authorized_keys(snapshot)
    extra = snapshot.facts["host1"].client_public_key + " stray@copy\n"
    proof = authorized_keys_proof(with_server_file(snapshot, path, text + extra), CLIENTS)
    assert not proof.ok and "carries the key of client host1 with no forced command" in proof.detail


def test_drift_is_a_change_the_plan_would_make_and_left_out_hosts_are_not_judged():
    snapshot, passphrases = applied()
    _, converged = plan_for(
        snapshot.inventory, snapshot.settings, dict(snapshot.facts), passphrases
    )
    proofs = drift_proofs(snapshot, converged)
    assert {p.host for p in proofs} == {"nas", "host1", "host2"} and all(p.ok for p in proofs)
    host1 = snapshot.facts["host1"]
    config = next(p for p in host1.files if p.endswith(".yaml"))  # edited by hand
    edited = {**host1.files, config: FileState(config, b"edited: by hand\n", 0o600)}
    facts = {**snapshot.facts, "host1": replace(host1, files=edited)}
    _, drifted = plan_for(snapshot.inventory, snapshot.settings, facts, passphrases)
    proofs = {p.host: p for p in drift_proofs(snapshot, drifted)}
    assert not proofs["host1"].ok and config in proofs["host1"].detail
    assert proofs["host2"].ok
    left_out = FleetSnapshot(snapshot.inventory, snapshot.settings, facts, left_out={"host1"})
    assert "host1" not in {p.host for p in drift_proofs(left_out, drifted)}


def test_a_plan_that_could_not_be_made_is_a_failed_proof():
    snapshot, _ = applied()
    (proof,) = drift_proofs(snapshot, ValueError("hostile key on host1"))
    assert (proof.host, proof.ok, proof.detail) == ("nas", False, "hostile key on host1")


# --- the whole run, on answering connections ----------------------------------------------


class Answering:
    """A connection that answers every command with one canned reading."""

    def __init__(self, answer: CommandResult) -> None:
        self.answer, self.commands = answer, []

    def run(self, command: str, **_: object) -> CommandResult:
        self.commands.append(command)
        return self.answer


def answering_fleet(snapshot: FleetSnapshot) -> dict[str, Answering]:
    guard = b"".join(f"borgkeep-guard: {c}: 1 archive(s)\n".encode() for c in CLIENTS)
    connections = {"nas": Answering(CommandResult(0, guard, b""))}
    for client in CLIENTS:
        connections[client] = Answering(grouped(OK, served_refusal(snapshot, client)))
    return connections


def test_a_sound_fleet_passes_and_each_host_is_asked_once():
    snapshot, passphrases = applied()
    _, plan = plan_for(snapshot.inventory, snapshot.settings, dict(snapshot.facts), passphrases)
    connections = answering_fleet(snapshot)
    events: list[tuple[str, str, str]] = []
    report = verify_fleet(snapshot, connections, plan, lambda *e: events.append(e))
    assert report.ok, [p for p in report.proofs if not p.ok]
    assert all(len(conn.commands) == 1 for conn in connections.values())
    assert ("nas", "done", "the guard's check of every client: 2 proof(s) passed") in events
    names = [p.name for p in report.proofs]
    assert (
        names.count("no drift from the plan") == 3 and len(report.proofs) == 2 * 5 + 2 + 2 + 1 + 3
    )
    assert names.count("its passphrase opens its repository") == 2


def test_an_unreachable_client_fails_and_a_left_out_one_is_named_not_probed():
    unreachable = "host2"
    snapshot, passphrases = applied()
    _, plan = plan_for(snapshot.inventory, snapshot.settings, dict(snapshot.facts), passphrases)
    facts = {k: v for k, v in snapshot.facts.items() if k != unreachable}
    errors = {unreachable: "cannot reach host2.lan:22: Connection refused"}
    down = FleetSnapshot(snapshot.inventory, snapshot.settings, facts, errors)
    report = verify_fleet(down, answering_fleet(snapshot), plan)
    (failed,) = [p for p in report.proofs if not p.ok and p.name == "reachable over SSH"]
    assert failed.host == unreachable and "Connection refused" in failed.detail
    assert not report.ok
    left = FleetSnapshot(snapshot.inventory, snapshot.settings, snapshot.facts, left_out={"host2"})
    connections = answering_fleet(snapshot)
    report = verify_fleet(left, connections, plan)
    assert report.left_out == ["host2"] and connections["host2"].commands == []
    assert "host2" not in {p.host for p in report.proofs}
