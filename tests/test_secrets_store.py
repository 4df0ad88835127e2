"""The operator-side secrets store: keyring, or a 0600 file where there is none."""

from __future__ import annotations

import multiprocessing
import os
import stat

import pytest

from wizard.secrets_store import SecretStore, passphrase_name


@pytest.fixture
def file_store(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("BORGKEEP_SECRETS", "file")
    return SecretStore()


def test_file_fallback_is_private_and_says_so(file_store):
    file_store.set(passphrase_name("nas", "host1"), "p1")
    assert file_store.get(passphrase_name("nas", "host1")) == "p1"
    assert file_store.get(passphrase_name("nas", "other")) is None
    assert stat.S_IMODE(os.stat(file_store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(file_store.path.parent).st_mode) == 0o700
    assert file_store.warning and str(file_store.path) in file_store.warning
    assert str(file_store.path) in file_store.location


def _store_many(prefix: str, count: int) -> None:
    store = SecretStore()
    for i in range(count):
        store.set(f"{prefix}-{i}", f"value-{prefix}-{i}")


def test_concurrent_writers_lose_nothing(file_store):
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_store_many, args=(p, 40)) for p in ("a", "b", "c")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    fresh = SecretStore()
    for prefix in ("a", "b", "c"):
        for i in range(40):
            assert fresh.get(f"{prefix}-{i}") == f"value-{prefix}-{i}"


def test_backup_advice_says_where_the_secrets_are_and_how_to_copy_them(file_store):
    advice = "\n".join(file_store.backup_advice(["passphrase:nas/host1"]))
    assert f"The secrets are in {file_store.path} (mode 0600) on this machine" in advice
    assert f"install -m 600 {file_store.path} " in advice


def test_keyring_backup_advice_names_every_entry(file_store, monkeypatch):
    import sys

    monkeypatch.setattr(file_store, "_backend", object())
    names = ["passphrase:nas/host1", "repokey:nas/host1"]
    advice = file_store.backup_advice(names)
    assert "OS keyring of this machine (service 'borgkeep')" in advice[0]
    assert advice[1:] == [f"  {sys.executable} -m keyring get borgkeep {n}" for n in names]
