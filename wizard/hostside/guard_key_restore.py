"""`restore-key CLIENT`: put back a repository key a client rewrote through its append-only
key, from the server's copy (`{client}.repokey`, what `borg key export` printed when the
repository was created).

Like a prune, it takes the repository out of the client's reach (and holds Borg's lock)
while it works, so a client cannot break the lock or rewrite the key meanwhile. The config
is rebuilt rather than imported with `borg key import`, which cannot open a config whose key
a client filled with line breaks: Borg's own settings as first written, the copy's key.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from wizard.hostside.guard_borg import GuardFailure
from wizard.hostside.guard_borg import hide_repository
from wizard.hostside.guard_borg import recover_hidden_repository
from wizard.hostside.guard_borg import restore_repository
from wizard.hostside.guard_identity import identity_from_export
from wizard.hostside.guard_identity import identity_problem
from wizard.hostside.guard_identity import nonce_problem
from wizard.hostside.guard_identity import read_config
from wizard.hostside.guard_identity import read_identity
from wizard.hostside.guard_identity import read_nonce
from wizard.hostside.guard_identity import rebuild_config
from wizard.hostside.guard_prune import result_record
from wizard.hostside.guard_setup import ClientSetup
from wizard.hostside.guard_setup import Outcome
from wizard.hostside.guard_setup import read_private_text
from wizard.hostside.guard_state import load_state
from wizard.hostside.guard_state import save_state


def run_restore_key(setup: ClientSetup, now: Callable[[], datetime]) -> Outcome:
    """Rebuild the repository's config with the copy's key (the caller holds the client's
    lock); ok when it was already right."""
    try:
        export = read_private_text(setup.repokey_copy)
    except OSError as error:
        raise GuardFailure(f"no copy of the key to restore from: {error}") from None
    recover_hidden_repository(setup.repository, setup.hidden)
    problem = identity_problem(None, _reference(export), read_identity(setup.repository))
    nonce = nonce_problem(read_nonce(setup.repository))
    if problem is None and nonce is None:
        return Outcome.ok(f"the key of {setup.repository} is the copy's already; nothing done")
    hide_repository(setup.repository, setup.hidden, setup.tools.lock_wait)
    try:
        if problem is not None:
            _replace_config(setup.hidden, rebuild_config(read_config(setup.hidden), export))
        if nonce is not None and nonce_problem(read_nonce(setup.hidden)) is not None:
            os.unlink(os.path.join(setup.hidden, "nonce"))  # Borg reserves anew from its own
    finally:
        restore_repository(setup.repository, setup.hidden)
    still = identity_problem(None, _reference(export), read_identity(setup.repository))
    still = still or nonce_problem(read_nonce(setup.repository))
    if still:
        raise GuardFailure(f"the key of {setup.repository} is still not the copy's: {still}")
    problem = "; ".join(p for p in (problem, nonce and "its nonce was reset") if p)
    outcome = Outcome.ok(
        f"restored the repository key of {setup.repository} from {setup.repokey_copy} (it had "
        f"been changed: {problem}); the client's and the server's passphrases open it again"
    )
    state = load_state(setup.state_dir, setup.client)
    if state is not None:
        save_state(setup.state_dir, replace(state, last_result=result_record(outcome, now())))
    return outcome


def _reference(export: str) -> dict:
    reference = identity_from_export(export)
    if reference is None:
        raise GuardFailure("the copy of the key is not what `borg key export` prints")
    return reference


def _replace_config(repository: str, text: str) -> None:
    """Write `config` atomically in place, with the mode the old one had."""
    path = os.path.join(repository, "config")
    mode = os.lstat(path).st_mode & 0o777
    descriptor, temporary = tempfile.mkstemp(dir=repository, prefix=".config-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
