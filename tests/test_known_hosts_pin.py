"""The pinned known_hosts file names the server the way OpenSSH looks it up."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from wizard.artefacts.known_hosts_pin import known_hosts_host_field, render_known_hosts_pin

HOST_ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM4CIn5slujYWUT9x9ODqjENUQU5ioT/VcTShKT66ohx"
HOST_ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFoxDEuKI8JFjShItAh"
    "YLMLyNZbsF3hlDDMp1OffiwGuAROMeYyM9gEMCMjmTWbW0/XsEsnm6gyUEcbCFrsZn5o="
)
HOST_RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC28HHLVwVHPp+AZd+eqXtOBDGiE8oIUA6OxZ3rUMBLYNZfOXWfwCI6"
    "iU8DWNM1pJU4cKeynhJY6PSbG/wBgnTlTx1J+KhQ9VuwbasMwooLU4j/Y2kZFEJ2ZVFwjMXzPWo2CQ7QsrYawc3hNVoe"
    "GUqDZd+0OUIvUmBlQutlsPfgbQ=="
)


def test_port_22_uses_the_bare_host_and_sorts_the_keys():
    text = render_known_hosts_pin("nas.lan", 22, [HOST_RSA, HOST_ED25519 + " root@nas", HOST_ECDSA])
    assert text == (f"nas.lan {HOST_ECDSA}\nnas.lan {HOST_ED25519}\nnas.lan {HOST_RSA}\n")


def test_other_ports_use_bracketed_host_and_port():
    text = render_known_hosts_pin("127.0.0.1", 2222, [HOST_ED25519])
    assert text == f"[127.0.0.1]:2222 {HOST_ED25519}\n"


@pytest.mark.parametrize(
    ("host", "port", "field"),
    [("::1", 22, "::1"), ("[::1]", 22, "::1"), ("::1", 2222, "[::1]:2222"), ("h", 22, "h")],
)
def test_ipv6_hosts(host, port, field):
    assert known_hosts_host_field(host, port) == field


def test_duplicate_keys_are_written_once():
    text = render_known_hosts_pin("nas", 22, [HOST_ED25519, HOST_ED25519 + " other-comment"])
    assert text == f"nas {HOST_ED25519}\n"


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("", 22),
        ("nas lan", 22),
        ("nas,evil", 22),
        ("*", 22),
        ("-oProxyCommand=sh", 22),
        ("nas\nevil", 22),
        ("|1|hashed", 22),
        ("nas", 0),
        ("nas", 65536),
        ("nas", True),
    ],
)
def test_bad_host_or_port_is_refused(host, port):
    with pytest.raises(ValueError, match="server (address|port)"):
        render_known_hosts_pin(host, port, [HOST_ED25519])


@pytest.mark.parametrize(
    "keys",
    [
        [],
        ["ssh-ed25519 AAAA"],
        [HOST_ED25519 + "\n@cert-authority * " + HOST_RSA],
        ["ssh-rsa " + HOST_ED25519.split()[1]],
        ["@revoked " + HOST_ED25519],
    ],
)
def test_bad_host_keys_are_refused(keys):
    with pytest.raises(ValueError, match="host key"):
        render_known_hosts_pin("nas", 22, keys)


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
@pytest.mark.parametrize(("port", "lookup"), [(22, "nas.lan"), (2222, "[nas.lan]:2222")])
def test_openssh_finds_the_server_in_the_pinned_file(tmp_path, port, lookup):
    path = tmp_path / "known_hosts"
    path.write_text(render_known_hosts_pin("nas.lan", port, [HOST_ED25519, HOST_ECDSA]))
    found = subprocess.run(
        ["ssh-keygen", "-F", lookup, "-f", str(path)], capture_output=True, text=True
    )
    assert found.returncode == 0
    assert HOST_ED25519.split()[1] in found.stdout
    assert HOST_ECDSA.split()[1] in found.stdout
    other = "nas.lan" if port != 22 else "[nas.lan]:2222"
    missing = subprocess.run(["ssh-keygen", "-F", other, "-f", str(path)], capture_output=True)
    assert missing.returncode != 0
