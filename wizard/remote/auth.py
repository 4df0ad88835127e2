"""Public-key authentication in OpenSSH's order, remembering what was tried for the error.

Identity files from the ssh config (an encrypted one is used through the agent when the
agent holds it), then, unless ``IdentitiesOnly``, the agent's other keys, then the default
``~/.ssh/id_*`` keys when the config names no IdentityFile.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko

from wizard.remote.errors import AuthenticationFailed
from wizard.remote.host_keys import fingerprint_sha256
from wizard.remote.ssh_config import SSHTarget

DEFAULT_KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")


@dataclass
class _KeyCandidate:
    label: str
    key: paramiko.PKey


class PublicKeyAuth:
    """Tries keys in OpenSSH-like order, remembering what was tried for the error message."""

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self.tried: list[str] = []
        self.skipped: list[str] = []
        self._agent: paramiko.Agent | None = None
        self._agent_keys: tuple[paramiko.PKey, ...] | None = None

    def agent_keys(self) -> tuple[paramiko.PKey, ...]:
        if self._agent_keys is None:
            try:
                self._agent = paramiko.Agent()
                self._agent_keys = tuple(self._agent.get_keys())
            except (paramiko.SSHException, OSError) as exc:
                self.skipped.append(f"ssh-agent ({exc})")
                self._agent_keys = ()
        return self._agent_keys

    def close(self) -> None:
        if self._agent is not None:
            self._agent.close()

    def _from_file(self, path: str) -> _KeyCandidate | None:
        public = Path(path + ".pub")
        if public.is_file():
            try:
                key_type, blob_b64 = public.read_text().split()[:2]
                blob = paramiko.PKey.from_type_string(
                    key_type, base64.b64decode(blob_b64)
                ).asbytes()
                # OpenSSH uses an agent-held copy of a listed IdentityFile, even with
                # IdentitiesOnly, so an encrypted key on disk works as it does with ssh.
                for agent_key in self.agent_keys():
                    if agent_key.asbytes() == blob:
                        return _KeyCandidate(f"{path} via agent", agent_key)
            except (ValueError, paramiko.SSHException, OSError):
                pass
        try:
            return _KeyCandidate(path, paramiko.PKey.from_path(path))
        except paramiko.PasswordRequiredException:
            self.skipped.append(f"{path} (encrypted and not in ssh-agent)")
        except FileNotFoundError:
            self.skipped.append(f"{path} (missing)")
        except (paramiko.SSHException, OSError, ValueError) as exc:
            self.skipped.append(f"{path} ({exc})")
        return None

    def candidates(self) -> Iterator[_KeyCandidate]:
        seen: set[bytes] = set()

        def fresh(candidate: _KeyCandidate | None) -> bool:
            if candidate is None or candidate.key.asbytes() in seen:
                return False
            seen.add(candidate.key.asbytes())
            return True

        for path in self.target.identity_files:
            candidate = self._from_file(path)
            if fresh(candidate):
                yield candidate
        if self.target.identities_only:
            return
        for agent_key in self.agent_keys():
            candidate = _KeyCandidate(f"agent key {fingerprint_sha256(agent_key)}", agent_key)
            if fresh(candidate):
                yield candidate
        if self.target.identity_files:
            return
        for name in DEFAULT_KEY_NAMES:
            path = Path.home() / ".ssh" / name
            if path.is_file():
                candidate = self._from_file(str(path))
                if fresh(candidate):
                    yield candidate

    def authenticate(self, transport: paramiko.Transport) -> list[str]:
        """Called by ``SSHClient.connect(auth_strategy=...)`` once the host key is accepted."""
        user = self.target.user
        try:
            for candidate in self.candidates():
                description = (
                    f"{candidate.label} ({candidate.key.get_name()} "
                    f"{fingerprint_sha256(candidate.key)})"
                )
                try:
                    remaining = transport.auth_publickey(user, candidate.key)
                except paramiko.AuthenticationException:
                    self.tried.append(description)
                    continue
                except (paramiko.SSHException, EOFError, OSError) as exc:
                    # e.g. sshd's MaxAuthTries reached: still an authentication failure
                    self.tried.append(f"{description} (server ended the session: {exc})")
                    break
                if not remaining:
                    return []
                self.tried.append(f"{description} (server wants more: {', '.join(remaining)})")
        finally:
            self.close()
        raise AuthenticationFailed(self.target.display, tuple(self.tried), tuple(self.skipped))
