"""Repository passphrases and exported repository keys on the operator's side.

They go to the OS keyring (service ``borgkeep``). Where no keyring backend exists (a
headless server, a container), they go to a 0600 JSON file under
``$XDG_DATA_HOME/borgkeep/`` and `SecretStore.warning` says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import platformdirs

SERVICE = "borgkeep"


def _usable_keyring():
    """The system keyring backend, or None when only a fail/null backend is available."""
    if os.environ.get("BORGKEEP_SECRETS") == "file":
        return None
    try:
        import keyring
        from keyring.backends import chainer, fail

        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, fail.Keyring):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    if type(backend).__module__.startswith("keyring.backends.null"):
        return None
    return backend


def secrets_file_path() -> Path:
    return Path(platformdirs.user_data_dir("borgkeep")) / "secrets.json"


class SecretStore:
    """get/set by name, e.g. ``passphrase:nas/client1`` or ``repokey:nas/client1``."""

    def __init__(self) -> None:
        self._backend = _usable_keyring()
        self.path = secrets_file_path()

    @property
    def location(self) -> str:
        if self._backend is not None:
            return f"the OS keyring ({type(self._backend).__name__}, service {SERVICE!r})"
        return f"{self.path} (mode 0600)"

    @property
    def uses_keyring(self) -> bool:
        return self._backend is not None

    def backup_advice(self, names: list[str]) -> list[str]:
        """Where the secrets live on the operator's machine and how to keep a copy of them
        somewhere else: without a repository's passphrase and key, its backups are lost."""
        if self._backend is not None:
            lines = [
                f"The secrets are in the OS keyring of this machine (service {SERVICE!r}), "
                "not on the server. Keep a copy elsewhere (a password manager, an offline "
                "USB stick): print each entry with",
            ]
            python = shlex.quote(sys.executable)
            lines += [f"  {python} -m keyring get {SERVICE} {name}" for name in names]
            return lines
        return [
            f"The secrets are in {self.path} (mode 0600) on this machine, not on the server. "
            "Keep a copy elsewhere, e.g.:",
            f"  install -m 600 {shlex.quote(str(self.path))} /media/usb/borgkeep-secrets.json",
        ]

    @property
    def warning(self) -> str | None:
        if self._backend is not None:
            return None
        return (
            f"no OS keyring is available: secrets are stored in {self.path} (mode 0600); "
            "keep this file safe and backed up"
        )

    def get(self, name: str) -> str | None:
        if self._backend is not None:
            return self._backend.get_password(SERVICE, name)
        return self._read_file().get(name)

    def set(self, name: str, value: str) -> None:
        if self._backend is not None:
            self._backend.set_password(SERVICE, name, value)
            return
        with self._file_lock():
            data = self._read_file()
            data[name] = value
            self._write_file(data)

    def delete(self, name: str) -> bool:
        """Forget a secret (a purged repository's passphrase and key); True if it was there."""
        if self._backend is not None:
            if self._backend.get_password(SERVICE, name) is None:
                return False
            self._backend.delete_password(SERVICE, name)
            return True
        with self._file_lock():
            data = self._read_file()
            if name not in data:
                return False
            del data[name]
            self._write_file(data)
        return True

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Two borgkeep processes storing secrets at once must not lose each other's."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.with_name(".secrets.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read_file(self) -> dict[str, str]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def _write_file(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path.parent, 0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


def passphrase_name(server: str, client: str) -> str:
    return f"passphrase:{server}/{client}"


def repokey_name(server: str, client: str) -> str:
    return f"repokey:{server}/{client}"
