"""`borgkeep passphrase CLIENT`: put the passphrase of a client's repository into the
operator's secrets store, read from stdin (asked without echo on a terminal), never from
the command line, where `ps` and the shell's history would show it.

For a repository to take over whose passphrase is not in its old config (an
`encryption_passcommand`, the job's environment): the next plan checks it against the
repository's key before anything is written, and takes it over with the repository.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from wizard.cli.common import EXIT_ERROR, EXIT_OK, err, inventory_path
from wizard.secrets_store import SecretStore, passphrase_name


def add_passphrase_parser(sub, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "passphrase",
        parents=[common],
        help="store the passphrase of a client's repository (read from stdin or asked; "
        "for a repository to take over)",
    )
    parser.add_argument("client", help="the client's name in the inventory")


def read_passphrase(client: str) -> str:
    """One line from stdin, or asked without echo when stdin is a terminal."""
    if sys.stdin.isatty():
        return getpass.getpass(f"Passphrase of {client}'s repository (not shown): ")
    return sys.stdin.readline().rstrip("\r\n")


def cmd_passphrase(args: argparse.Namespace) -> int:
    from wizard.inventory.parse import load_inventory

    inventory = load_inventory(inventory_path(args))
    if args.client not in {client.name for client in inventory.clients}:
        known = ", ".join(client.name for client in inventory.clients) or "none"
        err(f"no client {args.client!r} in the inventory ({known})")
        return EXIT_ERROR
    value = read_passphrase(args.client)
    if not value.strip():
        err("no passphrase given (nothing stored)")
        return EXIT_ERROR
    store = SecretStore()
    store.set(passphrase_name(inventory.server.name, args.client), value)
    print(
        f"stored the passphrase of {args.client}'s repository in {store.location}; "
        "`borgkeep plan` checks it against the repository's key"
    )
    return EXIT_OK
