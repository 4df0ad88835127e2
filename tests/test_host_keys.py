"""known_hosts verification against files written and hashed by OpenSSH's own ssh-keygen."""

from __future__ import annotations

import base64
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest

from wizard.remote.host_keys import (
    HostKeyChanged,
    HostKeyUnknown,
    VerifyingPolicy,
    check_host_key,
    fingerprint_sha256,
    known_host_key_types,
    known_hosts_name,
    record_host_key,
    split_known_hosts_name,
)


def generate_key(directory: Path, name: str, key_type: str = "ed25519") -> Path:
    """A fresh key pair made by ssh-keygen; returns the private key path."""
    path = directory / name
    extra = ["-b", "2048"] if key_type == "rsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, *extra, "-N", "", "-C", name, "-f", str(path)],
        check=True,
    )
    return path


def public_key(private_path: Path) -> paramiko.PKey:
    key_type, blob = Path(f"{private_path}.pub").read_text().split()[:2]
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))


def pub_line(private_path: Path) -> str:
    """``type base64`` of the key, for writing known_hosts lines."""
    return " ".join(Path(f"{private_path}.pub").read_text().split()[:2])


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    directory = tmp_path / "keys"
    directory.mkdir()
    return {
        "ed_a": generate_key(directory, "ed_a"),
        "ed_b": generate_key(directory, "ed_b"),
        "ed_c": generate_key(directory, "ed_c"),
        "ecdsa": generate_key(directory, "ecdsa", "ecdsa"),
        "rsa": generate_key(directory, "rsa", "rsa"),
    }


@pytest.mark.parametrize("name", ["ed_a", "ecdsa", "rsa"])
def test_fingerprint_matches_ssh_keygen(keys: dict[str, Path], name: str) -> None:
    listing = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{keys[name]}.pub"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert fingerprint_sha256(public_key(keys[name])) == listing.split()[1]


def test_known_hosts_name() -> None:
    assert known_hosts_name("nas.lan", 22) == "nas.lan"
    assert known_hosts_name("NAS.lan", 2222) == "[nas.lan]:2222"
    assert known_hosts_name("::1", 2201) == "[::1]:2201"
    assert split_known_hosts_name("[::1]:2201") == ("::1", 2201)
    assert split_known_hosts_name("nas.lan") == ("nas.lan", 22)


def test_plain_entries(tmp_path: Path, keys: dict[str, Path]) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        f"# comment\n\nnas.lan,192.0.2.1 {pub_line(keys['ed_a'])}\n"
        f"[127.0.0.1]:2201 {pub_line(keys['ed_b'])}\n"
    )
    ed_a, ed_b, ed_c = (public_key(keys[n]) for n in ("ed_a", "ed_b", "ed_c"))

    assert check_host_key(known_hosts, "nas.lan", 22, ed_a).status == "known"
    assert check_host_key(known_hosts, "NAS.LAN", 22, ed_a).status == "known"
    assert check_host_key(known_hosts, "192.0.2.1", 22, ed_a).status == "known"
    assert check_host_key(known_hosts, "127.0.0.1", 2201, ed_b).status == "known"
    # the [host]:port entry is for that port only, and a port-22 entry is not for other ports
    assert check_host_key(known_hosts, "127.0.0.1", 22, ed_b).status == "unknown"
    assert check_host_key(known_hosts, "nas.lan", 2222, ed_a).status == "unknown"
    assert check_host_key(known_hosts, "other.lan", 22, ed_a).status == "unknown"

    changed = check_host_key(known_hosts, "127.0.0.1", 2201, ed_c)
    assert changed.status == "changed"
    assert changed.known_fingerprints == (fingerprint_sha256(ed_b),)
    assert changed.offered_fingerprint == fingerprint_sha256(ed_c)
    assert changed.key_type == "ssh-ed25519"


def test_missing_file_is_unknown(tmp_path: Path, keys: dict[str, Path]) -> None:
    result = check_host_key(tmp_path / "nope", "nas.lan", 22, public_key(keys["ed_a"]))
    assert result.status == "unknown"
    assert result.known_fingerprints == ()


def test_hashed_entries_from_ssh_keygen(tmp_path: Path, keys: dict[str, Path]) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        f"nas.lan {pub_line(keys['ed_a'])}\n[127.0.0.1]:2201 {pub_line(keys['ed_b'])}\n"
    )
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known_hosts)], check=True)
    text = known_hosts.read_text()
    assert "nas.lan" not in text and "127.0.0.1" not in text
    assert text.count("|1|") == 2

    ed_a, ed_b, ed_c = (public_key(keys[n]) for n in ("ed_a", "ed_b", "ed_c"))
    assert check_host_key(known_hosts, "nas.lan", 22, ed_a).status == "known"
    assert check_host_key(known_hosts, "127.0.0.1", 2201, ed_b).status == "known"
    assert check_host_key(known_hosts, "127.0.0.1", 2202, ed_b).status == "unknown"
    changed = check_host_key(known_hosts, "nas.lan", 22, ed_c)
    assert changed.status == "changed"
    assert changed.known_fingerprints == (fingerprint_sha256(ed_a),)


def test_several_keys_per_host_and_other_types(tmp_path: Path, keys: dict[str, Path]) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        f"nas.lan {pub_line(keys['ed_a'])}\n"
        f"nas.lan {pub_line(keys['ed_b'])}\n"
        f"nas.lan {pub_line(keys['rsa'])}\n"
    )
    ed_b, ed_c = public_key(keys["ed_b"]), public_key(keys["ed_c"])
    ecdsa, rsa = public_key(keys["ecdsa"]), public_key(keys["rsa"])
    assert check_host_key(known_hosts, "nas.lan", 22, ed_b).status == "known"
    assert check_host_key(known_hosts, "nas.lan", 22, rsa).status == "known"
    changed = check_host_key(known_hosts, "nas.lan", 22, ed_c)
    assert changed.status == "changed"
    assert len(changed.known_fingerprints) == 2
    other = check_host_key(known_hosts, "nas.lan", 22, ecdsa)
    assert other.status == "unknown"
    assert other.other_type_fingerprints == tuple(
        fingerprint_sha256(public_key(keys[n])) for n in ("ed_a", "ed_b", "rsa")
    )
    assert known_host_key_types(known_hosts, "nas.lan", 22) == [
        "ssh-ed25519",
        "rsa-sha2-512",
        "rsa-sha2-256",
    ]
    assert known_host_key_types(known_hosts, "other", 22) == []


def test_markers_wildcards_and_garbage(tmp_path: Path, keys: dict[str, Path]) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        "this is not a key line\n"
        "nas.lan ssh-ed25519 !!!notbase64!!!\n"
        "nas.lan sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t\n"
        f"@cert-authority *.lan {pub_line(keys['ed_c'])}\n"
        f"@revoked * {pub_line(keys['ed_b'])}\n"
        f"*.lan,!bad.lan {pub_line(keys['ed_a'])}\n"
        f"box?.example {pub_line(keys['ed_b'])}\n"
    )
    ed_a, ed_b, ed_c = (public_key(keys[n]) for n in ("ed_a", "ed_b", "ed_c"))
    assert check_host_key(known_hosts, "nas.lan", 22, ed_a).status == "known"
    assert check_host_key(known_hosts, "bad.lan", 22, ed_a).status == "unknown"
    # a CA key is not a host key: offering it is a change, not a match
    assert check_host_key(known_hosts, "nas.lan", 22, ed_c).status == "changed"
    revoked = check_host_key(known_hosts, "box1.example", 22, ed_b)
    assert (revoked.status, revoked.revoked) == ("changed", True)
    assert check_host_key(known_hosts, "box12.example", 22, ed_a).status == "unknown"


def test_record_host_key_appends_only(tmp_path: Path, keys: dict[str, Path]) -> None:
    known_hosts = tmp_path / "known_hosts"
    original = b"# keep me\nnas.lan " + pub_line(keys["ed_a"]).encode()  # no final newline
    known_hosts.write_bytes(original)
    ed_b = public_key(keys["ed_b"])

    record_host_key(known_hosts, "127.0.0.1", 2201, ed_b)
    data = known_hosts.read_bytes()
    assert data.startswith(original + b"\n")
    assert data.endswith(f"[127.0.0.1]:2201 {pub_line(keys['ed_b'])}\n".encode())
    assert check_host_key(known_hosts, "127.0.0.1", 2201, ed_b).status == "known"
    assert check_host_key(known_hosts, "nas.lan", 22, public_key(keys["ed_a"])).status == "known"

    record_host_key(known_hosts, "hidden.lan", 22, ed_b, hashed=True)
    after = known_hosts.read_bytes()
    assert after.startswith(data) and b"hidden.lan" not in after
    assert check_host_key(known_hosts, "hidden.lan", 22, ed_b).status == "known"
    listed = subprocess.run(
        ["ssh-keygen", "-F", "hidden.lan", "-f", str(known_hosts)], capture_output=True
    )
    assert listed.returncode == 0


def test_record_host_key_creates_private_file(tmp_path: Path, keys: dict[str, Path]) -> None:
    known_hosts = tmp_path / "new" / ".ssh" / "known_hosts"
    record_host_key(known_hosts, "nas.lan", 22, public_key(keys["ed_a"]))
    assert stat.S_IMODE(known_hosts.stat().st_mode) == 0o600
    assert stat.S_IMODE(known_hosts.parent.stat().st_mode) == 0o700
    found = subprocess.run(
        ["ssh-keygen", "-F", "nas.lan", "-f", str(known_hosts)], capture_output=True, text=True
    )
    assert pub_line(keys["ed_a"]) in found.stdout


def test_policy_unknown_key(tmp_path: Path, keys: dict[str, Path]) -> None:
    known_hosts = tmp_path / "known_hosts"
    offered = public_key(keys["ed_a"])

    with pytest.raises(HostKeyUnknown) as refused:
        VerifyingPolicy(known_hosts).missing_host_key(None, "[127.0.0.1]:2201", offered)
    assert refused.value.fingerprint == fingerprint_sha256(offered)
    assert fingerprint_sha256(offered) in str(refused.value)
    assert not known_hosts.exists()

    asked: list[tuple] = []

    def decline(*args: object) -> bool:
        asked.append(args)
        return False

    with pytest.raises(HostKeyUnknown):
        VerifyingPolicy(known_hosts, on_unknown=decline).missing_host_key(
            None, "[127.0.0.1]:2201", offered
        )
    assert asked == [("127.0.0.1", 2201, "ssh-ed25519", fingerprint_sha256(offered))]
    assert not known_hosts.exists()

    VerifyingPolicy(known_hosts, on_unknown=lambda *a: True).missing_host_key(
        None, "[127.0.0.1]:2201", offered
    )
    assert check_host_key(known_hosts, "127.0.0.1", 2201, offered).status == "known"

    VerifyingPolicy(known_hosts, accept_new=True).missing_host_key(None, "nas.lan", offered)
    assert check_host_key(known_hosts, "nas.lan", 22, offered).status == "known"
    assert len(known_hosts.read_text().splitlines()) == 2

    # known now: accepted without asking and without a second line
    VerifyingPolicy(known_hosts, on_unknown=decline).missing_host_key(None, "nas.lan", offered)
    assert len(known_hosts.read_text().splitlines()) == 2


def test_policy_changed_key_is_a_hard_stop(tmp_path: Path, keys: dict[str, Path]) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:2201 {pub_line(keys['ed_a'])}\n")
    before = known_hosts.read_bytes()
    offered = public_key(keys["ed_b"])
    policy = VerifyingPolicy(known_hosts, on_unknown=lambda *a: True, accept_new=True)
    with pytest.raises(HostKeyChanged) as stopped:
        policy.missing_host_key(None, "[127.0.0.1]:2201", offered)
    message = str(stopped.value)
    assert "changed host key for [127.0.0.1]:2201" in message
    assert fingerprint_sha256(public_key(keys["ed_a"])) in message
    assert fingerprint_sha256(offered) in message
    assert str(known_hosts) in message
    assert stopped.value.key_type == "ssh-ed25519"
    assert known_hosts.read_bytes() == before


def test_accept_new_does_not_cover_a_new_key_type(tmp_path: Path, keys: dict[str, Path]) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"nas.lan {pub_line(keys['ed_a'])}\n")
    with pytest.raises(HostKeyUnknown) as refused:
        VerifyingPolicy(known_hosts, accept_new=True).missing_host_key(
            None, "nas.lan", public_key(keys["ecdsa"])
        )
    assert refused.value.other_type_fingerprints == (fingerprint_sha256(public_key(keys["ed_a"])),)
    assert len(known_hosts.read_text().splitlines()) == 1
