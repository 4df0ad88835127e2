"""Post-apply proofs, read-only: safe to run any time on a production fleet.

Per client: its config validates with its own borgmatic; its own key and pinned host key
reach `borg serve`, which opens its own repository; the key gets no shell and no other
repository; the server forces `--append-only` (with the server's borg and the client's
quota) for it; its passphrase opens its repository (the server's copy opened it in the
guard's check, and both copies are what the plan writes). Per client on the server: the
guard's read-only `check` passes (baseline recorded, nothing vanished or forged, its last
run did not refuse, borgmatic's prune dry run removes nothing the policy keeps). For the server: no line of authorized_keys outside the block undoes a pin.
For every host: no drift — each managed file is what the plan would write. A host that
cannot be reached is a failed proof.

This module runs the probes on the connections it is given; what each answer proves is
decided in `wizard.pipeline.verify_proofs`, from the gather's snapshot and the answers.

Cost: a client's two probes run side by side in one remote process (`wizard.remote.grouped`,
each keeping its own exit code and output); the shell, other-repository and own-repository
probes are one SSH session to one `borg serve` (Borg RPC requests on its stdin), so no borg
client starts on the client and the server starts one `borg serve` per client; the
passphrase is proved by what the server already checked; the server checks every client's
guard in one `check-all` pass (a few joint borgmatic dry runs, not one per client), beside
the clients' probes; the facts are gathered once; the borg runs that only read skip
borg's start-up self-test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from wizard.pipeline.plan import Plan
from wizard.pipeline.snapshot import FleetSnapshot
from wizard.pipeline.verify_proofs import (
    PROBE_COMMAND,
    SHELL_PROBE,
    Proof,
    VerifyReport,
    authorized_keys_proof,
    client_proof_commands,
    client_proofs,
    drift_proofs,
    guard_check_command,
    guard_proofs,
    passphrase_proofs,
)
from wizard.remote.grouped import grouped_script
from wizard.remote.step_timeouts import BORG, step_failure

if TYPE_CHECKING:
    from wizard.remote.transport import Connection

__all__ = [
    "CLIENT_PROBES",
    "GUARD_CHECKS",
    "PROBE_COMMAND",
    "SHELL_PROBE",
    "Proof",
    "VerifyReport",
    "verify_fleet",
]

CLIENT_PROBES = "config validation and the Borg RPC probe through the client's key"
GUARD_CHECKS = "the guard's check of every client"
EventSink = Callable[[str, str, str], None]


def verify_client(snapshot: FleetSnapshot, conn: Connection, client_name: str) -> list[Proof]:
    """Run the client's probes on its connection, and say what they prove."""
    commands = client_proof_commands(snapshot, client_name)
    return client_proofs(snapshot, client_name, conn.run(grouped_script(commands), kind=BORG))


def verify_guards(snapshot: FleetSnapshot, conn: Connection, clients: list[str]) -> list[Proof]:
    """The guard's read-only check of every client in one pass on the server (`check-all`):
    the baseline exists, nothing vanished or was forged since, and borgmatic's prune dry run
    removes nothing the policy keeps. One proof per client."""
    if not clients:
        return []
    answer = conn.run(guard_check_command(snapshot, clients), kind=BORG)
    return guard_proofs(snapshot, clients, answer)


def step_failed(step: str, exc: Exception) -> str:
    """A proof's detail when its step could not run: what was running and why it stopped."""
    return f"verify: {step}: {step_failure(exc)}"


def verify_fleet(
    snapshot: FleetSnapshot,
    connections: Mapping[str, Connection],
    drift_plan: Plan | Exception,
    on_event: EventSink | None = None,
    max_parallel: int = 8,
) -> VerifyReport:
    """Run every proof on `snapshot`'s facts over `connections`; hosts in parallel, each
    step reported through `on_event` as it starts and ends. `drift_plan` is the plan made
    from the same facts, or the exception that stopped it (read only when the server's
    facts are known). An unreachable host is a failed proof, never a skipped one."""
    event = on_event or (lambda host, level, message: None)

    def said(host: str, step: str, proofs: list[Proof]) -> list[Proof]:
        failed = [p for p in proofs if not p.ok]
        if failed:
            event(host, "error", f"{step}: {len(failed)} of {len(proofs)} proof(s) failed")
        else:
            event(host, "done", f"{step}: {len(proofs)} proof(s) passed")
        return proofs

    server, clients = snapshot.server_name, snapshot.clients_in_play()
    report = VerifyReport(left_out=sorted(snapshot.left_out))
    for name, reason in snapshot.errors.items():
        report.proofs.append(Proof(name, "reachable over SSH", False, reason))

    def one(name: str) -> list[Proof]:
        event(name, "step", CLIENT_PROBES)
        try:
            proofs = verify_client(snapshot, connections[name], name)
        except Exception as exc:  # a proof that cannot run is a failed proof
            proofs = [Proof(name, "verification could run", False, step_failed(CLIENT_PROBES, exc))]
        return said(name, CLIENT_PROBES, proofs)

    def guards() -> list[Proof]:
        if not clients:
            return []
        event(server, "step", GUARD_CHECKS)
        try:
            proofs = verify_guards(snapshot, connections[server], clients)
        except Exception as exc:
            why = step_failed(GUARD_CHECKS, exc)
            proofs = [Proof(server, "the guard's checks could run", False, why)]
        return said(server, GUARD_CHECKS, proofs)

    with ThreadPoolExecutor(max_workers=max_parallel) as pool:
        server_side = pool.submit(guards)  # on the server, beside the clients' probes
        for proofs in pool.map(one, clients):
            report.proofs.extend(proofs)
        guard_side = server_side.result()
        report.proofs.extend(guard_side)
    report.proofs.extend(passphrase_proofs(snapshot, clients, guard_side, drift_plan))
    if server in snapshot.facts:
        report.proofs.append(authorized_keys_proof(snapshot, clients))
        event(server, "step", "drift: every managed file planned again")
        for proof in drift_proofs(snapshot, drift_plan):
            event(proof.host, "done" if proof.ok else "error", f"drift: {proof.detail}")
            report.proofs.append(proof)
    return report
