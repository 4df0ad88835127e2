"""The shell that runs on hosts lives in `wizard/remote/sh/*.sh`: every file is used, clean
under shellcheck, says what the Python that parses its output expects, and takes its values
as positional parameters (a value with shell syntax arrives as one word, never run)."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import pytest

from wizard.pipeline import takeover_probe
from wizard.remote import lifecycle_scripts, scripts
from wizard.remote.shell_files import shell_file, shell_script

SH = Path(scripts.__file__).parent / "sh"
ENGINE = Path(scripts.__file__).parents[1]


def test_the_files_ship_inside_the_package():
    shipped = {p.name for p in files("wizard.remote").joinpath("sh").iterdir()}
    assert shipped == {p.name for p in SH.glob("*.sh")}


def test_every_file_is_used_by_the_engine():
    python = "\n".join(p.read_text() for p in ENGINE.rglob("*.py"))
    unused = [p.name for p in SH.glob("*.sh") if f'"{p.name}"' not in python]
    assert not unused


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_is_clean():
    result = subprocess.run(
        ["shellcheck", "-s", "sh", *sorted(map(str, SH.glob("*.sh")))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_the_files_say_what_the_python_expects():
    assert scripts.LINK_REFUSAL in shell_file("paths.sh")
    refusals = re.findall(r"exit (\d+)", "".join(p.read_text() for p in SH.glob("*.sh")))
    probe = {str(takeover_probe.BORG2_EXIT), str(takeover_probe.NOT_A_REPOSITORY_EXIT)}
    assert set(refusals) <= {str(scripts.STALE_EXIT), "0", "1", "129", "143", "130", *probe}
    assert all(f"exit {code}" in shell_file("takeover_probe.sh") for code in probe)
    assert f'echo "{lifecycle_scripts.OLD_KEY_REFUSED}: ' in shell_file("switch_key.sh")
    assert f'echo "{lifecycle_scripts.NEW_KEY_WORKS}: ' in shell_file("switch_key.sh")
    assert f'echo "{lifecycle_scripts.RESTORED}: ' in shell_file("restore.sh")
    assert scripts.ABSENT in shell_file("write_file.sh")


def test_comments_stay_in_the_files_not_on_the_wire():
    assert "shellcheck" in (SH / "write_file.sh").read_text()
    assert "#" not in shell_file("write_file.sh").replace("'#'", "")


def test_a_value_with_shell_syntax_is_one_word(tmp_path: Path):
    odd = str(tmp_path / "a b'$(touch pwned)`id`;x")
    script = shell_script(["retire_config.sh"], [odd, odd + ".old"])
    Path(odd).write_text("config\n")
    result = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert Path(odd + ".old").read_text() == "config\n"
    assert not (tmp_path / "pwned").exists()
    assert result.stdout == f"retired {odd}: renamed to {odd}.old (borgmatic no longer loads it)\n"


def test_a_later_read_round_keeps_odd_names_whole(tmp_path: Path):
    from wizard.pipeline.existing_reads import more_reads_script, parse_existing_output
    from wizard.pipeline.facts import HostFacts
    from wizard.remote.reads import cut

    odd = tmp_path / "a b c'$(id) `id`.yaml"
    odd.write_bytes(b"odd\n")
    (tmp_path / "plain.yaml").write_bytes(b"plain\n")
    listed = tmp_path / "listed"
    listed.mkdir()
    (listed / "x y.yml").write_bytes(b"")
    script = more_reads_script((str(odd), str(tmp_path / "plain.yaml")), (str(listed),), "/")
    output = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout
    facts = HostFacts(host="h", login_user="root", uid=0, home="/root")
    facts = parse_existing_output(facts, output.decode(), cut)
    assert facts.existing_setup_files == {
        str(odd): b"odd\n",
        str(tmp_path / "plain.yaml"): b"plain\n",
    }
    assert facts.existing_setup_listings == {str(listed): ("x y.yml",)}
